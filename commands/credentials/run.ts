/**
 * The effects of `npm run credentials`: reading job configs (files, or directories of them), writing the
 * stack's values into this stack's credentials (`--into`), reporting which are stale (`--check`), and
 * writing the block to a private file. The decisions are in ./decide.ts, the text edits in ./edit.ts.
 * The fleet command (npm run maintain) calls deliverBlock and checkTargets for each stack.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CredentialField, isPlaceholder } from "../../src/credentials";
import { ChangedMeanwhile, FileRefusal, honourPendingSignals, whyNotRewritable, writeFileKeepingMode } from "../../lib/files";
import { printable, Redactor } from "../../lib/output";
import { blockFields, DeliveryBlock } from "./block";
import { findCredentials, FoundObject, maskedValue, planObject, SECRET_FIELDS, StackIdentity } from "./decide";
import { DocFormat, formatOf, formatPath, isJobConfigName, parseDocument } from "./documents";
import { applyValueEdits, EditCheckFailed, ValueEdit } from "./edit";
import { isRunnerTarget } from "../../lib/runner";
import { BackupDirectory, deliverToRunner } from "./runner";

export type { DeliveryBlock } from "./block";

export interface DeliveryOptions {
  dryRun: boolean;
  print: (line: string) => void;
  /** What relative targets are relative to (default: the current directory). */
  baseDir?: string;
  /** Secrets already known to the caller; every secret found in a file is added to it. */
  redactor?: Redactor;
  /**
   * For `runner:<url>` targets: the product's API key (the stack's runnerApiKey, else RUNNER_API_KEY: see
   * lib/runner.ts runnerApiKeyOf) and the environment its settings and proxies are read from.
   */
  runner?: { apiKey?: string; env?: NodeJS.ProcessEnv };
}

export type CheckOptions = Omit<DeliveryOptions, "dryRun">;

export interface DeliveryReport {
  filesScanned: number;
  /** Objects of this stack written (with --dry-run: that would be written). */
  updated: number;
  current: number;
  /** Objects of this stack still holding other values: --check, or --into when a field could not be written. */
  stale: number;
  otherCustomers: number;
  named: number;
  /** Files (as the user named them, or found in a directory) that could not be processed; runner targets or jobs too. */
  failed: string[];
  /** Jobs read from runner: targets. */
  jobsRead: number;
  /** Where the runner jobs' confs as read were saved before their first PATCH, when any was. */
  backupDir?: string;
  exitCode: 0 | 1;
}

/**
 * Job configs are a few KiB. Anything this large is something else: it is not read (a parse of several MiB
 * takes seconds and memory per object), and a file that grows past it while being read is cut off, not read whole.
 */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Directories never searched for job configs. */
const SKIPPED_DIRECTORIES = new Set(["node_modules", ".git"]);

interface JobFile {
  display: string;
  file: string;
  format: DocFormat;
}

class NotProcessed extends Error {}

function emptyReport(): DeliveryReport {
  return { filesScanned: 0, updated: 0, current: 0, stale: 0, otherCustomers: 0, named: 0, failed: [], jobsRead: 0, exitCode: 0 };
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" ? "not found" : code === "EACCES" || code === "EPERM" ? "permission denied" : `cannot be read (${code ?? "error"})`;
}

/** The files named, and the job configs in the directories named. Links are never followed: a rewrite stays inside what was named. */
function expandTargets(targets: readonly string[], baseDir: string, fail: (display: string, why: string) => void): JobFile[] {
  const files: JobFile[] = [];
  // Each file once, whether named twice or named and found in a directory.
  const seen = new Set<string>();
  const first = (file: string) => !seen.has(file) && seen.add(file) !== undefined;
  const add = (display: string, file: string) => {
    if (first(file)) files.push({ display, file, format: formatOf(file) });
  };
  const refuse = (display: string, file: string, why: string) => {
    if (first(file)) fail(display, why);
  };
  const walk = (dir: string, display: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      fail(display, `directory ${describeFsError(error)}`);
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const file = path.join(dir, entry.name);
      const shown = path.join(display, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) walk(file, shown);
      } else if (isJobConfigName(entry.name)) {
        if (entry.isFile()) add(shown, file);
        else refuse(shown, file, `${entry.isSymbolicLink() ? "a symbolic link" : "not a regular file"}: not followed; name the file it stands for`);
      }
    }
  };
  for (const target of targets) {
    const file = path.resolve(baseDir, target);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(file);
    } catch (error) {
      fail(target, describeFsError(error));
      continue;
    }
    if (stat.isDirectory()) walk(file, target);
    else if (stat.isFile()) add(target, file);
    else refuse(target, file, `${stat.isSymbolicLink() ? "a symbolic link" : "not a regular file"}: not followed; name the file it stands for`);
  }
  return files;
}

