/**
 * npm run maintain -- (--stack <name>... | --all) [--dry-run] [--json] [--concurrency <n>] [--out-dir <dir>]
 * For each stack: rotate-lwa --if-due, rotate-key --if-due, and the block into its jobConfigs. Meant for a daily
 * scheduler. Exit code: 0 nothing failed, 1 a stack failed (the others still ran) or the output's reader went away
 * (runCommand, lib/cli.ts), 2 usage error, 3 internal error.
 */
import { errorLine, helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import { userPath } from "../../lib/files";
import { LockDirError, prepareLockDir } from "../../lib/lock";
import { fitLine, namesThatFit, outputWidth, printable, wrapLine } from "../../lib/output";
import { PulumiError, PulumiWorkspace } from "../../lib/pulumi";
import { maintain, maintainExitCode, STEP_NAMES, type MaintainSteps, type Progress, type StackReport, type StepName, type StepOutcome } from "./run";

export const DEFAULT_CONCURRENCY = 4;

export const USAGE = [
  "Usage: npm run maintain -- (--stack <name>... | --all) [--dry-run] [--json] [--concurrency <n>] [--out-dir <dir>]",
  "For each stack: rotate the LWA secret if due (stacks with lwaRotation), take the access key's next step if due,",
  "and deliver the stack's current block into the job configs its jobConfigs lists. New blocks go to",
  "<out-dir>/<stack>.hjson, mode 600 (default credentials/; created readable by its owner only, an existing directory keeps its mode).",
  "--dry-run decides, changes nothing.",
  `Stacks run in parallel, --concurrency at a time (default ${DEFAULT_CONCURRENCY}). The summary groups a cause shared by`,
  "several stacks into one entry, and fits COLUMNS (or the terminal; 120 in a pipe). --json: one JSON document on",
  "standard output (every stack's outcomes, the causes, the counts), nothing else; the progress goes to standard error.",
  "Exit code: 0 nothing failed, 1 a stack failed, 2 usage error.",
].join("\n");

export type MaintainArgs =
  | { kind: "run"; stacks: string[] | "all"; dryRun: boolean; json: boolean; concurrency: number; outDir: string }
  | { kind: "help" }
  | { kind: "error"; message: string };

export function parseMaintainArgs(argv: string[]): MaintainArgs {
  const parsed = parseCommandLine(argv, {
    stack: { type: "string", multiple: true },
    all: { type: "boolean" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
    concurrency: { type: "string" },
    "out-dir": { type: "string" },
  });
  if (parsed.kind !== "parsed") return parsed;
  const v = parsed.values;
  if (v.all && v.stack) return { kind: "error", message: "give --stack <name>... or --all, not both" };
  if (!v.all && !v.stack) return { kind: "error", message: "name the stacks (--stack <name>, repeated) or pass --all" };
  const concurrency = v.concurrency ?? String(DEFAULT_CONCURRENCY);
  if (!/^\d{1,3}$/.test(concurrency) || Number(concurrency) < 1) {
    return { kind: "error", message: `--concurrency takes a whole number from 1; given ${JSON.stringify(concurrency)}` };
  }
  return {
    kind: "run",
    // A stack named twice would run twice at once: one run per stack, in the order first named.
    stacks: v.all ? "all" : [...new Set(v.stack!)],
    dryRun: v["dry-run"] ?? false,
    json: v.json ?? false,
    concurrency: Number(concurrency),
    outDir: v["out-dir"] ?? "credentials",
  };
}

const MARK: Record<StepOutcome["status"] | "running", string> = { running: "…", done: "✓", nothing: "·", waiting: "⧗", skipped: "-", failed: "✗" };

/** How the steps' commands print their failure: the one error form (lib/cli.ts errorLine), or rotate-lwa's cross. */
const STEP_FAILURE_LINE = /^(?:[a-z-]+: error: |✗ )/;

/** Plain lines, one per event: for logs and pipes. */
export function plainProgress(write: (line: string) => void): Progress {
  return {
    started: (stack) => write(`${stack}: started`),
    step: (stack, step, outcome) => {
      // The status alone: each outcome's detail is said once, in the closing summary, where a cause shared by many
      // stacks becomes one line (the steps' own lines above still tell the story as it happened).
      if (outcome !== "running") write(`${stack}: ${step} ${MARK[outcome.status]} ${outcome.status}`);
    },
    // A step's own failure line ("rotate-key: error: ...", rotate-lwa's "✗ ...") is its failure's cause, which
    // the step's outcome carries to the summary: said there, once.
    log: (stack, step, line) => {
      if (!STEP_FAILURE_LINE.test(line)) write(`${stack}: ${step}   ${printable(line, 200)}`);
    },
    finished: (report) => write(`${report.stack}: ${report.failed ? "FAILED" : "finished"}`),
  };
}

/** A task list redrawn in place: one line per stack, its three steps and the latest line of the running one. */
export function liveProgress(write: (text: string) => void, width: number): Progress {
  const order: string[] = [];
  const state = new Map<string, { steps: Partial<Record<StepName, StepOutcome["status"] | "running">>; note: string; done?: boolean; failed?: boolean }>();
  let drawn = 0;
  const redraw = () => {
    const lines = order.map((stack) => {
      const s = state.get(stack)!;
      const steps = STEP_NAMES.map((n) => `${n} ${s.steps[n] ? MARK[s.steps[n]!] : " "}`).join("  ");
      const head = `${s.done ? (s.failed ? "✗" : "✓") : "…"} ${stack.padEnd(24)} ${steps}  `;
      return (head + s.note).slice(0, Math.max(20, width - 1));
    });
    write((drawn > 0 ? `\x1b[${drawn}A` : "") + lines.map((l) => `\x1b[2K${l}\n`).join(""));
    drawn = lines.length;
  };
  return {
    started: (stack) => {
      order.push(stack);
      state.set(stack, { steps: {}, note: "" });
      redraw();
    },
    step: (stack, step, outcome) => {
      const s = state.get(stack)!;
      s.steps[step] = outcome === "running" ? "running" : outcome.status;
      s.note = outcome === "running" ? `${step}…` : outcome.detail;
      redraw();
    },
    log: (stack, _step, line) => {
      state.get(stack)!.note = printable(line, 200);
      redraw();
    },
    finished: (report) => {
      Object.assign(state.get(report.stack)!, { done: true, failed: report.failed });
      redraw();
    },
  };
}

/** A skipped step whose detail asks a person to act (an LWA secret rotated by hand, a block handed over by hand). */
const BY_HAND = /by hand|hand the block/;

/**
 * The summary's sections, in order: what failed; what needs a person (a wait only they can end, a by-hand rotation
 * with its date, a new block to hand to jobs the kit does not deliver to, with its path and deadline); what was
 * done, or in a dry run what would be; what was skipped for no one to act on.
 */
function sectionOf(group: CauseGroup, dryRun: boolean): string {
  if (group.status === "failed") return "Failed";
  if (group.status === "waiting" || (group.status === "skipped" && BY_HAND.test(group.detail))) return "Needs you";
  if (group.status === "done") return dryRun ? "Would do" : "Done";
  return "Skipped";
}
const SECTION_ORDER = ["Failed", "Needs you", "Would do", "Done", "Skipped"];

/** YYYY-MM-DD `days` after `today`'s day. */
function daysAfter(today: Date, days: number): string {
  return new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + days)).toISOString().slice(0, 10);
}

