/**
 * `rotate-key`'s effects: read the stack (config, outputs), read IAM's evidence with the operator's credentials,
 * decide (decide.ts), and take at most one step: config change(s) and one `pulumi up`, putting the config back
 * when `up` fails. The fleet command calls rotateKey for each stack.
 */
import * as fs from "fs";
import { DeleteAccessKeyCommand, GetAccessKeyLastUsedCommand, IAMClient, ListAccessKeysCommand, UpdateAccessKeyCommand } from "@aws-sdk/client-iam";
import { ConfigError, validateConfig } from "../../src/config";
import { IAM_UNUSED_RECORD_HOURS, type SlotRecord } from "../../src/lifecycle";
import { type HeldLocks, LockLost, stackLock, withLocks } from "../../lib/lock";
import { awsClientConfig, awsEndpoint, iamSigningRegion, SettingsError } from "../../lib/net";
import { errorLine } from "../../lib/cli";
import { gitExposureWarning, notABlockFile, userPath, writePrivateFile } from "../../lib/files";
import { maskKeyId, printable, Redactor } from "../../lib/output";
import { PulumiError, secretsOf, type OutputValue, type PulumiStack, type StackConfigView } from "../../lib/pulumi";
import { decide, judgeUnused, type ConfigChange, type Decision, type IamKey, type Phase, type Step } from "./decide";

export interface KeyEvidenceLine {
  /** Masked: AKIA…WXYZ. */
  id: string;
  role: "current" | "previous" | "unknown";
  generation?: number;
  status: string;
  created: string;
  lastUsed?: string;
  service?: string;
  region?: string;
  inactiveSince?: string;
}

export interface KeyRotationReport {
  stack: string;
  /**
   * "unknown" when the run stopped before the phase could be read (config or evidence unreadable); "no-key" on a
   * connectorAuth lwa stack, which has no access key to rotate.
   */
  phase: Phase | "unknown" | "no-key";
  step: Step;
  took: boolean;
  dryRun: boolean;
  reason: string;
  nextDate?: string;
  evidence: KeyEvidenceLine[];
  /** The config the step set (or would set, in a dry run). */
  changes: ConfigChange[];
  /** The step finishes one an interrupted run had set in config. */
  resumed: boolean;
  /** Where the new credentials block was written (a start step). */
  wroteBlock?: string;
  /** The step is on the adopted key (npm run adopt), taken through IAM rather than pulumi up. */
  viaIam?: boolean;
  exitCode: 0 | 1 | 2;
}

export interface RotateKeyOptions {
  ifDue: boolean;
  dryRun: boolean;
  /** Where a start step writes the new block, as the user typed it (resolved against INIT_CWD). */
  out: string;
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
  now?: () => Date;
}

const PHASE_TEXT: Record<Phase | "no-key", string> = {
  "no-key": "no key (connectorAuth lwa)",
  steady: "steady (one key)",
  handover: "handover (two active keys)",
  "old-key-inactive": "old key inactive",
};

const STEP_TEXT: Record<Step, string> = {
  start: "start a rotation: a new key; the old one stays active",
  deactivate: "deactivate the old key",
  delete: "delete the old key",
  none: "nothing",
};

class EvidenceError extends Error {}
/** IAM has no such user in the account the operator's credentials (pulumi up's) reach. */
class NoSuchUserError extends EvidenceError {}

/** The operator's IAM client, as `pulumi up` would choose its credentials; the environment is the one given. */
function iamClient(view: StackConfigView, env: NodeJS.ProcessEnv): { client: IAMClient; timeoutMs: number } {
  const settings = awsClientConfig(view, env, { service: "IAM", region: iamSigningRegion(view.provider.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION) });
  return { client: new IAMClient(settings), timeoutMs: settings.requestHandler.requestTimeout };
}

