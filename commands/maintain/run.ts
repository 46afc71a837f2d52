/**
 * The fleet's daily round: for each stack, the LWA secret rotation if due, then the access key step if due, then
 * the current block into the stack's job configs. Stacks run side by side up to a limit; each stack's own steps
 * stay in order; one stack's failure never stops another.
 */
import * as path from "path";
import { CommandFailure } from "../../lib/cli";
import { blockFileName, preparePrivateDir } from "../../lib/files";
import { mapWithConcurrency, PulumiError, type PulumiStack, type PulumiWorkspace } from "../../lib/pulumi";

export type StepStatus = "done" | "nothing" | "waiting" | "skipped" | "failed";

export interface StepOutcome {
  status: StepStatus;
  /** One line: what was done, what is awaited and why, or the cause of the failure. Never a secret. */
  detail: string;
  /** The file a new credentials block was written to. */
  wroteBlock?: string;
}

export interface StepContext {
  stack: PulumiStack;
  dryRun: boolean;
  /** This stack's own credentials file (credentials/<stack>.hjson). */
  out: string;
  env: NodeJS.ProcessEnv;
  print: (line: string) => void;
  /** The workspace the stacks come from (the rotation finds the other stacks of its LWA app there). */
  workspace?: PulumiWorkspace;
  /** Another stack of the same LWA app that has lwaRotation: the one that rotates this stack's secret. */
  lwaOwner?: string;
}

/** The three steps, as the single-stack commands perform them (commands/maintain/steps.ts binds the real ones). */
export interface MaintainSteps {
  rotateLwa(ctx: StepContext): Promise<StepOutcome>;
  rotateKey(ctx: StepContext): Promise<StepOutcome>;
  /** Delivers the stack's current block into its `jobConfigs`; "skipped" when it lists none. */
  deliver(ctx: StepContext): Promise<StepOutcome>;
}

export const STEP_NAMES = ["lwa", "key", "jobs"] as const;
export type StepName = (typeof STEP_NAMES)[number];

export interface StackReport {
  stack: string;
  steps: Partial<Record<StepName, StepOutcome>>;
  /** The stack could not be opened, or a step threw. */
  failed: boolean;
}

export interface Progress {
  started(stack: string): void;
  step(stack: string, step: StepName, outcome: StepOutcome | "running"): void;
  /** A line a step prints while it runs (already free of secrets: the commands scrub what they print). */
  log(stack: string, step: StepName, line: string): void;
  finished(report: StackReport): void;
}

export interface MaintainOptions {
  stacks: string[];
  dryRun: boolean;
  concurrency: number;
  /** Where each stack's block goes: <outDir>/<stack>.hjson; created readable by its owner only. */
  outDir: string;
  env: NodeJS.ProcessEnv;
  progress: Progress;
}

export { blockFileName, preparePrivateDir };

async function oneStack(workspace: PulumiWorkspace, name: string, steps: MaintainSteps, opts: MaintainOptions, lwaOwner?: string): Promise<StackReport> {
  const report: StackReport = { stack: name, steps: {}, failed: false };
  opts.progress.started(name);
  let stack: PulumiStack;
  try {
    stack = await workspace.open(name);
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    report.failed = true;
    report.steps.lwa = { status: "failed", detail: error.message };
    opts.progress.finished(report);
    return report;
  }
  const ctx: StepContext = {
    stack,
    dryRun: opts.dryRun,
    out: path.join(opts.outDir, blockFileName(name)),
    env: opts.env,
    print: (line) => opts.progress.log(name, currentStep, line),
    workspace,
    ...(lwaOwner ? { lwaOwner } : {}),
  };
  let currentStep: StepName = "lwa";
  const perform: Record<StepName, (c: StepContext) => Promise<StepOutcome>> = {
    lwa: (c) => steps.rotateLwa(c),
    key: (c) => steps.rotateKey(c),
    jobs: (c) => steps.deliver(c),
  };
  for (const step of STEP_NAMES) {
    currentStep = step;
    opts.progress.step(name, step, "running");
    let outcome: StepOutcome;
    try {
      outcome = await perform[step](ctx);
    } catch (error) {
      // A step maps its own failures; anything else is reported by its type only (its text may hold a value).
      const reason =
        error instanceof PulumiError || error instanceof CommandFailure
          ? error.message
          : `internal error (${error instanceof Error ? error.name : typeof error})`;
      outcome = { status: "failed", detail: reason };
    }
    report.steps[step] = outcome;
    opts.progress.step(name, step, outcome);
    // The steps are independent, and delivery hands out what the stack has deployed, which is whole whatever
    // failed before it: a failure is reported and the stack's other steps still run.
    if (outcome.status === "failed") report.failed = true;
  }
  opts.progress.finished(report);
  return report;
}

/**
 * The stacks in lanes: the stacks of one LWA app (the same lwaClientId) share a lane, the one with lwaRotation
 * first, so the app is rotated once, and its other stacks take their steps (delivery included) after the rotation
 * has stored the new secret in them. Every other stack has a lane of its own. Pure.
 */
export function lanes(stacks: readonly { name: string; lwaClientId?: string; lwaRotation: boolean }[]): string[][] {
  const byApp = new Map<string, { name: string; lwaRotation: boolean }[]>();
  const out: { name: string; lwaRotation: boolean }[][] = [];
  for (const s of stacks) {
    if (!s.lwaClientId) {
      out.push([s]);
      continue;
    }
    let lane = byApp.get(s.lwaClientId);
    if (!lane) {
      lane = [];
      byApp.set(s.lwaClientId, lane);
      out.push(lane);
    }
    lane.push(s);
  }
  return out.map((lane) => [...lane.filter((s) => s.lwaRotation), ...lane.filter((s) => !s.lwaRotation)].map((s) => s.name));
}

async function appOf(workspace: PulumiWorkspace, name: string): Promise<{ name: string; lwaClientId?: string; lwaRotation: boolean }> {
  try {
    // Person-set keys only: the working copy is enough, without reading the deployed state.
    const view = await (await workspace.open(name)).readConfig({ secrets: false, workingCopyOnly: true });
    return { name, lwaClientId: view.values.lwaClientId, lwaRotation: view.values.lwaRotation === "true" };
  } catch (error) {
    // A stack that cannot be read gets a lane of its own; oneStack reports why.
    if (error instanceof PulumiError) return { name, lwaRotation: false };
    throw error;
  }
}

export async function maintain(workspace: PulumiWorkspace, steps: MaintainSteps, opts: MaintainOptions): Promise<StackReport[]> {
  // A dry run writes nothing, not even the directory.
  if (!opts.dryRun) preparePrivateDir(opts.outDir);
  const apps = await mapWithConcurrency(opts.stacks, opts.concurrency, (name) => appOf(workspace, name));
  const owner = new Map(apps.filter((a) => a.lwaRotation && a.lwaClientId).map((a) => [a.lwaClientId!, a.name]));
  const reports = new Map<string, StackReport>();
  await mapWithConcurrency(lanes(apps), opts.concurrency, async (lane) => {
    for (const name of lane) {
      const app = apps.find((a) => a.name === name)!;
      const by = app.lwaClientId && !app.lwaRotation ? owner.get(app.lwaClientId) : undefined;
      reports.set(name, await oneStack(workspace, name, steps, opts, by));
    }
  });
  return opts.stacks.map((name) => reports.get(name)!);
}

export function maintainExitCode(reports: readonly StackReport[]): 0 | 1 {
  return reports.some((r) => r.failed) ? 1 : 0;
}
