/**
 * The fleet round's three steps, bound to the single-stack commands: the same code `npm run rotate-lwa -- --if-due`,
 * `npm run rotate-key -- --if-due` and `npm run credentials -- --into` run, with each command's result read into
 * one of: done, nothing (due), waiting (and why), skipped, failed.
 */
import * as path from "node:path";
import { blockFromOutputs, BlockError } from "../credentials/block";
import { deliverBlock, type DeliveryReport } from "../credentials/run";
import { dayFromToday } from "../../lib/output";
import { PulumiError } from "../../lib/pulumi-cli";
import { projectDir } from "../../lib/pulumi";
import { parseJobConfigs } from "../../src/config";
import { isRunnerTarget, runnerApiKeyOf } from "../../lib/runner";
import { rotateKey } from "../rotate-key/run";
import { currentExpiry } from "../../src/lifecycle";
import { DEFAULT_WAIT_SECONDS, rotateLwa } from "../rotate-lwa/run";
import type { MaintainSteps, StepContext, StepOutcome } from "./run";

/**
 * What a stack without lwaRotation is told about its LWA secret, a date past worded as past: "before it expires
 * in 40 days, on ...", "now: it expired 5 days ago, on ...". Pure: `today` is YYYY-MM-DD.
 */
export function lwaByHandDetail(expiresAt: string | undefined, today: string): string {
  const by = !expiresAt
    ? "every 180 days (set lwaClientSecretIssuedOn to track when)"
    : expiresAt.slice(0, 10) < today
      ? `now: it expired ${dayFromToday(expiresAt, today)}`
      : `before it expires ${dayFromToday(expiresAt, today)}`;
  return `lwaRotation is off: rotate the LWA secret by hand ${by} (docs/lwa-rotation.md)`;
}

/**
 * Why a dry run of this stack's delivery shows some job would not get a new block by itself, if it would not: a
 * job naming a stored credential (updated by hand in the product), a file that cannot be processed, an object that
 * cannot be brought up to date. Pure.
 */
export function deliveryGap(report: Pick<DeliveryReport, "named" | "failed" | "stale">): string | undefined {
  const gaps = [
    report.named > 0 ? `${report.named} job(s) in jobConfigs name a stored credential (updated by hand in the product)` : "",
    report.failed.length > 0 ? `jobConfigs file(s) or runner job(s) ${report.failed.join(", ")} cannot be processed` : "",
    report.stale > 0 ? `${report.stale} job credential(s) in jobConfigs cannot be brought up to date` : "",
  ].filter(Boolean);
  return gaps.length > 0 ? gaps.join("; ") : undefined;
}

/** deliveryGap of this stack's job configs, read without writing anything (undefined when it lists none). */
async function manualDeliveryOf(ctx: StepContext, jobConfigsValue: string | undefined): Promise<string | undefined> {
  const jobConfigs = parseJobConfigs(jobConfigsValue);
  if (!jobConfigs.ok) return `jobConfigs cannot be read (${jobConfigs.problem})`;
  if (jobConfigs.targets.length === 0) return undefined; // rotate-lwa itself holds back a stack without jobConfigs
  try {
    const block = blockFromOutputs(ctx.stack.name, await ctx.stack.readOutputs());
    const runner = await runnerOptions(ctx, jobConfigs.targets);
    if (!runner.ok) return runner.problem;
    // runner: targets are read too (no PATCH in a dry run): a stack whose jobs are all reachable counts as automated.
    const report = await deliverBlock(block, jobConfigs.targets, {
      dryRun: true,
      print: () => undefined,
      baseDir: projectDir({}, ctx.env),
      runner: runner.options,
    });
    return deliveryGap(report);
  } catch (error) {
    // Not knowing is treated as not automated (the later date); rotate-lwa then reports its own view of the stack.
    // Only our own errors' messages are shown: they are written without secrets (PulumiError's are scrubbed).
    const why = error instanceof BlockError || error instanceof PulumiError ? error.message : `an internal error (${(error as Error)?.name ?? "unknown"})`;
    return `the job configs could not be checked: ${why}`;
  }
}

/** The API key and environment for a stack's runner: targets (none needed when it lists none). */
async function runnerOptions(
  ctx: StepContext,
  targets: readonly string[],
): Promise<{ ok: true; options: { apiKey?: string; env: NodeJS.ProcessEnv } } | { ok: false; problem: string }> {
  const env = ctx.env;
  if (!targets.some(isRunnerTarget)) return { ok: true, options: { env } };
  const key = await runnerApiKeyOf(ctx.stack, env);
  if (!key.ok) return { ok: false, problem: key.problem };
  return { ok: true, options: { ...(key.apiKey !== undefined ? { apiKey: key.apiKey } : {}), env } };
}

