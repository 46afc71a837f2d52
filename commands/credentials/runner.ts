/**
 * Delivery to `runner:<base URL>` targets: the jobs the connector product keeps in its own database, read and
 * changed through its REST API (lib/runner.ts). For each job: read it, parse its `conf` (HJSON), find every SP-API
 * input (`use: amazon_selling_partner_api…`) and decide about its `credentials` with the delivery rule (one pure
 * function per credentials object: `credentialsRule` below); PATCH the jobs that change, then read each back and
 * compare the parsed conf with what was meant: a 2xx the server did not keep is a failure naming the job. Before a
 * job's first PATCH its conf as read is saved (mode 600) in a private directory (0700) the report names.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as Hjson from "hjson";
import { Redactor } from "../../lib/output";
import { mapWithConcurrency } from "../../lib/net";
import {
  JobRecord,
  JobSummary,
  parseRunnerTarget,
  RUNNER_API_KEY_CONFIG,
  RUNNER_API_KEY_ENV,
  RUNNER_CONCURRENCY,
  maskedUrl,
  proxyProblem,
  RUNNER_PREFIX,
  RunnerClient,
  RunnerFailure,
  runnerSettings,
} from "../../lib/runner";
import { blockFields, DeliveryBlock } from "./block";
import type { DeliveryReport } from "./run";
import { fieldChanges, FieldPlan, maskedValue, SECRET_FIELDS, StackIdentity } from "./decide";

// ---- The delivery rule

/**
 * The field rule (decide.ts fieldChanges), applied to one parsed credentials object: which fields the stack's
 * rotations own in it (`shares` empty: another customer's), what `--into` writes (`changes`, `kept`) and what
 * `--check` says (`stale`). Pure: the same rule file delivery uses.
 */
export function credentialsRule(credentials: Record<string, unknown>, block: DeliveryBlock, identity: StackIdentity): FieldPlan {
  return fieldChanges(credentials, identity, block.values, block.fields ?? blockFields(block.values));
}

// ---- Delivery over one runner target

export type RunnerMode = { kind: "into"; dryRun: boolean } | { kind: "check" };

/** What one runner target adds to the delivery report: its counts, under run.ts's names. */
export type RunnerCounts = Pick<DeliveryReport, "jobsRead" | "updated" | "current" | "stale" | "otherCustomers" | "named" | "failed" | "backupDir">;

export interface RunnerDeliveryOptions {
  block: DeliveryBlock;
  identity: StackIdentity;
  mode: RunnerMode;
  print: (line: string) => void;
  redactor: Redactor;
  /** The key (runnerApiKey or RUNNER_API_KEY), when there is one. */
  apiKey?: string;
  env: NodeJS.ProcessEnv;
  /** Shared by every target of one run: the confs of one run go into one directory. */
  backups: BackupDirectory;
}

const SP_API_USE = /^amazon_selling_partner_api/;

/** Where, in a conf, each SP-API input's `credentials` sits. */
interface Found {
  at: string;
  holder: Record<string, unknown>;
}