/**
 * A new block the run wrote that no job config of the stack received (it lists none, or delivery did not finish):
 * a person hands it over, by a date for the LWA secret (the old one stops 7 days after a rotation). One group per
 * wording, stacks' names replaced as groupCauses does.
 */
export function handovers(reports: readonly StackReport[], today: Date = new Date()): CauseGroup[] {
  const groups = new Map<string, CauseGroup>();
  for (const report of reports) {
    const delivered = report.steps.jobs?.status === "done" || report.steps.jobs?.status === "nothing";
    if (delivered) continue;
    for (const step of ["lwa", "key"] as const) {
      const outcome = report.steps[step];
      if (outcome?.status !== "done" || !outcome.wroteBlock) continue;
      const deadline =
        step === "lwa"
          ? `by ${daysAfter(today, 7)} (the old LWA secret stops 7 days after the rotation)`
          : "before the old key is deactivated (rotate-key does that once IAM shows it unused for keyQuietHours)";
      const name = new RegExp(`(?<![\\w.-])${report.stack.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`, "g");
      const detail = `hand the new block ${outcome.wroteBlock} to the stack's jobs ${deadline}`;
      const key = `${step}\0${detail.replace(name, "<stack>")}`;
      const group = groups.get(key) ?? { step, status: "waiting" as const, detail: detail.replace(name, "<stack>"), stacks: [] };
      group.stacks.push(report.stack);
      groups.set(key, group);
      if (group.stacks.length === 1) group.detail = detail;
      else group.detail = detail.replace(name, "<stack>");
    }
  }
  return [...groups.values()];
}

