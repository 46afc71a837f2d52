/**
 * `npm run rotate-lwa`, the effects: read the stack, read the queue, ask Amazon for a rotation when due, wait for
 * the new secret, prove it, store it in every stack of the app, `pulumi up` each, write each block, and only then
 * delete the message.
 *
 * The rules everything here serves:
 * - The new secret exists only in its queue message until the stacks hold it and the blocks are written, so the
 *   message is deleted last, and on any handled failure after it was received it is made visible again at once (a
 *   crash leaves it to reappear after its visibility timeout). Every step is safe to repeat: a rerun finds the
 *   message, sees what is already stored, and finishes.
 * - Amazon accepts two secrets at most, so a rotation is never requested twice: the request is recorded in the
 *   owner stack's config (lwaRotationRequestedAt) before it is sent, where every run on every machine sharing the
 *   backend sees it, and no run asks again until a secret sent after it is stored (lwaClientSecretIssuedAt).
 * - One run at a time per stack and per app on this machine (lib/lock.ts).
 */
import { LWA_CLIENT_SECRET, LWA_LEGACY_CLIENT_SECRET, type StackConfig } from "../../src/config";
import { awsEndpoint, readSettings, SettingsError, type Settings } from "../../lib/net";
import { acquireLocks, type HeldLocks, LockBusy, LockDirError, LockLost, lwaAppLock, stackLock } from "../../lib/lock";
import { blockFileName, DEFAULT_BLOCK_DIR, gitExposureWarning, preparePrivateDir, unwritableBlockFile, userPath, writePrivateFile } from "../../lib/files";
import { printable, Redactor } from "../../lib/output";
import { mapWithConcurrency, PulumiError, PulumiWorkspace, secretsOf, type OutputValue, type PulumiStack, type StackConfigView } from "../../lib/pulumi";
import * as path from "path";
import { grantlessToken, refreshTokenExchange, requestRotation } from "./amazon";
import {
  checkPrerequisites,
  decideStep,
  developerConsoleStep,
  disagreementWords,
  dispose,
  Disposition,
  Failure,
  HttpAnswer,
  judgeGrantlessToken,
  judgeProof,
  judgeRotationRequest,
  mayHaveReachedAmazon,
  Notification,
  parseNotification,
  plainTime,
  type Prerequisites,
  type Step,
  type StoredSecret,
  UNANSWERED_EVIDENCE_DAYS,
  outCollision,
} from "./decide";
import { currentExpiry, type Expiry, isoTime, OLD_SECRET_GRACE_DAYS, unansweredRequest } from "../../src/lifecycle";
import { MAX_POLL_SECONDS, NotificationQueue, QueueError, Received } from "./queue";
// issue 20, the by-hand route: set-aside secrets are kept (set-aside.ts); --stored-by-hand is by-hand.ts.
import { keepOlderSecrets, keepSetAside } from "./set-aside";
import { setAsideNote } from "./decide";

export interface LwaRotationResult {
  outcome: "rotated" | "not-due" | "waiting" | "failed" | "skipped";
  detail: string;
  expiresAt?: string;
  wroteBlock?: string;
  /** Other stacks of the same LWA app that now hold the new secret (deployed, their blocks written). */
  groupUpdated?: string[];
  exitCode: 0 | 1 | 2;
}

export interface RotateLwaOptions {
  ifDue: boolean;
  waitSeconds: number;
  out: string;
  /**
   * Where each other stack of a shared app gets its block: `<memberDir>/<stack>.hjson`, its own place in the kit's
   * private credentials directory (default `credentials/`, as `npm run maintain` writes it), never beside --out.
   */
  memberDir?: string;
  dryRun?: boolean;
  /** --request-again: ask Amazon although a recorded request is unanswered, or the stored secret is under 7 days old. */
  requestAgain?: boolean;
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
  now?: () => Date;
  /** Where the other stacks of the app are found (default: a workspace connected with `env`). */
  workspace?: PulumiWorkspace;
  /**
   * Why some of this stack's jobs cannot get the new block by automated delivery, found by the caller (maintain
   * reads the job configs: a named credential, a file it cannot process). Like a stack without jobConfigs, it keeps
   * --if-due from rotating earlier than 7 days before expiry.
   */
  manualDelivery?: string;
}

export const DEFAULT_WAIT_SECONDS = 300;
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
/**
 * How long the new-secret message is hidden while this run stores it and runs `pulumi up` (the queue's own 60 s
 * could run out during an up). A crash in that window leaves it to reappear after this long.
 */
export const HOLD_SECONDS = 15 * 60;
const DAY_MS = 86_400_000;
interface Held {
  message: Received;
  notification: Notification;
  disposition: Disposition;
}

type NewSecretHeld = Held & { notification: Extract<Notification, { kind: "new-secret" }> };

class StepFailure extends Error {
  constructor(
    readonly failure: Failure,
    readonly outcome: "failed" | "waiting" | "skipped" | "not-due" = "failed",
    readonly exitCode: 0 | 1 | 2 = 1,
  ) {
    super(failure.cause);
  }
}

const newest = <T extends Held>(list: T[], key: (h: T) => string | undefined): T | undefined =>
  [...list].sort((a, b) => (key(a) ?? "").localeCompare(key(b) ?? "")).pop();

/** A stack of the same LWA app, as read for the group. */
export interface GroupMember {
  name: string;
  lwaRotation: boolean;
  jobConfigs: number;
}

/**
 * The stacks that share `clientId` (the LWA app), read without secrets: the group a rotation serves. Pure over
 * what was read; `readGroup` does the reading.
 */
