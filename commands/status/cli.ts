/**
 * npm run status -- [--stack <name>...] [--json] [--warn-days <n>]
 * Every customer's credentials at a glance, from the stacks' outputs and config alone (no AWS call, no secret
 * decrypted), most urgent first. Exit code: 0 nothing overdue or expired, 1 something is (or a stack cannot be
 * read, or the output's reader went away: runCommand, lib/cli.ts), 2 usage error, 3 internal error.
 */
import { errorLine, helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import { PulumiError, PulumiWorkspace } from "../../lib/pulumi";
import { fitLine, outputWidth, printable, wrapLine } from "../../lib/output";
import { statusExitCode, type StatusRow } from "./decide";
import { collectStatus } from "./run";
import { isRunnerTarget } from "../../lib/runner";

export const USAGE = [
  "Usage: npm run status -- [--stack <name>...] [--json] [--warn-days <n>]",
  "Shows every stack of this project (or the ones named): SP-API region, the role's account, key age and rotate-by",
  "date, key rotation phase, the LWA secret's expiry, last update, and the next thing due; then the count of stacks by",
  "state. The table fits COLUMNS (or the terminal; 120 in a pipe): the least needed columns are left out first, and",
  "NEXT is cut to the width; --json gives every field. Reads no secret and calls no AWS API.",
  "Exit code: 0 nothing overdue or expired, 1 something is or a stack cannot be read, 2 usage error.",
].join("\n");

export type StatusArgs = { kind: "run"; stacks: string[]; json: boolean; warnDays?: number } | { kind: "help" } | { kind: "error"; message: string };

export function parseStatusArgs(argv: string[]): StatusArgs {
  const parsed = parseCommandLine(argv, { stack: { type: "string", multiple: true }, json: { type: "boolean" }, "warn-days": { type: "string" } });
  if (parsed.kind !== "parsed") return parsed;
  const v = parsed.values;
  let warnDays: number | undefined;
  if (v["warn-days"] !== undefined) {
    if (!/^\d{1,4}$/.test(v["warn-days"]))
      return { kind: "error", message: `--warn-days takes a whole number of days; given ${JSON.stringify(v["warn-days"])}` };
    warnDays = Number(v["warn-days"]);
  }
  return { kind: "run", stacks: v.stack ?? [], json: v.json ?? false, warnDays };
}

const COLOUR = { expired: "\x1b[1;31m", overdue: "\x1b[31m", due: "\x1b[33m", ok: "", unreadable: "\x1b[35m" } as const;

/** The account id of a role ARN (arn:aws:iam::<account>:role/<name>): what tells one customer's role from another's. */
export function accountOf(roleArn: string | undefined): string {
  return /^arn:aws[\w-]*:iam::(\d{12}):/.exec(roleArn ?? "")?.[1] ?? roleArn ?? "";
}

const day = (iso: string | undefined) => iso?.slice(0, 16).replace("T", " ") ?? "";

/**
 * The table's columns, in order, with the order they are left out in when the width is short (higher first):
 * what a stack needs next and whose it is always stay; the rest is in --json.
 */
const COLUMNS: { head: string; dropOrder: number; cell: (row: StatusRow) => string }[] = [
  { head: "STACK", dropOrder: 0, cell: (row) => row.stack },
  {
    head: "REGION",
    dropOrder: 3,
    // With further authorizations: every region served, and how many authorizations (a token each).
    cell: (row) =>
      row.authorizations
        ? `${[...new Set([row.spApiRegion ?? "", ...Object.values(row.authorizations.further)])].join(",")} (${row.authorizations.count} authorizations)`
        : (row.spApiRegion ?? ""),
  },
  { head: "ACCOUNT", dropOrder: 0, cell: (row) => (row.connectorAuth === "lwa" ? "none (LWA only)" : accountOf(row.roleArn)) },
  { head: "KEY AGE", dropOrder: 5, cell: (row) => (row.key ? `${row.key.ageDays} d` : "") },
  { head: "ROTATE BY", dropOrder: 4, cell: (row) => row.key?.rotateBy ?? "" },
  { head: "KEY PHASE", dropOrder: 2, cell: (row) => (row.connectorAuth === "lwa" ? "no key (LWA only)" : (row.key?.phase.replace(/-/g, " ") ?? "")) },
  {
    head: "LWA SECRET EXPIRES",
    dropOrder: 6,
    cell: (row) => {
      if (row.problem) return "";
      // Named when few; counted when many, so that a fleet on one app keeps the column narrow (--json names them all).
      const others = row.lwa?.sharedWith ?? [];
      const shared = others.length === 0 ? "" : ` [app shared with ${others.length <= 2 ? others.join(", ") : `${others.length} other stacks`}]`;
      return (row.lwa?.expiresOn ? `${row.lwa.expiresOn} (${row.lwa.source === "amazon" ? "Amazon's" : "tracked"})` : "not tracked") + shared;
    },
  },
  { head: "LAST UPDATE", dropOrder: 1, cell: (row) => day(row.lastUpdate) },
  { head: "DELIVERY", dropOrder: 7, cell: (row) => (row.problem ? "" : deliveryCell(row.delivery ?? [])) },
  {
    head: "NEXT",
    dropOrder: 0,
    cell: (row) => (row.problem ? `cannot read: ${row.problem}` : row.next ? `${row.next.date} ${row.next.urgency.toUpperCase()}: ${row.next.what}` : ""),
  },
];

/** "runner:https://connector.example.com", "2 files", "by hand" (maintain delivers nothing): --json lists every target. */
export function deliveryCell(targets: readonly string[]): string {
  if (targets.length === 0) return "by hand";
  const runners = targets.filter(isRunnerTarget);
  const files = targets.length - runners.length;
  const parts = [...(runners.length === 1 ? runners : runners.length > 1 ? [`${runners.length} runner targets`] : [])];
  if (files > 0) parts.push(`${files} file${files === 1 ? "" : "s"}`);
  return parts.join(" + ");
}

/** NEXT keeps at least this much room (its date and urgency, and the start of what to do) before columns go. */
const NEXT_MIN_WIDTH = 40;

/** "50 stacks: 2 expired, 1 overdue, 5 due, 42 ok" (and how many cannot be read, when any). */
export function summaryLine(rows: readonly StatusRow[]): string {
  const count = (urgency: string) => rows.filter((r) => !r.problem && r.next?.urgency === urgency).length;
  const parts = (["expired", "overdue", "due", "ok"] as const).map((u) => `${count(u)} ${u}`);
  const unreadable = rows.filter((r) => r.problem).length;
  if (unreadable > 0) parts.push(`${unreadable} cannot be read`);
  return `${rows.length} stack${rows.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}

/**
 * The rows as a table no line of which is wider than `width`: columns are left out (the least needed first, and
 * said so under the table) until NEXT has room; NEXT is never cut: when it does not fit, it goes on its own line. Then the summary line. Colour
 * (expired, overdue, due, unreadable) only when `colour` is set.
 */
export function formatTable(rows: readonly StatusRow[], colour: boolean, width = 120): string {
  const body = rows.map((row) => COLUMNS.map((c) => printable(c.cell(row), 1000)));
  const widthOf = (i: number) => Math.max(COLUMNS[i]!.head.length, ...body.map((r) => r[i]!.length));
  let shown = COLUMNS.map((_, i) => i);
  const fixedWidth = () => shown.slice(0, -1).reduce((sum, i) => sum + widthOf(i) + 2, 0);
  const droppable = () => shown.filter((i) => COLUMNS[i]!.dropOrder > 0).sort((a, b) => COLUMNS[a]!.dropOrder - COLUMNS[b]!.dropOrder);
  while (fixedWidth() + NEXT_MIN_WIDTH > width && droppable().length > 0) shown = shown.filter((i) => i !== droppable()[0]);
  // NEXT, what a stack needs, is never cut: when the longest does not fit beside the other columns, each row's NEXT
  // goes on a line of its own under the row, wrapped.
  const next = COLUMNS.length - 1;
  const ownLine = fixedWidth() + widthOf(next) > width;
  if (ownLine) {
    // The row no longer holds NEXT: the columns left out for its room come back, as many as the width takes.
    shown = COLUMNS.map((_, i) => i);
    const rowWidth = () => shown.filter((i) => i !== next).reduce((sum, i) => sum + widthOf(i) + 2, 0) - 2;
    while (rowWidth() > width && droppable().length > 0) shown = shown.filter((i) => i !== droppable()[0]);
  }
  const inRow = ownLine ? shown.filter((i) => i !== next) : shown;
  const line = (cells: string[]) =>
    fitLine(
      inRow
        .map((i, n) => (n === inRow.length - 1 ? cells[i]! : cells[i]!.padEnd(widthOf(i))))
        .join("  ")
        .trimEnd(),
      width,
    );
  const lines = [line(COLUMNS.map((c) => c.head))];
  rows.forEach((row, i) => {
    const text = [line(body[i]!)];
    if (ownLine && body[i]![next]) text.push(...wrapLine(`  NEXT: ${body[i]![next]}`, width, 8));
    const tone = row.problem ? COLOUR.unreadable : row.next ? COLOUR[row.next.urgency] : "";
    lines.push(...text.map((t) => (colour && tone ? `${tone}${t}\x1b[0m` : t)));
  });
  const left = COLUMNS.filter((_, i) => !shown.includes(i)).map((c) => c.head);
  if (left.length > 0) lines.push(...wrapLine(`(left out for the width: ${left.join(", ")}; a wider COLUMNS or --json shows them)`, width, 1));
  lines.push(summaryLine(rows));
  return lines.join("\n") + "\n";
}

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const args = parseStatusArgs(argv);
  if (args.kind === "help") {
    stdout.write(helpText(USAGE));
    return 0;
  }
  if (args.kind === "error") {
    stderr.write(usageErrorText("status", USAGE, args.message));
    return 2;
  }
  let rows: StatusRow[];
  try {
    rows = await collectStatus(await PulumiWorkspace.connect({ env }), { stacks: args.stacks, warnDays: args.warnDays });
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    stderr.write(`${errorLine("status", error.message)}\n`);
    return 1;
  }
  if (args.json) stdout.write(JSON.stringify(rows, null, 2) + "\n");
  else if (rows.length === 0) stdout.write("No stacks in the current backend: npm run up creates one.\n");
  else stdout.write(formatTable(rows, Boolean(stdout.isTTY) && !env.NO_COLOR, outputWidth(stdout, env)));
  return statusExitCode(rows);
}

if (require.main === module) runCommand("status", () => main(process.argv.slice(2), process.env, process.stdout, process.stderr));