function readText(file: string): string {
  const tooLarge = () => new NotProcessed(`larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB: not read (a job config is a few KiB)`);
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    if (fs.fstatSync(fd).size > MAX_FILE_BYTES) throw tooLarge();
    // One byte more than allowed: a file that grew since fstat is caught, and never read whole.
    const buffer = Buffer.allocUnsafe(MAX_FILE_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    if (length > MAX_FILE_BYTES) throw tooLarge();
    bytes = buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof NotProcessed) throw error;
    throw new NotProcessed(describeFsError(error));
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  try {
    // A lossy decode would rewrite the bytes it could not read; a byte order mark is kept as text, to be written back.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new NotProcessed("not UTF-8 text");
  }
}

function registerSecrets(redactor: Redactor, objects: readonly FoundObject[]): void {
  for (const object of objects) {
    for (const field of SECRET_FIELDS) {
      const node = object.fields[field];
      if (node?.kind === "string") redactor.addSecret(node.value);
    }
    const keyId = object.fields.aws_access_key_id;
    if (keyId?.kind === "string") redactor.addKeyId(keyId.value);
  }
}

function registerBlock(redactor: Redactor, block: DeliveryBlock): void {
  for (const field of SECRET_FIELDS) redactor.addSecret(block.values[field]);
  redactor.addKeyId(block.values.aws_access_key_id);
}

function list(fields: readonly CredentialField[]): string {
  return fields.join(", ");
}

/** What ties an object to the stack under the field rule: its app, its key ids (current first), its role. */
export function identityOf(block: DeliveryBlock): StackIdentity {
  const current = block.values.aws_access_key_id;
  const keyIds = [...new Set([...(current !== undefined && !isPlaceholder(current) ? [current] : []), ...(block.keyIds ?? [])])];
  return {
    ...(block.roleArn !== undefined ? { roleArn: block.roleArn } : {}),
    ...(block.lwaClientId !== undefined ? { lwaClientId: block.lwaClientId } : {}),
    keyIds,
    ...(block.formerRoleArns?.length ? { formerRoleArns: block.formerRoleArns } : {}),
  };
}

type Mode = { kind: "into"; dryRun: boolean } | { kind: "check" };