function findSpApiInputs(conf: unknown): Found[] {
  const found: Found[] = [];
  const walk = (node: unknown, at: string, depth: number) => {
    if (depth > 64 || typeof node !== "object" || node === null) return;
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${at}[${i}]`, depth + 1));
    const object = node as Record<string, unknown>;
    if (typeof object.use === "string" && SP_API_USE.test(object.use) && "credentials" in object)
      found.push({ at: at ? `${at}.credentials` : "credentials", holder: object });
    for (const [key, value] of Object.entries(object)) walk(value, at ? `${at}.${key}` : key, depth + 1);
  };
  walk(conf, "", 0);
  return found;
}

/** The differing paths of two parsed confs (paths only: values may be secrets). */
export function differingPaths(a: unknown, b: unknown, at = ""): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const objects = typeof a === "object" && a !== null && typeof b === "object" && b !== null && Array.isArray(a) === Array.isArray(b);
  if (!objects) return [at || "(the whole conf)"];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => differingPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k));
}

/** The private directory the confs as read are saved in before their first PATCH: made on first use. */
export class BackupDirectory {
  private dir?: string;
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  get path(): string | undefined {
    return this.dir;
  }

  save(target: string, job: JobSummary, conf: string): string {
    if (!this.dir) {
      const root = this.env.SP_API_RUNNER_BACKUP_DIR?.trim() || path.join(os.homedir(), ".sp-api-iam", "runner-backups");
      fs.mkdirSync(root, { recursive: true, mode: 0o700 });
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const dir = path.join(root, `${stamp}-${process.pid}`);
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chmodSync(dir, 0o700);
      this.dir = dir;
    }
    const host = target
      .replace(/^runner:/, "")
      .replace(/[^\w.-]+/g, "_")
      .slice(0, 80);
    const file = path.join(this.dir, `${host}-job-${String(job.id).replace(/[^\w.-]+/g, "_")}.hjson`);
    fs.writeFileSync(file, conf, { mode: 0o600, flag: "wx" });
    return file;
  }
}

/** The verb of a changed object's line in a real run until the job is read back. */
const VERB = "\u0000pending\u0000";

type JobOutcome = { lines: string[]; failed?: string; refused?: string; counts: Omit<RunnerCounts, "jobsRead" | "failed" | "backupDir"> };

/** Delivers (or checks) one `runner:<url>` target. Never throws for the product's doing: failures are counted. */
export async function deliverToRunner(text: string, opts: RunnerDeliveryOptions): Promise<RunnerCounts> {
  const counts: RunnerCounts = { jobsRead: 0, updated: 0, current: 0, stale: 0, otherCustomers: 0, named: 0, failed: [] };
  const parsed = parseRunnerTarget(text);
  if (!parsed.ok) {
    // Named without a query, user name or password: those may hold a key.
    counts.failed.push(`${RUNNER_PREFIX}${maskedUrl(text.slice(RUNNER_PREFIX.length).trim()).split("?")[0]}`);
    opts.print(`${parsed.problem}; left as it is`);
    return counts;
  }
  const target = parsed.target;
  const proxied = proxyProblem(target);
  if (proxied) {
    counts.failed.push(target.display);
    opts.print(`${proxied}; left as it is`);
    return counts;
  }
  if (opts.apiKey === undefined && !target.inContainer) {
    counts.failed.push(target.display);
    opts.print(`${target.display}: no API key: set it with pulumi config set --secret ${RUNNER_API_KEY_CONFIG}, or in ${RUNNER_API_KEY_ENV}; left as it is`);
    return counts;
  }
  opts.redactor.addSecret(opts.apiKey);
  const client = new RunnerClient(target, opts.apiKey, runnerSettings(opts.env), (line) => opts.print(line));
  let jobs: JobSummary[];
  try {
    jobs = await client.listJobs();
  } catch (error) {
    if (!(error instanceof RunnerFailure)) throw error;
    counts.failed.push(target.display);
    opts.print(error.kind === "refused" ? error.message : `${error.message}; left as it is`);
    return counts;
  }
  let refused: string | undefined;
  const outcomes = await mapWithConcurrency(jobs, RUNNER_CONCURRENCY, async (job): Promise<JobOutcome> => {
    if (refused) return { lines: [], counts: zero() };
    const outcome = await processJob(client, target.display, job, opts, () => refused !== undefined);
    if (outcome.refused) refused ??= outcome.refused;
    return outcome;
  });
  counts.jobsRead = jobs.length;
  if (refused) {
    // One line: the key was refused part way (revoked during the run); the jobs already done stay done.
    counts.failed.push(target.display);
    opts.print(refused);
  }
  for (const outcome of outcomes) {
    for (const line of outcome.lines) opts.print(line);
    if (outcome.failed) counts.failed.push(outcome.failed);
    counts.updated += outcome.counts.updated;
    counts.current += outcome.counts.current;
    counts.stale += outcome.counts.stale;
    counts.otherCustomers += outcome.counts.otherCustomers;
    counts.named += outcome.counts.named;
  }
  if (opts.backups.path) counts.backupDir = opts.backups.path;
  return counts;
}

function shownPaths(paths: readonly string[]): string {
  return paths.slice(0, 5).join(", ") + (paths.length > 5 ? ` and ${paths.length - 5} more` : "");
}

function zero(): JobOutcome["counts"] {
  return { updated: 0, current: 0, stale: 0, otherCustomers: 0, named: 0 };
}

function parseConf(conf: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof conf === "object" && conf !== null) return { ok: true, value: conf };
  if (typeof conf !== "string") return { ok: false };
  try {
    // Hjson's messages quote the text around the error, which may be a secret: never shown.
    return { ok: true, value: Hjson.parse(conf) as unknown };
  } catch {
    return { ok: false };
  }
}

function registerSecrets(redactor: Redactor, credentials: Record<string, unknown>): void {
  for (const field of SECRET_FIELDS) if (typeof credentials[field] === "string") redactor.addSecret(credentials[field]);
  if (typeof credentials.aws_access_key_id === "string") redactor.addKeyId(credentials.aws_access_key_id);
}

/**
 * One SP-API input's credentials in a job's conf: judged by the field rule, counted in `acc.counts`, its line added
 * to `acc.lines`. With --into, its changes are made in `holder` (the conf to send), and in a real run its line's
 * index is added to `acc.pending` (its verb is known once the job is read back). Whether it changed.
 */
function judgeObject(
  where: string,
  holder: Record<string, unknown>,
  opts: RunnerDeliveryOptions,
  acc: { counts: JobOutcome["counts"]; lines: string[]; pending: number[] },
): boolean {
  const { counts, lines, pending } = acc;
  const credentials = holder.credentials;
  if (typeof credentials === "string") {
    counts.named++;
    lines.push(
      `${where}: named credential ${JSON.stringify(credentials)}: if it holds this stack's credentials, update it in the product's Credentials page ` +
        "(`npm run credentials -- --format json <file>` writes its content)",
    );
    return false;
  }
  if (typeof credentials !== "object" || credentials === null || Array.isArray(credentials)) return false;
  const creds = credentials as Record<string, unknown>;
  registerSecrets(opts.redactor, creds);
  const decision = credentialsRule(creds, opts.block, opts.identity);
  if (decision.shares.length === 0) {
    counts.otherCustomers++;
    lines.push(`${where}: another customer's credentials, left as they are`);
    return false;
  }
  if (opts.mode.kind === "check") {
    const { stale } = decision;
    if (stale.length === 0) counts.current++;
    else counts.stale++;
    lines.push(stale.length === 0 ? `${where}: current` : `${where}: stale: ${stale.map((s) => `${s.field} (${s.why})`).join("; ")}`);
    return false;
  }
  const plan = decision;
  const notes = plan.kept.map((k) => `kept ${k.field}: ${k.reason}`);
  const tail = notes.length ? ` (${notes.join("; ")})` : "";
  if (plan.changes.length > 0) {
    counts.updated++;
    for (const change of plan.changes) creds[change.field] = change.to;
    const fields = opts.mode.dryRun ? plan.changes.map((c) => `${c.field} (${maskedValue(c.field, c.to)})`) : plan.changes.map((c) => c.field);
    if (!opts.mode.dryRun) pending.push(lines.length);
    lines.push(`${where}: ${opts.mode.dryRun ? "would update" : VERB} ${fields.join(", ")}${tail}`);
  } else if (plan.kept.some((k) => !k.placeholder)) {
    counts.stale++;
    lines.push(`${where}: not updated${tail}`);
  } else {
    counts.current++;
    lines.push(`${where}: current${tail}`);
  }
  return plan.changes.length > 0;
}