export function groupOf(clientId: string, stacks: readonly { name: string; values: Record<string, string> }[]): GroupMember[] {
  return stacks
    .filter((s) => s.values.lwaClientId === clientId)
    .map((s) => {
      let jobConfigs = 0;
      try {
        const parsed = JSON.parse(s.values.jobConfigs ?? "[]") as unknown;
        jobConfigs = Array.isArray(parsed) ? parsed.length : 0;
      } catch {
        jobConfigs = 0;
      }
      return { name: s.name, lwaRotation: s.values.lwaRotation === "true", jobConfigs };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Why some job of the group cannot get the new block by automated delivery, if one cannot. */
export function manualDeliveryReason(group: readonly GroupMember[]): string | undefined {
  const without = group.filter((m) => m.jobConfigs === 0).map((m) => m.name);
  if (without.length === 0) return undefined;
  return `stack${without.length > 1 ? "s" : ""} ${without.join(", ")} list${without.length > 1 ? "" : "s"} no jobConfigs (a person hands the block to the jobs)`;
}

/**
 * Every stack's config, read without secrets, a few at a time. A stack that cannot be read fails the run (naming it):
 * it might be a second owner of the app, and guessing that it is not could mean a second rotation.
 */
export async function readGroup(workspace: PulumiWorkspace, clientId: string): Promise<GroupMember[]> {
  const stacks = await workspace.list();
  const read = await mapWithConcurrency(stacks, 8, async (s) => ({
    name: s.name,
    values: (await (await workspace.open(s.name)).readConfig({ secrets: false })).values,
  }));
  return groupOf(clientId, read);
}

/**
 * What every phase of one run shares, none of it an effect beyond printing: the options, the environment, the
 * clock, the redactor (which learns each secret the run meets), the printer that scrubs with it, and the lock check
 * every side effect is preceded by (`guard`: throws LockLost when the run's locks were broken). The effects
 * are in the phases' other parameters: a PulumiStack is read or written, a PulumiWorkspace opens the other stacks
 * of the app, an Inbox receives, hides, releases and deletes messages, AmazonAccess calls LWA or the SP-API.
 */
export interface Run {
  opts: RotateLwaOptions;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  redactor: Redactor;
  say: (line: string) => void;
  /** Before each side effect (a config write, a queue change, a request, an up), naming it: LockLost stops the run. */
  guard: (next: string) => Promise<void>;
}

/** Where another stack of the app gets its block: its own file in the private credentials directory. */
function memberFile(run: Run, member: string): string {
  return path.join(run.opts.memberDir ?? userPath(DEFAULT_BLOCK_DIR, run.env), blockFileName(member));
}

/** How Amazon is reached (LWA's endpoint) and how long each call may take. */
interface AmazonAccess {
  settings: Settings;
  httpTimeoutMs: number;
}

/** The stack as read: its config, its outputs and what the command needs from them. */
interface StackRead {
  view: StackConfigView;
  outputs: Record<string, OutputValue>;
  pre: Prerequisites;
}

/** A stack that receives the new secret: its outputs before, whether its config changed, where its block goes. */
interface Target {
  stack: PulumiStack;
  outputs: Record<string, OutputValue>;
  changed: boolean;
  file: string;
}

type NewSecret = NewSecretHeld["notification"];

export async function rotateLwa(stack: PulumiStack, opts: RotateLwaOptions): Promise<LwaRotationResult> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? (() => new Date());
  const redactor = new Redactor();
  const say = (line: string) => opts.print(redactor.scrub(line));
  let inbox: Inbox | undefined;
  let locks: HeldLocks | undefined;
  let lost = false;
  const run: Run = { opts, env, now, redactor, say, guard: async (next) => locks?.assertHeld(next) };

  try {
    say(`rotate-lwa: stack ${stack.name}${opts.dryRun ? " (dry run: decides and prints, changes nothing)" : ""}`);
    const amazon = readAmazonAccess(env);
    // 1. Where the block goes: checked before anything is asked or stored.
    const file = checkBlockFile(run);
    // 2. The stack's settings, a first time: the client id names the app, and with it the group and the locks.
    let read = await readStackNamingOwner(run, stack, amazon);
    // 3. The app's group: every stack with this client id.
    const { workspace, group, members } = await readAppGroup(run, stack.name, read.pre.clientId, file);
    // 4. The locks, then the stack read again: a run that held them may have changed it.
    if (!opts.dryRun) {
      locks = await lockRun(run, stack.name, read.pre.clientId, members);
      read = await readStack(run, stack, amazon);
    }
    const { pre } = read;
    const config = pre.config;
    say(`  client id ${pre.clientId}; queue ${pre.queueArn}`);
    const keptNote = setAsideNote(stack.name, { time: config.lwaRotationSetAside, secret: Boolean(config.lwaRotationSetAsideSecret) });
    if (keptNote) say(`  ! ${keptNote}`);
    const queue = new NotificationQueue(pre.queueUrl, pre.queueArn, pre.queueRegion, read.view, env);
    const stored = { value: pre.clientSecret, issuedAt: config.lwaClientSecretIssuedAt, issuedOn: config.lwaClientSecretIssuedOn };
    inbox = new Inbox(queue, { clientId: pre.clientId, ...stored }, say);
    const unanswered = unansweredRequest({ requestedAt: config.lwaRotationRequestedAt, issuedAt: config.lwaClientSecretIssuedAt });
    // 5. The queue first: a new secret already waiting is completed without asking for another rotation.
    const { expiry, pendingSince } = await settleQueue(run, stack, inbox, config, stored, unanswered);
    let candidate = await provenCandidate(run, stack, amazon, pre, inbox);
    const step = await chooseStep(run, stack.name, amazon, pre, { group, expiry, pendingSince, issuedAt: stored.issuedAt, candidate });
    // 6. --if-due, and the other ways to stop here.
    const stopped = stopEarly(run, stack.name, pre, step);
    if (stopped) return stopped;
    // 7. Ask Amazon for a rotation, the request recorded first.
    let requestedAt: string | undefined;
    if (step.step === "rotate") requestedAt = await askForRotation(run, stack, amazon, pre);
    // 8. Wait for the new secret.
    if (!candidate) candidate = await waitForNewSecret(run, stack, amazon, pre, inbox, requestedAt ?? pendingSince);
    const message = candidate.notification;
    say(`  the new secret arrived (sent ${message.sentAt ?? "at an unknown time"})`);
    say("  ✓ the new secret works: LWA exchanged the refresh token with it");
    // 9. Store it in every stack of the app.
    const { targets, sentAt } = await storeInGroup(run, inbox, candidate, { stack, read, file }, workspace, members);
    // 10. pulumi up, then the block, for each stack.
    await deliver(run, targets, message);
    // 11. Only now: the message can go, with any older new-secret messages.
    const leftover = await removeNewSecrets(run, inbox);
    // 12. The summary.
    return summarize(run, pre.clientId, { message, sentAt, targets, file, members }, leftover);
  } catch (error) {
    if (error instanceof LockLost) {
      // Nothing more, not even the messages made visible again: the run holding the lock now may hold them.
      lost = true;
      say(`✗ ${error.message}`);
      return { outcome: "failed", detail: redactor.scrub(error.message), exitCode: 1 };
    }
    if (!(error instanceof StepFailure)) throw error;
    say(`✗ ${error.failure.cause}`);
    if (error.failure.fix) say(`  Fix: ${error.failure.fix}`);
    return { outcome: error.outcome === "not-due" ? "not-due" : error.outcome, detail: redactor.scrub(error.failure.cause), exitCode: error.exitCode };
  } finally {
    // Whatever was received and is not done with goes back at once, for the next run.
    if (!lost) await inbox?.releaseAll();
    inbox?.close();
    await locks?.release();
  }
}

/** A Pulumi failure of `work` becomes the step's failure, with `fix` (and `extra` after its message). */
async function pulumiStep<T>(work: () => Promise<T>, fix: string, extra = ""): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PulumiError) throw new StepFailure({ cause: `${error.message}${extra}`, fix });
    throw error;
  }
}