async function rotateLwaIfDue(ctx: StepContext): Promise<StepOutcome> {
  const config = await ctx.stack.readConfig({ secrets: false });
  if (config.values.lwaRotation !== "true" && ctx.lwaOwner) {
    return {
      status: "skipped",
      detail: `rotated with stack ${ctx.lwaOwner}, which has lwaRotation for the same LWA app (its rotation stores the new secret here)`,
    };
  }
  if (config.values.lwaRotation !== "true") {
    const { expiresAt } = currentExpiry({ fromConfig: config.values.lwaClientSecretExpiresAt, issuedOn: config.values.lwaClientSecretIssuedOn });
    return { status: "skipped", detail: lwaByHandDetail(expiresAt, new Date().toISOString().slice(0, 10)) };
  }
  const manualDelivery = await manualDeliveryOf(ctx, config.values.jobConfigs);
  const result = await rotateLwa(ctx.stack, {
    ifDue: true,
    ...(manualDelivery ? { manualDelivery } : {}),
    waitSeconds: DEFAULT_WAIT_SECONDS,
    out: ctx.out,
    // The other stacks of a shared app: each its own file in the same private directory, as their own rounds write it.
    memberDir: path.dirname(ctx.out),
    dryRun: ctx.dryRun,
    env: ctx.env,
    print: ctx.print,
    ...(ctx.workspace ? { workspace: ctx.workspace } : {}),
  });
  const status = ({ rotated: "done", "not-due": "nothing", waiting: "waiting", failed: "failed", skipped: "skipped" } as const)[result.outcome];
  return { status: result.exitCode === 1 && status !== "waiting" ? "failed" : status, detail: result.detail, wroteBlock: result.wroteBlock };
}

async function rotateKeyIfDue(ctx: StepContext): Promise<StepOutcome> {
  const report = await rotateKey(ctx.stack, { ifDue: true, dryRun: ctx.dryRun, out: ctx.out, env: ctx.env, print: ctx.print });
  const next = report.nextDate ? ` (next: ${report.nextDate})` : "";
  if (report.exitCode !== 0) return { status: "failed", detail: report.reason };
  if (report.phase === "no-key") return { status: "skipped", detail: report.reason };
  if (report.took) return { status: "done", detail: `${report.step}: ${report.reason}`, wroteBlock: report.wroteBlock };
  if (report.step !== "none") return { status: "done", detail: `dry run: would ${report.step}: ${report.reason}` };
  return { status: report.phase === "steady" ? "nothing" : "waiting", detail: `${report.reason}${next}` };
}

async function deliverCurrentBlock(ctx: StepContext): Promise<StepOutcome> {
  const config = await ctx.stack.readConfig({ secrets: false });
  const jobConfigs = parseJobConfigs(config.values.jobConfigs);
  if (!jobConfigs.ok) return { status: "failed", detail: jobConfigs.problem };
  const targets = jobConfigs.targets;
  if (targets.length === 0) return { status: "skipped", detail: "no jobConfigs listed: hand the block to the jobs (npm run credentials -- --into <file|dir>)" };
  let block;
  try {
    block = blockFromOutputs(ctx.stack.name, await ctx.stack.readOutputs());
  } catch (error) {
    if (error instanceof BlockError) return { status: "failed", detail: error.message };
    throw error;
  }
  const runner = await runnerOptions(ctx, targets);
  if (!runner.ok) return { status: "failed", detail: runner.problem };
  // jobConfigs are relative to the project directory (SP_API_IAM_PROJECT_DIR, else this repository), wherever the
  // scheduler runs from.
  const report = await deliverBlock(block, targets, { dryRun: ctx.dryRun, print: ctx.print, baseDir: projectDir({}, ctx.env), runner: runner.options });
  if (report.exitCode !== 0) return { status: "failed", detail: `could not process ${report.failed.join(", ")}` };
  if (report.stale > 0) return { status: "waiting", detail: `${report.stale} object(s) of this stack could not be brought up to date (see the log)` };
  if (report.named > 0) {
    return {
      status: "waiting",
      detail: `${report.named} job(s) use a named credential: update it in the product (npm run credentials -- --format json gives its content)`,
    };
  }
  if (report.updated > 0)
    return {
      status: "done",
      detail: `${ctx.dryRun ? "would update" : "updated"} ${report.updated} job credential(s) in ${whereDelivered(report)}`,
    };
  return { status: "nothing", detail: `${report.current} job credential(s) already current` };
}

/** "2 file(s)", "5 runner job(s) read", or both. */
function whereDelivered(report: DeliveryReport): string {
  const runner = report.jobsRead > 0 ? `${report.jobsRead} runner job(s) read` : "";
  return report.filesScanned > 0 || !runner ? `${report.filesScanned} file(s)${runner ? ` and ${runner}` : ""}` : runner;
}

export const realSteps: MaintainSteps = { rotateLwa: rotateLwaIfDue, rotateKey: rotateKeyIfDue, deliver: deliverCurrentBlock };