/** One cause and the stacks it holds for: a step's detail, the stack's own name taken out of it. */
export interface CauseGroup {
  step: StepName;
  status: StepOutcome["status"];
  detail: string;
  stacks: string[];
}

/**
 * The outcomes grouped by cause: the same step, status and detail (with each stack's name in it replaced by
 * "<stack>") is one group, however many stacks share it; most stacks first. A group of one keeps its own words. "nothing due" outcomes are left
 * out: the table says them, and their details (each stack's next date) are rarely shared.
 */
export function groupCauses(reports: readonly StackReport[]): CauseGroup[] {
  const groups = new Map<string, CauseGroup>();
  const ownWords = new Map<CauseGroup, string>();
  for (const report of reports) {
    for (const step of STEP_NAMES) {
      const outcome = report.steps[step];
      if (!outcome || outcome.status === "nothing") continue;
      // The stack's name as a word of its own, not inside another (a stack "eu" in "queue").
      const name = new RegExp(`(?<![\\w.-])${report.stack.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`, "g");
      // A new block is named where the step is said: the file a person hands over (Needs you says by when).
      const said =
        outcome.status === "done" && outcome.wroteBlock && !outcome.detail.includes(outcome.wroteBlock)
          ? `${outcome.detail} (new block: ${outcome.wroteBlock})`
          : outcome.detail;
      const detail = printable(said, 2000).replace(name, "<stack>");
      const key = `${step}\0${outcome.status}\0${detail}`;
      const group = groups.get(key) ?? { step, status: outcome.status, detail, stacks: [] };
      group.stacks.push(report.stack);
      groups.set(key, group);
      if (group.stacks.length === 1) ownWords.set(group, printable(said, 2000));
    }
  }
  // A cause only one stack has is said in its own words, its name in place.
  return [...groups.values()].map((g) => (g.stacks.length === 1 ? { ...g, detail: ownWords.get(g)! } : g)).sort((a, b) => b.stacks.length - a.stacks.length);
}

/**
 * The closing summary, no line wider than `width`: a row per stack (each step's status), then each cause once,
 * grouped (a cause shared by 50 stacks is one entry: "50 stacks: acme, globex, … and 47 more"), failures first,
 * then the counts. A cause is wrapped, never cut; only the list of names is shortened.
 */