/** The endpoints and timeout from the environment; a bad variable fails the run (exit 2). */
function readAmazonAccess(env: NodeJS.ProcessEnv): AmazonAccess {
  let settings;
  try {
    settings = readSettings(env);
    awsEndpoint(env, "SQS");
  } catch (error) {
    if (error instanceof SettingsError) throw new StepFailure({ cause: error.message, fix: "correct or unset the variable." }, "failed", 2);
    throw error;
  }
  const httpTimeoutMs = Number(env.SP_API_ROTATE_LWA_TIMEOUT_MS) > 0 ? Number(env.SP_API_ROTATE_LWA_TIMEOUT_MS) : DEFAULT_HTTP_TIMEOUT_MS;
  return { settings, httpTimeoutMs };
}

/** 1. The block's file (--out), checked writable before anything is asked or stored. */
function checkBlockFile(run: Run): string {
  const file = userPath(run.opts.out, run.env);
  const outProblem = unwritableBlockFile(file, { dryRun: run.opts.dryRun });
  if (outProblem)
    throw new StepFailure(
      { cause: `--out: ${outProblem}. Nothing was asked or changed.`, fix: "give --out a file in a directory you can write." },
      "failed",
      2,
    );
  return file;
}

/** 2. The stack's config and outputs (its secrets taught to the redactor), and whether it can rotate. */
async function readStack(run: Run, stack: PulumiStack, amazon: AmazonAccess): Promise<StackRead> {
  const view = await pulumiStep(() => stack.readConfig(), "see above.");
  const outputs = await pulumiStep(() => stack.readOutputs(), "see above.");
  run.redactor.addSecret(...secretsOf(view, outputs));
  const check = checkPrerequisites(stack.name, view, outputs, run.now(), amazon.settings.spApiEndpoint);
  if (!check.ok) {
    const off = /^lwaRotation is off/.test(check.problem);
    throw new StepFailure({ cause: check.problem, fix: "" }, off ? "skipped" : "failed");
  }
  return { view, outputs, pre: check.value };
}

/** 2. The first read; a stack of a shared app without lwaRotation is told which stack rotates it. */
async function readStackNamingOwner(run: Run, stack: PulumiStack, amazon: AmazonAccess): Promise<StackRead> {
  return readStack(run, stack, amazon).catch(async (error: unknown) => {
    // A stack of a shared app without lwaRotation: another stack of the app rotates it; say which.
    if (!(error instanceof StepFailure) || error.outcome !== "skipped") throw error;
    const clientId = (await stack.readConfig({ secrets: false }).catch(() => undefined))?.values.lwaClientId;
    const ws = clientId ? (run.opts.workspace ?? (await PulumiWorkspace.connect({ env: run.env }).catch(() => undefined))) : undefined;
    const owners = ws && clientId ? (await readGroup(ws, clientId).catch(() => [])).filter((m) => m.lwaRotation) : [];
    if (owners.length !== 1) throw error;
    throw new StepFailure(
      {
        cause: `stack ${stack.name} shares its LWA app with stack ${owners[0]!.name}, which has lwaRotation: a rotation there stores the new secret here too.`,
        fix: `npm run rotate-lwa -- --stack ${owners[0]!.name}`,
      },
      "skipped",
    );
  });
}

/**
 * 3. The app's group: every stack with this client id, read through the workspace. One of them owns the rotation
 * (its queue is the one registered with Amazon); two owners would each ask Amazon, and the second request retires
 * the secret the first group's jobs still use. Each member's block file is checked writable.
 */
async function readAppGroup(
  run: Run,
  stackName: string,
  clientId: string,
  file: string,
): Promise<{ workspace: PulumiWorkspace; group: GroupMember[]; members: string[] }> {
  const { opts, env, say } = run;
  const workspace = opts.workspace ?? (await pulumiStep(() => PulumiWorkspace.connect({ env }), "see above."));
  const group = await pulumiStep(() => readGroup(workspace, clientId), "see above.");
  const owners = group.filter((m) => m.lwaRotation).map((m) => m.name);
  if (owners.length > 1) {
    throw new StepFailure({
      cause: `stacks ${owners.join(", ")} share the LWA app ${clientId} and all have lwaRotation on: one app can be rotated from one stack only. Nothing was asked.`,
      fix: `keep lwaRotation on the stack whose queue is registered in the Developer Console, and turn it off on the others (pulumi config set lwaRotation false --stack <name> && npm run up -- <name>).`,
    });
  }
  const members = group.filter((m) => m.name !== stackName).map((m) => m.name);
  if (members.length > 0) say(`  LWA app group: ${[stackName, ...members].join(", ")} (the new secret goes to every one)`);
  // Another stack's block goes only to its own place; a --out that would be taken for it is refused first.
  const collision = outCollision(file, members, (m) => memberFile(run, m), blockFileName);
  if (collision) {
    throw new StepFailure(
      {
        cause: `${collision}. Nothing was asked or changed.`,
        fix: `give --out a file named for stack ${stackName} (e.g. ${blockFileName(stackName)}); the other stacks' blocks go to ${path.dirname(memberFile(run, members[0]!))}.`,
      },
      "failed",
      2,
    );
  }
  if (members.length > 0 && !opts.dryRun) preparePrivateDir(path.dirname(memberFile(run, members[0]!)));
  for (const member of members) {
    const problem = unwritableBlockFile(memberFile(run, member), { dryRun: opts.dryRun });
    if (problem)
      throw new StepFailure(
        { cause: `the block of ${member}: ${problem}. Nothing was asked or changed.`, fix: "make the private credentials directory writable." },
        "failed",
        2,
      );
  }
  return { workspace, group, members };
}