function evidenceFailure(error: unknown, permission: string, what: string, timeoutMs: number, timedOut: boolean, redactor: Redactor): EvidenceError {
  const name = (error as { name?: string })?.name ?? "";
  const message = redactor.scrub(printable((error as Error)?.message ?? String(error)));
  if (name === "AccessDenied" || name === "AccessDeniedException" || /not authorized to perform/.test(message)) {
    return new EvidenceError(
      `IAM refused ${permission} to the operator's credentials (${name || "AccessDenied"}): ${message}. ` +
        `Fix: allow ${permission} on the connector's user to the credentials pulumi up uses (docs/key-rotation.md, "AWS permissions")`,
    );
  }
  if (name === "NoSuchEntity" || name === "NoSuchEntityException") {
    return new (permission === "iam:ListAccessKeys" ? NoSuchUserError : EvidenceError)(
      `IAM has no ${what}: ${message}. Are these the right account's credentials (aws:profile, AWS_PROFILE)?`,
    );
  }
  // A peer that trickles is cut off while the body is read, which the SDK reports as a deserialization error.
  if (timedOut || name === "AbortError" || name === "TimeoutError") {
    return new EvidenceError(`IAM did not answer ${permission} within ${timeoutMs} ms (SP_API_AWS_TIMEOUT_MS); nothing was changed. Run again later`);
  }
  if (name === "CredentialsProviderError") {
    return new EvidenceError(`no AWS credentials for IAM: ${message}. Fix: npm run pulumi -- config set aws:profile <profile>, or the AWS_* environment`);
  }
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    return new EvidenceError(
      `could not reach IAM for ${permission} (${code}); nothing was changed. ` +
        "Fix: check the network connection and any proxy; if AWS_ENDPOINT_URL_IAM is set, check it or unset it",
    );
  }
  return new EvidenceError(`could not read ${permission}'s answer (${name || "error"}): ${message}`);
}

/** ListAccessKeys for the user, then GetAccessKeyLastUsed for each key; every request bounded in time. */
async function readIamEvidence(view: StackConfigView, env: NodeJS.ProcessEnv, userName: string, redactor: Redactor): Promise<IamKey[]> {
  const { client, timeoutMs } = iamClient(view, env);
  try {
    let listed;
    const listSignal = AbortSignal.timeout(timeoutMs);
    try {
      listed = await client.send(new ListAccessKeysCommand({ UserName: userName }), { abortSignal: listSignal });
    } catch (error) {
      throw evidenceFailure(error, "iam:ListAccessKeys", `user ${userName}`, timeoutMs, listSignal.aborted, redactor);
    }
    const keys: IamKey[] = [];
    for (const meta of listed.AccessKeyMetadata ?? []) {
      if (!meta.AccessKeyId || !meta.Status || !meta.CreateDate)
        throw new EvidenceError("IAM's ListAccessKeys answer lacks a key's id, status or creation date");
      redactor.addKeyId(meta.AccessKeyId);
      let used;
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        used = await client.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: meta.AccessKeyId }), { abortSignal: signal });
      } catch (error) {
        throw evidenceFailure(error, "iam:GetAccessKeyLastUsed", `key ${maskKeyId(meta.AccessKeyId)}`, timeoutMs, signal.aborted, redactor);
      }
      const last = used.AccessKeyLastUsed;
      keys.push({
        id: meta.AccessKeyId,
        status: meta.Status === "Inactive" ? "Inactive" : "Active",
        createDate: meta.CreateDate.toISOString().replace(/\.000Z$/, "Z"),
        ...(last?.LastUsedDate ? { lastUsedDate: last.LastUsedDate.toISOString().replace(/\.000Z$/, "Z") } : {}),
        ...(last?.ServiceName ? { lastUsedService: last.ServiceName } : {}),
        ...(last?.Region ? { lastUsedRegion: last.Region } : {}),
      });
    }
    return keys;
  } finally {
    client.destroy();
  }
}

function evidenceLines(decision: Decision): KeyEvidenceLine[] {
  return decision.evidence.map((k) => ({
    id: maskKeyId(k.id),
    role: k.role,
    ...(k.generation !== undefined ? { generation: k.generation } : {}),
    status: k.status,
    created: k.createDate,
    ...(k.lastUsedDate ? { lastUsed: k.lastUsedDate, service: k.lastUsedService, region: k.lastUsedRegion } : {}),
    ...(k.inactiveSince ? { inactiveSince: k.inactiveSince } : {}),
  }));
}