/** One file: its lines to print, and what it adds to the report. Throws NotProcessed; writes only in "into" mode. */
function processFile(job: JobFile, block: DeliveryBlock, identity: StackIdentity, mode: Mode, report: DeliveryReport, redactor: Redactor): string[] {
  const text = readText(job.file);
  const parsed = parseDocument(text, job.format);
  if (!parsed.ok) throw new NotProcessed(`line ${parsed.line}: ${parsed.reason}`);
  const findings = findCredentials(parsed.root);
  registerSecrets(redactor, findings.objects);

  const lines: string[] = [];
  const counts = { updated: 0, current: 0, stale: 0, otherCustomers: 0 };
  const edits: ValueEdit[] = [];
  const where = (at: FoundObject["path"]) => `${job.display}: ${formatPath(at)}`;

  for (const object of findings.objects) {
    const plan = planObject(object, identity, block.values, block.fields ?? blockFields(block.values));
    if (plan.shares.length === 0) {
      counts.otherCustomers++;
      // An object naming the stack's role but holding neither its app nor one of its keys: in the classic setup one
      // role serves every seller of an app, so the role alone claims nothing.
      const role = object.fields.role_arn;
      const hint =
        role?.kind === "string" && identity.roleArn !== undefined && role.value === identity.roleArn
          ? " (it names this stack's role, but holds neither its LWA app nor one of its access keys)"
          : "";
      lines.push(`${where(object.path)}: another customer's credentials, left as they are${hint}`);
      continue;
    }
    if (object.duplicates.length > 0) throw new NotProcessed(`${formatPath(object.path)}: ${list(object.duplicates)} given twice; remove one, then run again`);
    const placeholders = plan.kept.filter((k) => k.placeholder).map((k) => k.field);
    const notCompared = placeholders.length ? ` (not compared: ${list(placeholders)}: the stack's block has placeholders)` : "";
    if (mode.kind === "check") {
      if (plan.stale.length === 0) {
        counts.current++;
        lines.push(`${where(object.path)}: current${notCompared}`);
      } else {
        counts.stale++;
        lines.push(`${where(object.path)}: stale: ${plan.stale.map((s) => `${s.field} (${s.why})`).join("; ")}${notCompared}`);
      }
      continue;
    }
    const notes = plan.kept.map((k) => `kept ${k.field}: ${k.reason}`);
    const tail = notes.length ? ` (${notes.join("; ")})` : "";
    if (plan.changes.length > 0) {
      counts.updated++;
      for (const change of plan.changes) edits.push({ path: object.path, field: change.field, node: object.fields[change.field]!, value: change.to });
      const fields = mode.dryRun ? plan.changes.map((c) => `${c.field} (${maskedValue(c.field, c.to)})`).join(", ") : list(plan.changes.map((c) => c.field));
      lines.push(`${where(object.path)}: ${mode.dryRun ? "would update" : "updated"} ${fields}${tail}`);
    } else if (plan.kept.some((k) => !k.placeholder)) {
      // The stack has values this object lacks, and they could not be written: it still holds old ones.
      counts.stale++;
      lines.push(`${where(object.path)}: not updated${tail}`);
    } else {
      counts.current++;
      lines.push(`${where(object.path)}: current${tail}`);
    }
  }
  for (const named of findings.named) {
    lines.push(
      `${where(named.path)}: named credential ${JSON.stringify(named.name)}: if it holds this stack's credentials, update it in the product's Credentials page ` +
        "(`npm run credentials -- --format json <file>` writes its content)",
    );
  }

  if (mode.kind === "into" && edits.length > 0) {
    // Refused before anything is written, and in a dry run too: such a file is left byte for byte as it is.
    const refusal = whyNotRewritable(fs.lstatSync(job.file));
    if (refusal) throw new NotProcessed(`not updated: ${refusal}`);
  }
  if (mode.kind === "into" && !mode.dryRun && edits.length > 0) {
    let edited: string;
    try {
      edited = applyValueEdits(text, job.format, edits);
    } catch (error) {
      if (error instanceof EditCheckFailed) throw new NotProcessed(error.message);
      throw error;
    }
    if (edited !== text) {
      // Another program (another stack's delivery from another process, an editor) may have changed the file
      // since it was read: never write over that. Checked at the last moment, just before the rename.
      const unchanged = () => readText(job.file) === text;
      try {
        writeFileKeepingMode(job.file, edited, unchanged);
      } catch (error) {
        if (error instanceof ChangedMeanwhile) throw new NotProcessed("changed while it was being updated; nothing written, run again");
        if (error instanceof FileRefusal) throw new NotProcessed(`not updated: ${error.message}`);
        throw new NotProcessed(`could not be written (${(error as NodeJS.ErrnoException).code ?? "error"})`);
      }
    }
  }
  report.updated += counts.updated;
  report.current += counts.current;
  report.stale += counts.stale;
  report.otherCustomers += counts.otherCustomers;
  report.named += findings.named.length;
  return lines;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function summaryLine(report: DeliveryReport, dryRun = false): string {
  const runner = report.jobsRead > 0 || report.failed.some((f) => f.startsWith("runner:"));
  const parts = [
    // A run over runner: targets alone does not say "0 files scanned".
    ...(report.filesScanned > 0 || !runner ? [`${plural(report.filesScanned, "file")} scanned`] : []),
    ...(report.jobsRead > 0 ? [`${plural(report.jobsRead, "runner job")} read`] : []),
    `objects: ${report.updated} ${dryRun ? "to update" : "updated"}, ${report.current} current, ${report.stale} stale, ${report.otherCustomers} another customer's`,
    plural(report.named, "named credential"),
  ];
  if (report.failed.length)
    parts.push(`${plural(report.failed.length, runner ? "target or job" : "file", runner ? "targets or jobs" : "files")} not processed`);
  return `Summary: ${parts.join("; ")}.`;
}

async function runOver(block: DeliveryBlock, targets: readonly string[], mode: Mode, opts: CheckOptions): Promise<DeliveryReport> {
  const redactor = opts.redactor ?? new Redactor();
  registerBlock(redactor, block);
  const print = (line: string) => opts.print(redactor.scrub(printable(line, 2000)));
  const identity = identityOf(block);
  const report = emptyReport();
  const fail = (display: string, why: string) => {
    report.failed.push(display);
    print(`${display}: ${why}; left as it is`);
  };
  // Each product once, however often it is named.
  const runnerTargets = [...new Set(targets.filter(isRunnerTarget).map((t) => t.trim()))];
  const backups = new BackupDirectory(opts.runner?.env ?? process.env);
  for (const target of runnerTargets) {
    const counts = await deliverToRunner(target, {
      block,
      identity,
      mode,
      print,
      redactor,
      ...(opts.runner?.apiKey !== undefined ? { apiKey: opts.runner.apiKey } : {}),
      env: opts.runner?.env ?? process.env,
      backups,
    });
    report.jobsRead += counts.jobsRead;
    report.updated += counts.updated;
    report.current += counts.current;
    report.stale += counts.stale;
    report.otherCustomers += counts.otherCustomers;
    report.named += counts.named;
    report.failed.push(...counts.failed);
    await honourPendingSignals();
  }
  if (backups.path) {
    report.backupDir = backups.path;
    print(`Each changed job's conf as read was saved first in ${backups.path} (private; mode 600): to put one back, paste it into the job.`);
  }
  for (const job of expandTargets(
    targets.filter((t) => !isRunnerTarget(t)),
    opts.baseDir ?? process.cwd(),
    fail,
  )) {
    report.filesScanned++;
    try {
      for (const line of processFile(job, block, identity, mode, report, redactor)) print(line);
    } catch (error) {
      // A file that exhausts the call stack or memory anyway is one failed file, not the end of the run.
      if (error instanceof RangeError) fail(job.display, "could not be read: too large or too deeply nested");
      else if (error instanceof NotProcessed) fail(job.display, error.message);
      else throw error;
    }
    await honourPendingSignals();
  }
  if (report.updated + report.current + report.stale === 0) {
    // Said plainly: a check that found nothing to check is not a sign that no job holds old values.
    print(
      `No credentials of this stack (neither its LWA app nor one of its access keys) in the ${runnerTargets.length > 0 ? "jobs and files" : "files"} scanned.`,
    );
  }
  report.exitCode = report.failed.length > 0 || (mode.kind === "check" && report.stale > 0) ? 1 : 0;
  print(summaryLine(report, mode.kind === "into" && mode.dryRun));
  return report;
}

/** `--into`: writes the block's values into this stack's credentials in every target. Exit 1 when a file could not be processed. */
export function deliverBlock(block: DeliveryBlock, targets: readonly string[], opts: DeliveryOptions): Promise<DeliveryReport> {
  return runOver(block, targets, { kind: "into", dryRun: opts.dryRun }, opts);
}

/** `--check`: writes nothing; exit 1 when any of this stack's credentials is stale or a file could not be processed. */
export function checkTargets(block: DeliveryBlock, targets: readonly string[], opts: CheckOptions): Promise<DeliveryReport> {
  return runOver(block, targets, { kind: "check" }, opts);
}