/** 4. The locks of the app and of every stack of the group; busy fails the run. */
async function lockRun(run: Run, stackName: string, clientId: string, members: string[]): Promise<HeldLocks> {
  try {
    return await acquireLocks([lwaAppLock(clientId), ...[stackName, ...members].map((name) => stackLock(name, run.env))], {
      env: run.env,
      command: `rotate-lwa --stack ${stackName}`,
      onCompromised: (what) => run.say(`  ! the lock on ${what} was lost (another process broke it); this run stops before its next step`),
    });
  } catch (error) {
    if (error instanceof LockBusy || error instanceof LockDirError) throw new StepFailure({ cause: error.message, fix: "" });
    throw error;
  }
}

/**
 * The messages this run received and has not finished with, kept hidden while it uses them, and the queue they
 * came from. Every queue effect goes through it: receive, make visible again, delete.
 */
class Inbox {
  private readonly held = new Map<string, Held>();
  private readonly seenOthers = new Set<string>();
  /** When each new-secret message LWA refused was sent: set aside by this run. */
  readonly setAside: string[] = [];

  constructor(
    readonly queue: NotificationQueue,
    private readonly app: { clientId: string } & StoredSecret,
    private readonly say: (line: string) => void,
  ) {}

  async release(h: Held) {
    try {
      await this.queue.setVisibility(h.message, 0);
    } catch (error) {
      this.say(
        `  ! could not make a message visible again (${error instanceof QueueError ? error.code : "error"}); it reappears by itself within the queue's visibility timeout.`,
      );
    }
    this.held.delete(h.message.id);
  }

  async remove(h: Held) {
    await this.queue.delete(h.message);
    this.held.delete(h.message.id);
  }

  /** Stops holding a message without releasing it. */
  forget(h: Held) {
    this.held.delete(h.message.id);
  }

  // Reads a batch: this app's messages are kept hidden while the run uses them; everything else is made
  // visible again at once. Returns how many messages were new to this run.
  private async take(messages: Received[]): Promise<number> {
    let fresh = 0;
    for (const message of messages) {
      const known = this.held.get(message.id);
      if (known) {
        known.message = message; // the newest receipt handle is the one that deletes
        continue;
      }
      const notification = parseNotification(message.body);
      const disposition = dispose(notification, this.app);
      const h: Held = { message, notification, disposition };
      if (disposition.action === "release") {
        await this.release(h);
        if (!this.seenOthers.has(message.id)) {
          this.seenOthers.add(message.id);
          fresh++;
          this.say(`  left in the queue: a message ${printable(disposition.reason, 200)}`);
        }
        continue;
      }
      this.held.set(message.id, h);
      fresh++;
    }
    return fresh;
  }

  ours(action: Disposition["action"]) {
    return [...this.held.values()].filter((h) => h.disposition.action === action);
  }

  newSecrets() {
    return this.ours("complete") as NewSecretHeld[];
  }

  async receive(seconds: number) {
    try {
      return await this.take(await this.queue.receive(seconds));
    } catch (error) {
      if (error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "run again: it picks the secret up from the queue." });
      throw error;
    }
  }

  /** Whatever was received and is not done with goes back at once, for the next run. */
  async releaseAll() {
    for (const h of [...this.held.values()]) await this.release(h);
  }

  close() {
    this.queue.close();
  }
}

/**
 * 5. The queue drained of what waits: Amazon's expiry recorded in the stack and its messages deleted, this app's
 * stale messages deleted, a request noted in the queue by an older version recorded. Returns the current expiry
 * and the unanswered request, if any.
 */
async function settleQueue(
  run: Run,
  stack: PulumiStack,
  inbox: Inbox,
  config: StackConfig,
  stored: StoredSecret,
  unanswered: string | undefined,
): Promise<{ expiry: Expiry; pendingSince: string | undefined }> {
  const { opts, now, say } = run;
  let pendingSince = unanswered;
  while ((await inbox.receive(1)) > 0);

  const expiryMessages = inbox.ours("record-expiry") as (Held & { notification: Extract<Notification, { kind: "expiry" }> })[];
  const newestExpiry = newest(expiryMessages, (h) => h.notification.eventTime ?? h.notification.clientSecretExpiryTime);
  const expiry = currentExpiry({
    fromMessage: newestExpiry?.notification.clientSecretExpiryTime,
    fromConfig: config.lwaClientSecretExpiresAt,
    issuedOn: stored.issuedOn,
  });
  if (expiry.ignored) say(`  ! ${expiry.ignored}`);
  if (expiry.expiresAt) say(`  the current secret expires ${plainTime(expiry.expiresAt, now())} (${expiry.source})`);
  if (expiry.disagreementDays !== undefined && stored.issuedOn) say(`  ! ${disagreementWords(expiry.disagreementDays, stored.issuedOn)}`);

  // Amazon's expiry is recorded when it is news, in every run that reads it (also with --if-due when not due):
  // it is what --if-due believes from then on, and the message can then go.
  if (newestExpiry && !opts.dryRun) {
    const time = newestExpiry.notification.clientSecretExpiryTime;
    try {
      if (config.lwaClientSecretExpiresAt !== time) {
        await run.guard("recording lwaClientSecretExpiresAt");
        await stack.setConfig("lwaClientSecretExpiresAt", time);
        say(`  recorded Amazon's expiry time in lwaClientSecretExpiresAt (${time})`);
      }
      for (const h of expiryMessages) {
        await run.guard("deleting an expiry message from the queue");
        await inbox.remove(h);
      }
    } catch (error) {
      if (error instanceof PulumiError || error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "run again." });
      throw error;
    }
  }
  for (const h of inbox.ours("discard")) {
    say(`  ${opts.dryRun ? "would delete" : "deleted"} a message of this app ${printable((h.disposition as { reason: string }).reason, 300)}`);
    if (!opts.dryRun) {
      await run.guard("deleting a stale message from the queue");
      await inbox.remove(h).catch(() => inbox.release(h));
    }
  }
  // issue 20: a new secret not after the stored one (a late answer to an earlier request) is kept, never stored.
  await pulumiStep(() => keepOlderSecrets(run, stack, config, inbox), "run again.");
  // A request noted in the queue by an older version of this command becomes the config record, then goes.
  const markers = inbox.ours("pending") as (Held & { notification: Extract<Notification, { kind: "rotation-requested" }> })[];
  const marker = newest(markers, (h) => h.notification.requestedAt)?.notification.requestedAt;
  if (marker && !opts.dryRun) {
    if (!pendingSince || marker > pendingSince) {
      await run.guard("recording lwaRotationRequestedAt");
      await pulumiStep(() => stack.setConfig("lwaRotationRequestedAt", marker), "run again.");
      pendingSince = marker;
      say(`  recorded the rotation requested at ${marker} (noted in the queue by an earlier version) in lwaRotationRequestedAt`);
    }
    for (const h of markers) {
      await run.guard("deleting a request marker from the queue");
      await inbox.remove(h).catch(() => inbox.release(h));
    }
  } else if (marker && !pendingSince) {
    pendingSince = marker;
  }
  return { expiry, pendingSince };
}