function printReport(report: KeyRotationReport, print: (line: string) => void): void {
  print(`Phase: ${report.phase === "unknown" ? "unknown" : PHASE_TEXT[report.phase]}`);
  if (report.evidence.length > 0) {
    print("Evidence (IAM):");
    for (const k of report.evidence) {
      const gen = k.generation !== undefined ? `generation ${k.generation}` : "not the stack's";
      const use = k.lastUsed ? `last used ${k.lastUsed} by ${k.service} in ${k.region}` : "never used";
      const since = k.inactiveSince ? `, inactive since ${k.inactiveSince}` : "";
      print(`  ${k.role.padEnd(8)} ${k.id}  ${gen}, ${k.status}${since}, created ${k.created.slice(0, 10)}, ${use}`);
    }
  }
  const how = report.changes.map((c) => `npm run pulumi -- config set ${c.key} ${c.value}`).join(" && ");
  const iamCall = report.step === "delete" ? "aws iam delete-access-key" : "aws iam update-access-key --status Inactive";
  const what =
    report.step === "none"
      ? STEP_TEXT.none
      : report.viaIam
        ? `${STEP_TEXT[report.step]}, the adopted key, through IAM (${iamCall}): it is not in the stack's state`
        : `${STEP_TEXT[report.step]} (${how ? `${how} && ` : ""}npm run pulumi -- up)`;
  print(`Decision: ${what}${report.resumed ? " [finishing an interrupted run]" : ""}`);
  print(`Reason: ${report.reason}`);
  print(`Next: ${report.nextDate ?? "when the evidence changes (run again; --if-due daily)"}`);
}

/**
 * One run per stack at a time (lib/lock.ts): a second run, from cron or `maintain --stack dev --stack dev`, waits
 * for the first and then decides from what the first left, instead of "putting back" the config the first is deploying.
 */
export async function rotateKey(stack: PulumiStack, opts: RotateKeyOptions): Promise<KeyRotationReport> {
  const env = opts.env ?? process.env;
  const redactor = new Redactor();
  const refuse = (exitCode: 1 | 2, reason: string): KeyRotationReport => {
    const report: KeyRotationReport = {
      stack: stack.name,
      phase: "unknown",
      step: "none",
      took: false,
      dryRun: opts.dryRun,
      reason: redactor.scrub(reason),
      evidence: [],
      changes: [],
      resumed: false,
      exitCode,
    };
    opts.print(errorLine("rotate-key", report.reason));
    return report;
  };
  try {
    awsEndpoint(env, "IAM");
  } catch (error) {
    if (error instanceof SettingsError) return refuse(2, `${error.message}. Fix: correct or unset the variable.`);
    throw error;
  }
  // A lost lock: nothing more is done, not even a put-back (withLocks): the run that holds the lock now decides.
  return withLocks(
    [stackLock(stack.name, env)],
    { env, command: "rotate-key", onCompromised: (what) => opts.print(`! the lock on ${what} was lost; this run stops before its next step`) },
    (reason) => refuse(1, reason),
    (locks) => rotateKeyLocked(stack, opts, locks),
  );
}

/**
 * One run's report as it is built, and its printing: what the phases of rotateKeyLocked share. `finish` sets the
 * exit code (and the reason, scrubbed) and returns the report.
 */
interface KeyRun {
  report: KeyRotationReport;
  /** The stack's lock: assertHeld before each side effect (a LockLost goes up to rotateKey). */
  locks: HeldLocks;
  redactor: Redactor;
  print: (line: string) => void;
  finish: (exitCode: 0 | 1 | 2, reason?: string) => KeyRotationReport;
}