async function processJob(client: RunnerClient, display: string, job: JobSummary, opts: RunnerDeliveryOptions, stopped: () => boolean): Promise<JobOutcome> {
  const name = `${display} job ${job.id}${job.name ? ` ${JSON.stringify(job.name)}` : ""}`;
  const counts = zero();
  const lines: string[] = [];
  const failJob = (why: string): JobOutcome => ({ lines: [...lines, `${name}: ${why}; left as it is`], failed: name, counts });
  let record: JobRecord;
  try {
    record = await client.getJob(job.id);
  } catch (error) {
    if (!(error instanceof RunnerFailure)) throw error;
    return error.kind === "refused" ? { lines, refused: error.message, counts } : failJob(error.message);
  }
  const conf = parseConf(record.conf);
  if (!conf.ok) return failJob(typeof record.conf === "string" ? "its conf is not HJSON" : "it has no conf");
  const meant = structuredClone(conf.value);
  const found = findSpApiInputs(meant);
  let changed = false;
  /** The lines of the objects changed in a real run: their verb is known once the job is read back. */
  const pending: number[] = [];
  for (const { at, holder } of found) if (judgeObject(`${name}: ${at}`, holder, opts, { counts, lines, pending })) changed = true;
  if (!changed || opts.mode.kind !== "into" || opts.mode.dryRun) return { lines, counts };
  // Until the read-back says otherwise, the changes are not made: a failure below says "not updated".
  const settle = (kept: boolean) => {
    for (const i of pending) lines[i] = lines[i]!.replace(VERB, kept ? "updated" : "not updated:");
    // Not kept: the objects still hold the old values.
    if (!kept) {
      counts.stale += counts.updated;
      counts.updated = 0;
    }
  };
  const fail = (why: string): JobOutcome => {
    settle(false);
    return failJob(why);
  };
  if (stopped()) return fail("not changed: the API key was refused meanwhile");

  let saved: string;
  try {
    saved = opts.backups.save(display, job, typeof record.conf === "string" ? record.conf : JSON.stringify(record.conf, null, 2));
  } catch (error) {
    return fail(`its conf could not be saved before the change (${(error as NodeJS.ErrnoException).code ?? "error"}): not changed`);
  }
  try {
    await client.patchJob(job.id, { ...record, conf: meant });
    const back = await client.getJob(job.id);
    const kept = parseConf(back.conf);
    if (!kept.ok)
      return fail(
        `the server answered the PATCH with 2xx, but the job read back has ${typeof back.conf === "string" ? "a conf that is not HJSON" : "no conf"} (its conf before: ${saved})`,
      );
    const differs = differingPaths(meant, kept.value);
    if (differs.length > 0) {
      return fail(
        `the server answered the PATCH with 2xx but did not keep the change: read back, ${shownPaths(differs)} ${differs.length === 1 ? "differs" : "differ"} ` +
          `from what was sent (its conf before: ${saved})`,
      );
    }
  } catch (error) {
    if (!(error instanceof RunnerFailure)) throw error;
    if (error.kind === "refused") {
      settle(false);
      return { lines, refused: error.message, counts, failed: name };
    }
    return fail(`${error.message} (its conf before: ${saved})`);
  }
  settle(true);
  lines.push(`${name}: read back: the change is kept`);
  return { lines, counts };
}