export function summaryTable(reports: readonly StackReport[], width = 120, dryRun = false): string {
  const out: string[] = [];
  const cell = (o: StepOutcome | undefined) => (o ? `${MARK[o.status]} ${o.status}` : "");
  const stepWidth = Math.max(...(Object.keys(MARK) as StepOutcome["status"][]).map((status) => `${MARK[status]} ${status}`.length));
  const nameWidth = Math.min(Math.max(5, ...reports.map((r) => r.stack.length)), Math.max(5, width - STEP_NAMES.length * (stepWidth + 2) - 2));
  const row = (cells: string[]) =>
    fitLine(
      cells
        .map((c, i) => (i === 0 ? fitLine(c, nameWidth).padEnd(nameWidth) : c.padEnd(stepWidth)))
        .join("  ")
        .trimEnd(),
      width,
    );
  out.push(row(["STACK", ...STEP_NAMES.map((n) => n.toUpperCase())]));
  for (const r of reports) out.push(row([r.stack, ...STEP_NAMES.map((n) => cell(r.steps[n]))]));
  const groups = groupCauses(reports).map((g) => ({ ...g, section: sectionOf(g, dryRun) }));
  if (!dryRun) groups.push(...handovers(reports).map((g) => ({ ...g, section: "Needs you" })));
  for (const section of SECTION_ORDER) {
    const inSection = groups.filter((g) => g.section === section);
    if (inSection.length === 0) continue;
    out.push("", `${section}:`);
    for (const g of inSection) {
      out.push(...wrapLine(`  ${MARK[g.status]} ${g.step}: ${g.detail}`, width, 6));
      const count = g.stacks.length === 1 ? "" : `${g.stacks.length} stacks: `;
      out.push(namesThatFit(`      ${count}`, g.stacks, width));
    }
  }
  const failed = reports.filter((r) => r.failed).length;
  out.push("", `${reports.length} stack${reports.length === 1 ? "" : "s"}: ${reports.length - failed} without failure, ${failed} failed.`);
  return out.join("\n") + "\n";
}

/** The --json document: every stack's outcomes in full, the causes grouped, the counts. */
export function summaryDocument(reports: readonly StackReport[], dryRun: boolean): object {
  const failed = reports.filter((r) => r.failed).length;
  return {
    dryRun,
    exitCode: maintainExitCode(reports),
    counts: { stacks: reports.length, withoutFailure: reports.length - failed, failed },
    stacks: reports,
    causes: groupCauses(reports),
  };
}

export interface MaintainIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  steps: MaintainSteps;
}

export async function main(argv: string[], io: MaintainIo): Promise<number> {
  const args = parseMaintainArgs(argv);
  if (args.kind === "help") {
    io.stdout.write(helpText(USAGE));
    return 0;
  }
  if (args.kind === "error") {
    io.stderr.write(usageErrorText("maintain", USAGE, args.message));
    return 2;
  }
  let reports: StackReport[];
  try {
    // Once, before any stack: a lock directory that cannot be made would fail every stack's steps alike.
    prepareLockDir(io.env);
    const workspace = await PulumiWorkspace.connect({ env: io.env });
    const stacks = args.stacks === "all" ? (await workspace.list()).map((s) => s.name) : args.stacks;
    // With --json, standard output holds the document alone: what a person reads goes to standard error.
    const human = args.json ? io.stderr : io.stdout;
    if (args.dryRun) human.write("Dry run: every decision is made and shown; nothing is changed.\n");
    const progress = human.isTTY ? liveProgress((t) => human.write(t), outputWidth(human, io.env)) : plainProgress((l) => human.write(l + "\n"));
    reports = await maintain(workspace, io.steps, {
      stacks,
      dryRun: args.dryRun,
      concurrency: args.concurrency,
      outDir: userPath(args.outDir, io.env),
      env: io.env,
      progress,
    });
  } catch (error) {
    if (!(error instanceof PulumiError || error instanceof LockDirError)) throw error;
    io.stderr.write(`${errorLine("maintain", error.message)}\n`);
    if (args.json) io.stdout.write(JSON.stringify({ dryRun: args.dryRun, exitCode: 1, error: error.message }, null, 2) + "\n");
    return 1;
  }
  if (args.json) io.stdout.write(JSON.stringify(summaryDocument(reports, args.dryRun), null, 2) + "\n");
  else io.stdout.write("\n" + summaryTable(reports, outputWidth(io.stdout, io.env), args.dryRun));
  return maintainExitCode(reports);
}

if (require.main === module) {
  runCommand("maintain", async () => {
    const { realSteps } = await import("./steps");
    return main(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, steps: realSteps });
  });
}
