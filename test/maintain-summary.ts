/**
 * For the maintain tests: the closing summary read back (commands/maintain/cli.ts summaryTable): each stack's row
 * of step statuses, and the causes, each with the stacks it names. A test asks what one stack was told.
 */
const STATUS_OF_MARK: Record<string, string> = { "✓": "done", "⧗": "waiting", "-": "skipped", "✗": "failed" };

export interface SummaryEntry {
  status: string;
  step: string;
  detail: string;
  /** The stacks named (a long list ends "… and N more": those are not here). */
  stacks: string[];
  /** How many stacks the entry says it holds for. */
  count: number;
}

export interface Summary {
  rows: Map<string, Record<string, string>>;
  entries: SummaryEntry[];
  lines: string[];
}

export function readSummary(stdout: string): Summary {
  const lines = stdout
    .slice(stdout.lastIndexOf("\nSTACK ") + 1)
    .trimEnd()
    .split("\n");
  const [head, ...rest] = lines;
  const steps = head!
    .split(/\s{2,}/)
    .slice(1)
    .map((s) => s.toLowerCase());
  const rows = new Map<string, Record<string, string>>();
  let i = 0;
  for (; i < rest.length && rest[i] !== ""; i++) {
    const [name, ...cells] = rest[i]!.split(/\s{2,}/);
    rows.set(name!, Object.fromEntries(steps.map((s, j) => [s, cells[j] ?? ""])));
  }
  const entries: SummaryEntry[] = [];
  for (; i < rest.length; i++) {
    const start = /^ {2}(\S) (\w+): (.*)$/.exec(rest[i]!);
    if (!start) continue;
    const more: string[] = [];
    while (i + 1 < rest.length && rest[i + 1]!.startsWith("      ")) more.push(rest[++i]!.trim());
    const names = more.pop()!;
    const counted = /^(\d+) stacks: (.*)$/.exec(names);
    const list = (counted ? counted[2]! : names).replace(/, … and \d+ more$/, "");
    entries.push({
      status: STATUS_OF_MARK[start[1]!]!,
      step: start[2]!,
      detail: [start[3]!, ...more].join(" "),
      stacks: list.split(", "),
      count: counted ? Number(counted[1]) : 1,
    });
  }
  return { rows, entries, lines };
}

/** What the summary says of one stack: its causes by status ("step: detail; ..." or "-"), and its row. */
export function outcomesOf(stdout: string, stack: string): { done: string; waiting: string; failed: string; row: Record<string, string> } {
  const summary = readSummary(stdout);
  const of = (statuses: string[]) =>
    summary.entries
      .filter((e) => statuses.includes(e.status) && e.stacks.includes(stack))
      .map((e) => `${e.step}: ${e.detail.split("<stack>").join(stack)}`)
      .join("; ") || "-";
  return { done: of(["done"]), waiting: of(["waiting", "skipped"]), failed: of(["failed"]), row: summary.rows.get(stack) ?? {} };
}