/**
 * The proof: the exchange every job makes must succeed with a new secret before it is stored (an LWA call). One
 * LWA refuses outright is set aside (its time and the secret kept, deployed, then deleted from the queue: set-aside.ts):
 * it must not hold up every later run.
 */
async function prove(run: Run, stack: PulumiStack, amazon: AmazonAccess, pre: Prerequisites, inbox: Inbox, h: NewSecretHeld): Promise<"ok" | "set-aside"> {
  const { now, redactor } = run;
  const { settings } = amazon;
  const config = pre.config;
  const n = h.notification;
  redactor.addSecret(n.newClientSecret);
  const shaped = LWA_CLIENT_SECRET.test(n.newClientSecret) || LWA_LEGACY_CLIENT_SECRET.test(n.newClientSecret);
  let answer: HttpAnswer<string> | undefined;
  if (shaped) {
    answer = await exchangeWithAnyToken(amazon, pre, n.newClientSecret);
    if (answer.kind === "ok") {
      redactor.addSecret(answer.value);
      return "ok";
    }
    const failure = judgeProof(answer, settings.lwaEndpoint);
    // Only LWA's own refusal of the client settles it; a network failure or an LWA fault leaves it for the next run.
    if (!(answer.kind === "http" && answer.code === "invalid_client")) throw new StepFailure(failure!);
  }
  const why = shaped ? "LWA refused it with the stack's client id and refresh token (invalid_client)" : "it does not have the form of an LWA client secret";
  const sent = n.sentAt ?? now().toISOString();
  // issue 20: the refused secret is kept (set-aside.ts), never thrown away.
  await pulumiStep(() => keepSetAside(run, stack, config, inbox, h, { sent, words: `sent ${sent}: ${why}` }), "run again.");
  inbox.setAside.push(sent);
  return "set-aside";
}

/**
 * The exchange every job makes, with `secret` and each of the stack's authorizations' refresh tokens in turn until
 * one is accepted: a token refused (invalid_grant) is that authorization's (a seller who revoked it), not the
 * app's, so the next is tried; any other answer (invalid_client: the app's; a network failure) is the answer.
 */
async function exchangeWithAnyToken(amazon: AmazonAccess, pre: Prerequisites, secret: string): Promise<HttpAnswer<string>> {
  let answer: HttpAnswer<string> | undefined;
  for (const token of pre.refreshTokens.length > 0 ? pre.refreshTokens : [pre.refreshToken]) {
    answer = await refreshTokenExchange(amazon.settings.lwaEndpoint, pre.clientId, secret, token, amazon.httpTimeoutMs);
    if (!(answer.kind === "http" && answer.code === "invalid_grant")) return answer;
  }
  return answer!;
}

/** The newest waiting new secret that LWA accepts, setting aside those it refuses. */
async function provenCandidate(run: Run, stack: PulumiStack, amazon: AmazonAccess, pre: Prerequisites, inbox: Inbox): Promise<NewSecretHeld | undefined> {
  for (;;) {
    const candidate = newest(inbox.newSecrets(), (h) => h.notification.sentAt);
    if (!candidate) return undefined;
    if ((await prove(run, stack, amazon, pre, inbox, candidate)) === "ok") return candidate;
  }
}

/**
 * What this run does (decideStep), from what the queue and the stack say. A request unanswered for more than 8
 * days is checked first with an LWA call: the stored secret is the evidence.
 */
async function chooseStep(
  run: Run,
  stackName: string,
  amazon: AmazonAccess,
  pre: Prerequisites,
  found: { group: GroupMember[]; expiry: Expiry; pendingSince?: string; issuedAt?: string; candidate?: NewSecretHeld },
): Promise<Step> {
  const { opts, now, redactor, say } = run;
  const { settings } = amazon;
  const { group, expiry, pendingSince, candidate } = found;
  const config = pre.config;
  const manualDelivery =
    [manualDeliveryReason(group.length > 0 ? group : [{ name: stackName, lwaRotation: true, jobConfigs: config.jobConfigs.length }]), opts.manualDelivery]
      .filter(Boolean)
      .join("; ") || undefined;
  const decide = (amazonDidNotAct = false) =>
    decideStep({
      ifDue: opts.ifDue,
      now: now(),
      warningDays: config.lwaExpiryWarningDays,
      expiry,
      newSecretWaiting: candidate !== undefined,
      pendingSince,
      issuedAt: found.issuedAt,
      requestAgain: opts.requestAgain,
      amazonDidNotAct,
      manualDelivery,
    });
  let step = decide();

  // Unanswered for more than 8 days: the stored secret is the evidence. Still accepted: Amazon did not rotate
  // (had it, the secret would have stopped 7 days later), so asking again retires nothing anyone uses.
  if (step.step === "check-unanswered") {
    const answer = await exchangeWithAnyToken(amazon, pre, pre.clientSecret);
    if (answer.kind === "ok") {
      redactor.addSecret(answer.value);
      say(
        `  the request of ${step.requestedAt} got no new secret, and the stored secret still works ${UNANSWERED_EVIDENCE_DAYS}+ days later: Amazon did not act on it`,
      );
      step = decide(true);
    } else if (answer.kind === "http" && answer.code === "invalid_client") {
      throw new StepFailure({
        cause:
          `the rotation requested at ${step.requestedAt} was never answered in the queue, and LWA now refuses the stored secret: ` +
          "Amazon rotated, and the new secret did not reach the queue.",
        fix: `rotate by hand in Seller Central, then npm run rotate-lwa -- --stored-by-hand --stack ${stackName} (the secret on standard input; docs/lwa-rotation.md, "By hand in Seller Central"), then check the registration: ${developerConsoleStep(pre.queueArn)}.`,
      });
    } else {
      throw new StepFailure(judgeProof(answer, settings.lwaEndpoint) ?? { cause: "could not check the stored secret.", fix: "run again." });
    }
  }
  return step;
}