async function rotateKeyLocked(stack: PulumiStack, opts: RotateKeyOptions, locks: HeldLocks): Promise<KeyRotationReport> {
  const env = opts.env ?? process.env;
  const now = (opts.now ?? (() => new Date()))();
  const redactor = new Redactor();
  const print = (line: string) => opts.print(redactor.scrub(line));
  const report: KeyRotationReport = {
    stack: stack.name,
    phase: "unknown",
    step: "none",
    took: false,
    dryRun: opts.dryRun,
    reason: "",
    evidence: [],
    changes: [],
    resumed: false,
    exitCode: 1,
  };
  const finish = (exitCode: 0 | 1 | 2, reason?: string): KeyRotationReport => {
    if (reason !== undefined) report.reason = reason;
    report.reason = redactor.scrub(report.reason);
    report.exitCode = exitCode;
    return report;
  };
  const run: KeyRun = { report, locks, redactor, print, finish };
  print(`Access key rotation, stack ${stack.name}${opts.dryRun ? " (dry run: nothing is changed)" : ""}`);

  const outFile = userPath(opts.out, env);
  if (fs.lstatSync(outFile, { throwIfNoEntry: false })?.isDirectory()) {
    const r = finish(2, `--out ${opts.out} is a directory; give a file name`);
    print(errorLine("rotate-key", r.reason));
    return r;
  }
  const notBlock = notABlockFile(outFile, opts.out);
  if (notBlock) {
    const r = finish(2, notBlock);
    print(errorLine("rotate-key", r.reason));
    return r;
  }

  const read = await readAndDecide(run, stack, env, now, opts.ifDue);
  if ("done" in read) return read.done;
  const { view, decision } = read;

  Object.assign(report, {
    phase: decision.phase,
    step: decision.step,
    reason: decision.reason,
    evidence: evidenceLines(decision),
    changes: decision.changes,
    resumed: decision.resumed,
    ...(decision.nextDate ? { nextDate: decision.nextDate } : {}),
    ...(decision.viaIam && decision.step !== "none" ? { viaIam: true } : {}),
  });
  printReport(report, print);
  if (decision.refused) return finish(1);
  if (decision.viaIam) return retireAdoptedKey(stack, view, env, decision, opts.dryRun, redactor, report, print, finish, locks);

  if (opts.dryRun) {
    if (decision.restore.length > 0) print(`Dry run: would put back ${decision.restore.map((c) => `${c.key} ${c.value}`).join(", ")}`);
    if (decision.step !== "none") print("Dry run: nothing was changed.");
    return finish(0);
  }

  const restoreFailed = await restoreConfig(run, stack, decision);
  if (restoreFailed) return restoreFailed;
  if (decision.step === "none") return finish(0);

  const step = decision.step;
  const taken = await takeStep(run, stack, view, decision);
  if ("done" in taken) return taken.done;
  const { outputs } = taken;
  print(`Done: ${STEP_TEXT[step]}.`);

  if (step === "start") return writeStartBlock(run, outputs, outFile, opts.out);
  return finish(0);
}

/**
 * The stack's config and outputs (their secrets taught to the redactor), IAM's evidence about the user's keys,
 * and the decision over them. A stack that has nothing to rotate, or whose evidence cannot be read, is done.
 */
async function readAndDecide(
  run: KeyRun,
  stack: PulumiStack,
  env: NodeJS.ProcessEnv,
  now: Date,
  ifDue: boolean,
): Promise<{ view: StackConfigView; decision: Decision } | { done: KeyRotationReport }> {
  const { report, redactor, print, finish } = run;
  try {
    const view = await stack.readConfig();
    redactor.addSecret(...secretsOf(view));
    const outputs = await stack.readOutputs();
    redactor.addSecret(...secretsOf(undefined, outputs));
    const { config } = validateConfig({ values: view.values, secretKeys: view.secretKeys }, now);
    const accessKeyId = typeof outputs.accessKeyId?.value === "string" ? outputs.accessKeyId.value : undefined;
    const userName = typeof outputs.userName?.value === "string" ? outputs.userName.value : undefined;
    redactor.addKeyId(accessKeyId);
    if (config.connectorAuth === "lwa") {
      report.phase = "no-key";
      const pending = userName
        ? ` The last deployment still holds the IAM user ${userName}: the switch is not deployed yet (npm run rotate-key -- --check-unused, then npm run pulumi -- up).`
        : "";
      const r = finish(0, `no access key: connectorAuth is lwa, so the stack declares no IAM user and no key; nothing to rotate.${pending}`);
      print(`No key: ${r.reason}`);
      return { done: r };
    }
    if (!userName) {
      const r = finish(1, "the stack has no userName output: it has not been deployed; deploy it first (npm run pulumi -- up)");
      print(errorLine("rotate-key", r.reason));
      return { done: r };
    }
    const slots = Array.isArray(outputs.accessKeySlots?.value) ? (outputs.accessKeySlots.value as SlotRecord[]) : undefined;
    const iam = await readIamEvidence(view, env, userName, redactor);
    return { view, decision: decide({ config, deployed: { slots, accessKeyId }, iam, now, ifDue }) };
  } catch (error) {
    if (error instanceof EvidenceError || error instanceof PulumiError || error instanceof ConfigError) {
      const r = finish(1, error.message);
      print(errorLine("rotate-key", r.reason));
      return { done: r };
    }
    throw error;
  }
}

