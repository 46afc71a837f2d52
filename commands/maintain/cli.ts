/**
 * npm run maintain -- (--stack <name>... | --all) [--dry-run] [--concurrency <n>] [--out-dir <dir>]
 * For each stack: rotate-lwa --if-due, rotate-key --if-due, and the block into its jobConfigs. Meant for a daily
 * scheduler. Exit code: 0 nothing failed, 1 a stack failed (the others still ran) or the output's reader went away
 * (runCommand, lib/cli.ts), 2 usage error, 3 internal error.
 */
import { parseCommandLine, runCommand } from "../../lib/cli";
import { userPath } from "../../lib/files";
import { printable } from "../../lib/output";
import { PulumiError, PulumiWorkspace } from "../../lib/pulumi";
import { maintain, maintainExitCode, STEP_NAMES, type MaintainSteps, type Progress, type StackReport, type StepName, type StepOutcome } from "./run";

export const DEFAULT_CONCURRENCY = 4;

export const USAGE = [
  "usage: npm run maintain -- (--stack <name>... | --all) [--dry-run] [--concurrency <n>] [--out-dir <dir>]",
  "For each stack: rotate the LWA secret if due (stacks with lwaRotation), take the access key's next step if due,",
  "and deliver the stack's current block into the job configs its jobConfigs lists. New blocks go to",
  "<out-dir>/<stack>.hjson, mode 600 (default credentials/; created readable by its owner only, an existing directory keeps its mode). --dry-run decides, changes nothing.",
  `Stacks run in parallel, --concurrency at a time (default ${DEFAULT_CONCURRENCY}). Exit code: 0 nothing failed, 1 a stack failed, 2 usage error.`,
].join("\n");

export type MaintainArgs =
  { kind: "run"; stacks: string[] | "all"; dryRun: boolean; concurrency: number; outDir: string } | { kind: "help" } | { kind: "error"; message: string };

export function parseMaintainArgs(argv: string[]): MaintainArgs {
  const parsed = parseCommandLine(argv, {
    stack: { type: "string", multiple: true },
    all: { type: "boolean" },
    "dry-run": { type: "boolean" },
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
    concurrency: Number(concurrency),
    outDir: v["out-dir"] ?? "credentials",
  };
}

const MARK: Record<StepOutcome["status"] | "running", string> = { running: "…", done: "✓", nothing: "·", waiting: "⧗", skipped: "-", failed: "✗" };

/** Plain lines, one per event: for logs and pipes. */
export function plainProgress(write: (line: string) => void): Progress {
  return {
    started: (stack) => write(`${stack}: started`),
    step: (stack, step, outcome) => {
      if (outcome !== "running") write(`${stack}: ${step} ${MARK[outcome.status]} ${outcome.status}: ${outcome.detail}`);
    },
    log: (stack, step, line) => write(`${stack}: ${step}   ${printable(line, 200)}`),
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

/** The closing table: per stack, what was done, what is waiting and why, what failed and its cause. */
export function summaryTable(reports: readonly StackReport[]): string {
  // A failure is shown whole: its cause often comes last (rotate-key's reason, then "the step failed: <cause>").
  const column = (report: StackReport, statuses: StepOutcome["status"][], max = 160) =>
    STEP_NAMES.flatMap((name) => {
      const o = report.steps[name];
      return o && statuses.includes(o.status) ? [`${name}: ${printable(o.detail, max)}`] : [];
    }).join("; ");
  const rows = reports.map((r) => [
    r.stack,
    column(r, ["done"]) || "-",
    column(r, ["waiting", "skipped", "nothing"]) || "-",
    column(r, ["failed"], Infinity) || "-",
  ]);
  const head = ["STACK", "DONE", "WAITING (AND WHY)", "FAILED (CAUSE)"];
  const width = Math.max(head[0]!.length, ...rows.map((r) => r[0]!.length));
  const out = [`${head[0]!.padEnd(width)}  ${head.slice(1).join(" | ")}`];
  for (const r of rows) out.push(`${r[0]!.padEnd(width)}  ${r.slice(1).join(" | ")}`);
  const failed = reports.filter((r) => r.failed).length;
  out.push("", `${reports.length} stack${reports.length === 1 ? "" : "s"}: ${reports.length - failed} without failure, ${failed} failed.`);
  return out.join("\n") + "\n";
}

export interface MaintainIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  steps: MaintainSteps;
}

export async function main(argv: string[], io: MaintainIo): Promise<number> {
  const args = parseMaintainArgs(argv);
  if (args.kind === "help") {
    io.stdout.write(USAGE + "\n");
    return 0;
  }
  if (args.kind === "error") {
    io.stderr.write(`maintain: ${args.message}\n${USAGE}\n`);
    return 2;
  }
  let reports: StackReport[];
  try {
    const workspace = await PulumiWorkspace.connect({ env: io.env });
    const stacks = args.stacks === "all" ? (await workspace.list()).map((s) => s.name) : args.stacks;
    if (args.dryRun) io.stdout.write("Dry run: every decision is made and shown; nothing is changed.\n");
    const progress = io.stdout.isTTY ? liveProgress((t) => io.stdout.write(t), io.stdout.columns ?? 120) : plainProgress((l) => io.stdout.write(l + "\n"));
    reports = await maintain(workspace, io.steps, {
      stacks,
      dryRun: args.dryRun,
      concurrency: args.concurrency,
      outDir: userPath(args.outDir, io.env),
      env: io.env,
      progress,
    });
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    io.stderr.write(`maintain: ${error.message}\n`);
    return 1;
  }
  io.stdout.write("\n" + summaryTable(reports));
  return maintainExitCode(reports);
}

if (require.main === module) {
  runCommand("maintain", async () => {
    const { realSteps } = await import("./steps");
    return main(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, steps: realSteps });
  });
}