/** 6. The result when the run stops here (not due, a dry run), a failure when it cannot go on, or undefined to go on. */
function stopEarly(run: Run, stackName: string, pre: Prerequisites, step: Step): LwaRotationResult | undefined {
  const { opts, now, say } = run;
  switch (step.step) {
    case "not-due": {
      const lead = step.leadReason ? ` (${step.leadReason})` : "";
      const detail = `not due: the secret expires ${plainTime(step.expiresAt, now())}; --if-due rotates from ${step.leadDays} days before${lead}.`;
      say(`✓ ${detail}`);
      return { outcome: "not-due", detail, expiresAt: step.expiresAt, exitCode: 0 };
    }
    case "recently-rotated": {
      const detail = `the stored secret was sent ${plainTime(step.issuedAt, now())}: rotating again within ${OLD_SECRET_GRACE_DAYS} days would retire the previous secret, which jobs may still use. Not rotated (--request-again to rotate anyway).`;
      say(`✓ ${detail}`);
      return { outcome: "not-due", detail, exitCode: 0 };
    }
    case "unknown-expiry":
      throw new StepFailure({
        cause: "--if-due cannot tell when the secret expires: lwaClientSecretIssuedOn is not set and Amazon has sent no expiry notification yet.",
        fix: `pulumi config set lwaClientSecretIssuedOn <YYYY-MM-DD, the day the secret was issued> --stack ${stackName}, or run without --if-due to rotate now.`,
      });
    case "unanswered":
      throw new StepFailure({
        cause:
          `INCIDENT: the rotation requested at ${step.requestedAt} (lwaRotationRequestedAt) has had no new secret in the queue for over a day. ` +
          `No run asks again: if Amazon rotated, a second request would retire the new secret, and the stored secret stops about ` +
          `${plainTime(new Date(Date.parse(step.requestedAt) + OLD_SECRET_GRACE_DAYS * DAY_MS).toISOString(), now())}. ` +
          `A run after ${plainTime(step.evidenceFrom, now())} checks it and asks again only if it still works.`,
        fix:
          `check the registration: ${developerConsoleStep(pre.queueArn)}. If you know Amazon did not rotate, npm run rotate-lwa -- --stack ${stackName} --request-again; ` +
          `if it did (or you rotated in the Developer Console), rotate by hand and store it: npm run rotate-lwa -- --stored-by-hand --stack ${stackName} (docs/lwa-rotation.md).`,
      });
    case "complete":
      say("  a new secret for this app is waiting in the queue: completing that rotation (no new request)");
      break;
    case "wait-pending":
      say(`  a rotation requested at ${step.requestedAt} (lwaRotationRequestedAt) is not answered yet: waiting for its secret (no new request)`);
      break;
    case "rotate":
      if (step.reason) say(`  ${step.reason}`);
      break;
  }
  if (opts.dryRun) {
    const detail =
      step.step === "rotate"
        ? "dry run: would record the request, request a rotation, wait for the new secret, prove it, store it, run pulumi up and write the block."
        : "dry run: would complete the rotation from the queue.";
    say(detail);
    return { outcome: "skipped", detail, exitCode: 0 };
  }
  return undefined;
}

/** 7. A rotation requested from Amazon, recorded in the stack first (recordRequest). Returns when it was recorded. */
async function askForRotation(run: Run, stack: PulumiStack, amazon: AmazonAccess, pre: Prerequisites): Promise<string> {
  if (!pre.clientSecret) {
    throw new StepFailure({
      cause: "lwaClientSecret is empty (a run may have been killed while storing a new secret) and no new secret is waiting in the queue.",
      fix: `pulumi config set --secret lwaClientSecret --stack ${stack.name} (the newest secret you have), then run again.`,
    });
  }
  const { requestedAt, previous } = await recordRequest(run, stack, pre.config);
  await sendRequest(run, stack, amazon, pre, previous);
  return requestedAt;
}

/**
 * 7. The request recorded in the stack's lwaRotationRequestedAt before it is sent, and deployed at once, so every run
 * on every machine sharing the backend sees it. The `up` is a compare-and-set (lib/pulumi.ts): if another run
 * deployed since this one read the state, it is refused and this run leaves the request to that run.
 */
async function recordRequest(run: Run, stack: PulumiStack, config: StackConfig): Promise<{ requestedAt: string; previous?: string }> {
  const { now, say } = run;
  const requestedAt = now().toISOString();
  const previous = config.lwaRotationRequestedAt;
  await run.guard("recording the rotation request");
  await pulumiStep(() => stack.setConfig("lwaRotationRequestedAt", requestedAt), "fix the cause, then run again. Nothing was asked.");
  say(`  recorded the request in lwaRotationRequestedAt (${requestedAt}) before sending it`);
  try {
    await stack.up();
  } catch (error) {
    if (error instanceof PulumiError && error.reason === "state-conflict") {
      throw new StepFailure(
        {
          cause:
            "another run changed this stack's state (a rotation request recorded, or a secret stored) just before this one: it acts, this run does not ask.",
          fix: "nothing to do: the next run picks up the new secret from the queue.",
        },
        "waiting",
      );
    }
    // Not deployed: the working copy's record goes back, so this working copy's next up does not deploy it.
    await (previous ? stack.setConfig("lwaRotationRequestedAt", previous) : stack.removeConfig("lwaRotationRequestedAt")).catch(() => undefined);
    if (error instanceof PulumiError) throw new StepFailure({ cause: error.message, fix: "fix the cause, then run again. Nothing was asked." });
    throw error;
  }
  say("  deployed the record (pulumi up): every run sharing the backend sees it");
  return { requestedAt, previous };
}