/** The config an interrupted run left undeployed, put back in the stack (decision.restore); the report if that failed. */
async function restoreConfig(run: KeyRun, stack: PulumiStack, decision: Decision): Promise<KeyRotationReport | undefined> {
  const { report, locks, print, finish } = run;
  try {
    if (decision.restore.length > 0) {
      for (const change of decision.restore) {
        await locks.assertHeld(`putting back ${change.key}`);
        await stack.setConfig(change.key, change.value);
      }
      print(`Put back: ${decision.restore.map((c) => `${c.key} ${c.value}`).join(", ")} (not deployed; matches the last deployment)`);
    }
  } catch (error) {
    if (error instanceof LockLost) throw error;
    const r = finish(1, `${report.reason}; putting the config back failed: ${(error as Error).message}`);
    print(errorLine("rotate-key", r.reason));
    return r;
  }
  return undefined;
}

/**
 * The step: its config changes set in the stack, then `pulumi up`. When either fails, the changed keys are put
 * back to what they were (`view`) and the run is done.
 */
async function takeStep(
  run: KeyRun,
  stack: PulumiStack,
  view: StackConfigView,
  decision: Decision,
): Promise<{ outputs: Record<string, OutputValue> } | { done: KeyRotationReport }> {
  const { report, locks, redactor, print, finish } = run;
  const before = new Map(decision.changes.map((c) => [c.key, view.values[c.key]]));
  let outputs;
  try {
    for (const change of decision.changes) {
      await locks.assertHeld(`setting ${change.key}`);
      await stack.setConfig(change.key, change.value);
    }
    await locks.assertHeld("pulumi up");
    print("Running pulumi up...");
    outputs = await stack.up((line) => print(`  | ${line}`));
  } catch (error) {
    // Lost before `up`: the config this run set stays (the next run sees it undeployed and finishes or reverts it);
    // putting it back now could undo what the run holding the lock has just set.
    if (error instanceof LockLost) throw error;
    const cause = error instanceof PulumiError ? error.message : `${(error as Error).name}: ${printable((error as Error).message ?? "")}`;
    const restored = await putBack(stack, before);
    const r = finish(1, `${report.reason}; the step failed: ${cause}. ${restored}`);
    print(errorLine("rotate-key", `the step failed: ${redactor.scrub(cause)}`));
    print(restored);
    return { done: r };
  }
  report.took = true;
  redactor.addSecret(...secretsOf(undefined, outputs));
  redactor.addKeyId(typeof outputs.accessKeyId?.value === "string" ? outputs.accessKeyId.value : undefined);
  return { outputs };
}

/** A start step's new credentials block, from `up`'s outputs, written to the --out file (`outFile`, typed as `out`). */
function writeStartBlock(run: KeyRun, outputs: Record<string, OutputValue>, outFile: string, out: string): KeyRotationReport {
  const { report, print, finish } = run;
  const block = outputs.credentials?.value;
  if (typeof block !== "string") return finish(1, `${report.reason}; pulumi up gave no credentials output: write the block with npm run credentials`);
  let previous: string | undefined;
  try {
    previous = writePrivateFile(outFile, block).previous;
  } catch (error) {
    const r = finish(1, `${report.reason}; the new key exists, but writing ${outFile} failed (${(error as Error).message}): write it with npm run credentials`);
    print(errorLine("rotate-key", r.reason));
    return r;
  }
  report.wroteBlock = outFile;
  print(`Wrote the new credentials block to ${outFile} (mode 600).`);
  if (previous) print(`Kept the block it replaced as ${previous} (mode 600): the old key's values, until the old key is deleted.`);
  const exposed = gitExposureWarning(outFile);
  if (exposed) print(exposed);
  print(`Hand it to every job that uses this stack's key: npm run credentials -- --into <job config> (or paste the block), then npm run verify -- ${out}.`);
  print("The old key stays active until a later run sees it unused for keyQuietHours.");
  return finish(0);
}

/**
 * A step on the adopted key: the record first (config `adoption`), then IAM's UpdateAccessKey or DeleteAccessKey.
 * A run killed between the two leaves the record, and the next run finishes the step if the evidence still holds.
 */
async function retireAdoptedKey(
  stack: PulumiStack,
  view: StackConfigView,
  env: NodeJS.ProcessEnv,
  decision: Decision,
  dryRun: boolean,
  redactor: Redactor,
  report: KeyRotationReport,
  print: (line: string) => void,
  finish: (exitCode: 0 | 1 | 2, reason?: string) => KeyRotationReport,
  locks: HeldLocks,
): Promise<KeyRotationReport> {
  const { keyId, adoption } = decision.viaIam!;
  redactor.addKeyId(keyId);
  if (dryRun) {
    if (adoption) print(`Dry run: would record accessKeyInactiveSince ${adoption.accessKeyInactiveSince ?? "(cleared)"} in the adoption record`);
    if (decision.step !== "none") print("Dry run: nothing was changed.");
    return finish(0);
  }
  const { client, timeoutMs } = iamClient(view, env);
  try {
    if (adoption) {
      await locks.assertHeld("recording the adoption");
      await stack.setConfig("adoption", JSON.stringify(adoption));
    }
    if (decision.step === "deactivate" || decision.step === "delete") {
      const permission = decision.step === "delete" ? "iam:DeleteAccessKey" : "iam:UpdateAccessKey";
      const userName = String((await stack.readOutputs({ secrets: false })).userName?.value ?? "");
      const command =
        decision.step === "delete"
          ? new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: keyId })
          : new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: keyId, Status: "Inactive" });
      const signal = AbortSignal.timeout(timeoutMs);
      await locks.assertHeld(permission);
      try {
        await client.send(command as never, { abortSignal: signal });
      } catch (error) {
        throw evidenceFailure(error, permission, `key ${maskKeyId(keyId)}`, timeoutMs, signal.aborted, redactor);
      }
      report.took = true;
      print(`Done: ${STEP_TEXT[decision.step]} (the adopted key ${maskKeyId(keyId)}).`);
      if (decision.viaIam!.adoptionAfter) {
        await locks.assertHeld("recording the adoption");
        await stack.setConfig("adoption", JSON.stringify(decision.viaIam!.adoptionAfter));
      }
    }
    return finish(0);
  } catch (error) {
    if (error instanceof EvidenceError || error instanceof PulumiError) {
      const r = finish(1, `${report.reason}; the step failed: ${error.message}. Run again to finish it`);
      print(errorLine("rotate-key", redactor.scrub(error.message)));
      return r;
    }
    throw error;
  } finally {
    client.destroy();
  }
}

/** Puts each changed key back as this run found it (unset keys are removed again). */
async function putBack(stack: PulumiStack, before: Map<string, string | undefined>): Promise<string> {
  if (before.size === 0) return "No config had been changed by this run.";
  const done: string[] = [];
  try {
    for (const [key, value] of before) {
      if (value === undefined) await stack.removeConfig(key);
      else await stack.setConfig(key, value);
      done.push(value === undefined ? `${key} (unset)` : `${key} ${value}`);
    }
    return `Config put back: ${done.join(", ")}.`;
  } catch (error) {
    const keys = [...before.keys()].filter((k) => !done.some((d) => d.startsWith(k)));
    return (
      `Putting the config back failed for ${keys.join(", ")} (${(error as Error).message}); ` +
      "the next run sees the change as not deployed and finishes or reverts it."
    );
  }
}