/** 7. The request itself: LWA's grantless token, then the SP-API's rotation call; a refusal takes the stack's record back. */
async function sendRequest(run: Run, stack: PulumiStack, amazon: AmazonAccess, pre: Prerequisites, previous: string | undefined): Promise<void> {
  const { now, redactor, say } = run;
  const { settings, httpTimeoutMs } = amazon;
  // Amazon said no (or was never reached): the record goes back to what it was, so the next run may ask.
  const unrecord = async () => {
    await run.guard("taking the request's record back");
    await (previous ? stack.setConfig("lwaRotationRequestedAt", previous) : stack.removeConfig("lwaRotationRequestedAt"))
      .then(() => stack.up())
      .catch(() => say("  ! could not take the record back: the next run treats the request as unanswered (--request-again clears it)."));
  };
  await run.guard("the rotation request");
  say(`  requesting a new client secret from Amazon (${pre.spApiEndpoint})`);
  const token = await grantlessToken(settings.lwaEndpoint, pre.clientId, pre.clientSecret, httpTimeoutMs);
  if (token.kind === "ok") redactor.addSecret(token.value);
  const tokenFailure = judgeGrantlessToken(token, settings.lwaEndpoint);
  if (tokenFailure) {
    await unrecord();
    throw new StepFailure(tokenFailure);
  }
  await run.guard("the rotation request");
  const answer = await requestRotation(pre.spApiEndpoint, (token as { value: string }).value, httpTimeoutMs);
  if (answer.kind === "http" && answer.message) answer.message = redactor.scrub(answer.message);
  const rotationFailure = judgeRotationRequest(answer, { queueArn: pre.queueArn, spApiEndpoint: pre.spApiEndpoint });
  if (rotationFailure) {
    // Unanswered after it may have reached Amazon, a fault on its side, or a success that is not its answer: it
    // may have acted, so the record stays. Its refusals (4xx) mean nothing was rotated.
    const mayHaveActed =
      answer.kind === "unreachable"
        ? mayHaveReachedAmazon(answer.code)
        : answer.kind === "http" && ((answer.status >= 200 && answer.status < 300) || answer.status >= 500);
    if (!mayHaveActed) await unrecord();
    throw new StepFailure(rotationFailure);
  }
  say(`  Amazon accepted the rotation at ${isoTime(now().toISOString())}; the old secret keeps working for ${OLD_SECRET_GRACE_DAYS} days`);
}

/** 8. The queue polled until a new secret LWA accepts arrives, for up to --wait seconds; none is a "waiting" result. */
async function waitForNewSecret(
  run: Run,
  stack: PulumiStack,
  amazon: AmazonAccess,
  pre: Prerequisites,
  inbox: Inbox,
  since: string | undefined,
): Promise<NewSecretHeld> {
  const { opts, now, say } = run;
  let candidate: NewSecretHeld | undefined;
  const deadline = Date.now() + opts.waitSeconds * 1000;
  say(`  waiting up to ${opts.waitSeconds} s for Amazon's new secret in the queue`);
  let waited = 0;
  for (;;) {
    const remaining = Math.ceil((deadline - Date.now()) / 1000);
    if (remaining <= 0) break;
    const fresh = await inbox.receive(Math.min(MAX_POLL_SECONDS, remaining));
    candidate = await provenCandidate(run, stack, amazon, pre, inbox);
    if (candidate) break;
    const before = waited;
    waited = opts.waitSeconds - Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (waited > before) say(`  still waiting: ${waited} s of ${opts.waitSeconds} s`);
    // Visible messages of others answer a long poll at once: do not spin on them.
    if (fresh === 0) await new Promise((resolve) => setTimeout(resolve, Math.min(2000, Math.max(0, deadline - Date.now()))));
  }
  if (!candidate) {
    const refused = inbox.setAside.length > 0 ? ` A new-secret message that LWA refused was set aside (lwaRotationSetAside).` : "";
    throw new StepFailure(
      {
        cause: `the rotation was requested${since ? ` (at ${since})` : ""}, but no new secret LWA accepts arrived within ${opts.waitSeconds} s.${refused}`,
        fix:
          `run the same command again later: it picks the new secret up from the queue and does not request another rotation. ` +
          `The old secret keeps working until about ${plainTime(new Date(Date.parse(since ?? now().toISOString()) + OLD_SECRET_GRACE_DAYS * DAY_MS).toISOString(), now())}.`,
      },
      "waiting",
    );
  }
  return candidate;
}

/** The new secret and its times in one stack's config, unless already there. Returns whether anything changed. */
export async function storeSecret(
  run: Run,
  target: PulumiStack,
  current: { secret?: string; values: Record<string, string> },
  message: NewSecret,
  times: { sentAt: string; issuedDay: string },
): Promise<boolean> {
  let changed = false;
  if (current.secret !== message.newClientSecret) {
    await run.guard(`storing the new secret in stack ${target.name}`);
    await target.setSecret("lwaClientSecret", message.newClientSecret);
    changed = true;
    run.say(`  stored the new secret in stack ${target.name}'s config (lwaClientSecret, encrypted)`);
  } else {
    run.say(`  stack ${target.name} already holds the new secret (an earlier run stored it)`);
  }
  const plain: [string, string | undefined][] = [
    ["lwaClientSecretIssuedOn", times.issuedDay],
    ["lwaClientSecretIssuedAt", times.sentAt],
    // Expiry truth: the new secret's own expiry, or none (never the previous secret's).
    ["lwaClientSecretExpiresAt", message.newClientSecretExpiryTime],
  ];
  for (const [key, value] of plain) {
    if (current.values[key] === value) continue;
    await run.guard(`storing ${key} in stack ${target.name}`);
    if (value === undefined) await target.removeConfig(key);
    else await target.setConfig(key, value);
    changed = true;
  }
  return changed;
}

const FINISH_FROM_QUEUE = "fix the cause, then run the same command again: it finishes the rotation from the queue, without another request.";