export interface UnusedCheckReport {
  stack: string;
  /** Every active key of the user has gone unused for keyQuietHours (or the stack holds no IAM user). */
  unused: boolean;
  dryRun: boolean;
  reason: string;
  evidence: { id: string; status: string; created: string; lastUsed?: string; service?: string; region?: string; unused: boolean }[];
  /** The iamKeysUnusedAt this run recorded (or would record, in a dry run). */
  recorded?: string;
  /** A record this run removed because the evidence no longer supports it. */
  removedRecord?: string;
  exitCode: 0 | 1 | 2;
}

export interface CheckUnusedOptions {
  dryRun: boolean;
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
  now?: () => Date;
}

/**
 * `--check-unused`: reads IAM's record of the user's keys and, when every active one has gone unused for keyQuietHours
 * (the rule rotate-key applies before deactivating a key), records the time in iamKeysUnusedAt: the evidence the
 * program asks for before a switch to connectorAuth lwa deletes the user. One config write, then (on an iam stack) a
 * pulumi up that deploys it, so every run sharing the backend sees it (src/state.ts): a run killed at any line leaves
 * either the old record or the new one, and running it again is harmless.
 */
export async function checkUnused(stack: PulumiStack, opts: CheckUnusedOptions): Promise<UnusedCheckReport> {
  const env = opts.env ?? process.env;
  const refuse = (reason: string): UnusedCheckReport => {
    opts.print(errorLine("rotate-key", reason));
    return { stack: stack.name, unused: false, dryRun: opts.dryRun, reason, evidence: [], exitCode: 1 };
  };
  return withLocks([stackLock(stack.name, env)], { env, command: "rotate-key --check-unused" }, refuse, (locks) => checkUnusedLocked(stack, opts, locks));
}

/** Each key's evidence, its id masked, set in `report.evidence` and printed. */
function reportEvidence(
  report: UnusedCheckReport,
  evidence: ReturnType<typeof judgeUnused>["evidence"],
  quietHours: number,
  print: (line: string) => void,
): void {
  report.evidence = evidence.map((k) => ({
    id: maskKeyId(k.id),
    status: k.status,
    created: k.createDate,
    ...(k.lastUsedDate ? { lastUsed: k.lastUsedDate, service: k.lastUsedService, region: k.lastUsedRegion } : {}),
    unused: k.unused,
  }));
  if (report.evidence.length > 0) print("Evidence (IAM):");
  for (const k of report.evidence) {
    const use = k.lastUsed ? `last used ${k.lastUsed} by ${k.service} in ${k.region}` : "never used";
    print(`  ${k.id}  ${k.status}, created ${k.created.slice(0, 10)}, ${use}: ${k.unused ? "unused" : `used within keyQuietHours (${quietHours})`}`);
  }
}