/**
 * 9. The message hidden for HOLD_SECONDS, then the new secret stored in every stack of the app (the value on the
 * CLI's standard input), unless an earlier run already did; the times with it: when it was sent (what later
 * messages are matched against), its day, its expiry. The members are opened through the workspace.
 */
async function storeInGroup(
  run: Run,
  inbox: Inbox,
  candidate: NewSecretHeld,
  own: { stack: PulumiStack; read: StackRead; file: string },
  workspace: PulumiWorkspace,
  members: string[],
): Promise<{ targets: Target[]; sentAt: string }> {
  const message = candidate.notification;
  const { stack, read, file } = own;
  await run.guard("hiding the new secret's message in the queue");
  try {
    await inbox.queue.setVisibility(candidate.message, HOLD_SECONDS);
  } catch (error) {
    if (error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "run again." });
    throw error;
  }
  const sentAt = message.sentAt ?? run.now().toISOString();
  const times = { sentAt, issuedDay: sentAt.slice(0, 10) };
  const fix = FINISH_FROM_QUEUE;
  const kept = " The new secret stays in the queue.";
  const targets: Target[] = [];
  // The stack's values as they are now: this run may have recorded Amazon's expiry time since it first read them.
  const now = await pulumiStep(() => stack.readConfig({ secrets: false }), fix, kept);
  targets.push({
    stack,
    outputs: read.outputs,
    changed: await pulumiStep(() => storeSecret(run, stack, { secret: read.pre.clientSecret, values: now.values }, message, times), fix, kept),
    file,
  });
  for (const name of members) {
    const member = await pulumiStep(() => workspace.open(name), fix, kept);
    const memberView = await pulumiStep(() => member.readConfig(), fix, kept);
    run.redactor.addSecret(...secretsOf(memberView));
    const memberOutputs = await pulumiStep(() => member.readOutputs(), fix, kept);
    const changed = await pulumiStep(
      () => storeSecret(run, member, { secret: memberView.values.lwaClientSecret, values: memberView.values }, message, times),
      fix,
      kept,
    );
    targets.push({ stack: member, outputs: memberOutputs, changed, file: memberFile(run, name) });
  }
  return { targets, sentAt };
}

/**
 * 10. pulumi up, then the block written to its file, for each stack. An earlier run that got through `up` and then
 * failed to write the block has left the stack deployed with this very config: the block is then taken from the
 * outputs.
 */
async function deliver(run: Run, targets: Target[], message: NewSecret): Promise<void> {
  const { redactor, say } = run;
  for (const t of targets) {
    const deployedBlock = t.outputs.credentials?.value;
    const deployed = !t.changed && typeof deployedBlock === "string" && deployedBlock.includes(JSON.stringify(message.newClientSecret));
    let newOutputs = t.outputs;
    if (deployed) say(`  stack ${t.stack.name} is already deployed with the new secret (an earlier run ran pulumi up)`);
    else {
      await run.guard(`pulumi up --stack ${t.stack.name}`);
      say(`  pulumi up --stack ${t.stack.name}`);
      newOutputs = await pulumiStep(
        () =>
          t.stack.up((line) => {
            if (line.trim()) say(`    ${line}`);
          }),
        FINISH_FROM_QUEUE,
        " The new secret is stored in the stack's config and stays in the queue.",
      );
    }
    const block = newOutputs.credentials?.value;
    if (typeof block !== "string") {
      throw new StepFailure({
        cause: `pulumi up succeeded but stack ${t.stack.name} has no credentials output.`,
        fix: "run again; if it persists, report it.",
      });
    }
    redactor.addSecret(block);
    try {
      writePrivateFile(t.file, block);
    } catch (error) {
      throw new StepFailure({
        cause: `could not write the credentials block to ${t.file} (${(error as NodeJS.ErrnoException).code ?? printable((error as Error).message)}). The stack is up to date; the message stays in the queue.`,
        fix: "make the file writable, then run again.",
      });
    }
    say(`  wrote the new credentials block of ${t.stack.name} to ${t.file} (mode 600)`);
    const exposed = gitExposureWarning(t.file);
    if (exposed) say(`  ${exposed}`);
  }
}

/** 11. Every new-secret message deleted from the queue. Returns whether one could not be. */
async function removeNewSecrets(run: Run, inbox: Inbox): Promise<boolean> {
  let leftover = false;
  for (const h of inbox.newSecrets()) {
    await run.guard("deleting the new secret's message from the queue");
    try {
      await inbox.remove(h);
    } catch {
      leftover = true;
    }
  }
  return leftover;
}

/** 12. The summary; a message left in the queue fails the run (everything else is done). */
function summarize(
  run: Run,
  clientId: string,
  done: { message: NewSecret; sentAt: string; targets: Target[]; file: string; members: string[] },
  leftover: boolean,
): LwaRotationResult {
  const { now, say } = run;
  const { message, sentAt, targets, file, members } = done;
  const expiresAt = message.newClientSecretExpiryTime;
  const oldEnds = message.oldClientSecretExpiryTime ?? new Date(Date.parse(sentAt) + OLD_SECRET_GRACE_DAYS * DAY_MS).toISOString();
  say(`✓ Rotated the LWA client secret of ${clientId}.`);
  say(
    expiresAt
      ? `  The new secret expires ${plainTime(expiresAt, now())}.`
      : `  Amazon did not say when the new secret expires; about ${plainTime(new Date(Date.parse(sentAt) + 180 * DAY_MS).toISOString(), now())} (180 days after it was sent).`,
  );
  say(
    `  The old secret stops working ${plainTime(oldEnds, now())}${message.oldClientSecretExpiryTime ? "" : " (7 days after the rotation; Amazon did not say)"}: ` +
      `every job must have the new block from ${targets.map((t) => t.file).join(", ")} before then.`,
  );
  if (leftover) {
    throw new StepFailure({
      cause: "everything is done except deleting the message from the queue.",
      fix: "run again: it finds the secret already stored and deployed, writes the block once more, then deletes it.",
    });
  }
  return {
    outcome: "rotated",
    detail: `rotated; the old secret stops working at ${oldEnds}`,
    expiresAt,
    wroteBlock: file,
    groupUpdated: members,
    exitCode: 0,
  };
}