async function checkUnusedLocked(stack: PulumiStack, opts: CheckUnusedOptions, locks: HeldLocks): Promise<UnusedCheckReport> {
  const env = opts.env ?? process.env;
  const now = (opts.now ?? (() => new Date()))();
  const redactor = new Redactor();
  const print = (line: string) => opts.print(redactor.scrub(line));
  const report: UnusedCheckReport = { stack: stack.name, unused: false, dryRun: opts.dryRun, reason: "", evidence: [], exitCode: 1 };
  const finish = (exitCode: 0 | 1, reason: string): UnusedCheckReport => {
    report.reason = redactor.scrub(reason);
    report.exitCode = exitCode;
    return report;
  };
  print(`Is the IAM key unused? Stack ${stack.name}${opts.dryRun ? " (dry run: nothing is recorded)" : ""}`);

  let view: StackConfigView;
  let verdict;
  let quietHours: number;
  let connectorAuth: string;
  try {
    view = await stack.readConfig();
    redactor.addSecret(...secretsOf(view));
    const outputs = await stack.readOutputs();
    redactor.addSecret(...secretsOf(undefined, outputs));
    const { config } = validateConfig({ values: view.values, secretKeys: view.secretKeys }, now);
    quietHours = config.keyQuietHours;
    connectorAuth = config.connectorAuth;
    const userName = typeof outputs.userName?.value === "string" ? outputs.userName.value : undefined;
    if (!userName) {
      if (outputs.connectorAuth?.value === "lwa") {
        report.unused = true;
        const r = finish(0, "the last deployment holds no IAM user (connectorAuth lwa): nothing to check, nothing to record");
        print(r.reason);
        return r;
      }
      const r = finish(1, "the stack has no userName output: it has not been deployed; deploy it first (npm run pulumi -- up)");
      print(errorLine("rotate-key", r.reason));
      return r;
    }
    try {
      verdict = judgeUnused(await readIamEvidence(view, env, userName, redactor), quietHours, now);
    } catch (error) {
      if (!(error instanceof NoSuchUserError)) throw error;
      // An interrupted switch may have deleted the user already (its outputs are still the last deployment's): a user
      // that does not exist, in the account pulumi up deploys to, has no key that could sign.
      verdict = { unused: true, evidence: [], reason: `IAM has no user ${userName} (deleted already?), so no key of it can sign` };
    }
  } catch (error) {
    if (error instanceof EvidenceError || error instanceof PulumiError || error instanceof ConfigError) {
      const r = finish(1, error.message);
      print(errorLine("rotate-key", r.reason));
      return r;
    }
    throw error;
  }

  report.unused = verdict.unused;
  reportEvidence(report, verdict.evidence, quietHours, print);
  const previousRecord = view.values.iamKeysUnusedAt || undefined;

  if (!verdict.unused) {
    // A record this evidence contradicts must not let a later pulumi up delete a key in use.
    if (previousRecord) {
      if (!opts.dryRun) {
        await locks.assertHeld("removing iamKeysUnusedAt");
        try {
          await stack.removeConfig("iamKeysUnusedAt");
          // Deployed at once, so no run on any machine acts on the record this evidence contradicts.
          if (connectorAuth === "iam") await stack.up();
        } catch (error) {
          const r = finish(1, `${verdict.reason}; removing the earlier record iamKeysUnusedAt ${previousRecord} failed: ${(error as Error).message}`);
          print(errorLine("rotate-key", r.reason));
          return r;
        }
      }
      report.removedRecord = previousRecord;
      print(`${opts.dryRun ? "Would remove" : "Removed"} the earlier record iamKeysUnusedAt ${previousRecord}: it no longer holds.`);
    }
    const r = finish(1, verdict.reason);
    print(`Not recorded: ${r.reason}`);
    return r;
  }

  const at = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  if (!opts.dryRun) {
    await locks.assertHeld("recording iamKeysUnusedAt");
    try {
      await stack.setConfig("iamKeysUnusedAt", at);
      // Deployed at once, so every run sharing the backend sees it. Not when this working copy already says lwa: that
      // `up` is the switch itself, which is the operator's to run (below).
      if (connectorAuth === "iam") await stack.up();
    } catch (error) {
      const r = finish(1, `${verdict.reason}; recording iamKeysUnusedAt failed: ${(error as Error).message}`);
      print(errorLine("rotate-key", r.reason));
      return r;
    }
  }
  report.recorded = at;
  const until = new Date(now.getTime() + IAM_UNUSED_RECORD_HOURS * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const next = connectorAuth === "lwa" ? "npm run pulumi -- up" : "npm run pulumi -- config set connectorAuth lwa && npm run pulumi -- up";
  const r = finish(0, verdict.reason);
  print(`Unused: ${r.reason}.`);
  print(`${opts.dryRun ? "Would record" : "Recorded"} iamKeysUnusedAt ${at}: until ${until}, pulumi up may switch this stack to connectorAuth lwa (${next}).`);
  return r;
}
