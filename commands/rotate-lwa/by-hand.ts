/**
 * `npm run rotate-lwa -- --stored-by-hand` and `--clear-set-aside`, the effects (issue 20, point 5).
 *
 * --stored-by-hand: a secret rotated in the Developer Console, read from standard input (never from the command
 * line), is stored as lwaClientSecret in the stack and in every stack of its LWA app (storeSecret, as the automated
 * rotation stores a group's secret), with lwaClientSecretIssuedAt set to now: from then on a late message of an
 * earlier API request is older than the stored secret, so rotate-lwa sets it aside and never stores it. A rotation
 * request it answers (lwaRotationRequestedAt) and the previous secret's expiry (lwaClientSecretExpiresAt) go. Then
 * `up` for each stack, so every deployment holds it. Under the app's lock and every group stack's.
 *
 * --clear-set-aside: the kept set-aside secret (lwaRotationSetAside, lwaRotationSetAsideSecret) removed, then `up`.
 */
import * as readline from "node:readline";
import { Writable } from "node:stream";
import { isPlaceholder } from "../../src/credentials";
import { acquireLocks, type HeldLocks, LockBusy, LockDirError, LockLost, lwaAppLock, stackLock } from "../../lib/lock";
import { Redactor } from "../../lib/output";
import { PulumiError, PulumiWorkspace, runStackStepCommand, secretsOf, type PulumiStack } from "../../lib/pulumi";
import { LWA_SECRET_LIFETIME_DAYS, OLD_SECRET_GRACE_DAYS } from "../../src/lifecycle";
import { BY_HAND_INPUT_LIMIT, plainTime, readByHandSecret, recordsEndedByHand } from "./decide";
import { readGroup, type RotateLwaOptions, type Run, storeSecret } from "./run";

/** What --stored-by-hand and --clear-set-aside report (--json prints it as one object). */
export interface ByHandReport {
  stack: string;
  mode: "stored-by-hand" | "clear-set-aside";
  outcome: "stored" | "cleared" | "nothing-to-clear" | "dry-run" | "failed";
  dryRun: boolean;
  /** The stacks that hold the secret now (or would, in a dry run): this one first, then its app group. */
  stacks: string[];
  /** lwaClientSecretIssuedAt as stored. */
  issuedAt?: string;
  /** Records removed (stack: key). */
  removed: string[];
  reason: string;
  exitCode: 0 | 1 | 2;
}

export interface ByHandOptions {
  dryRun?: boolean;
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
  now?: () => Date;
  workspace?: PulumiWorkspace;
}

class ByHandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

const DAY_MS = 86_400_000;

function makeRun(opts: ByHandOptions, locks: () => HeldLocks | undefined): Run {
  const env = opts.env ?? process.env;
  const redactor = new Redactor();
  const runOpts: RotateLwaOptions = { ifDue: false, waitSeconds: 0, out: "", dryRun: opts.dryRun, env, print: opts.print };
  return {
    opts: runOpts,
    env,
    now: opts.now ?? (() => new Date()),
    redactor,
    say: (line) => opts.print(redactor.scrub(line)),
    guard: async (next) => locks()?.assertHeld(next),
  };
}

async function lockAll(run: Run, stacks: string[], clientId: string | undefined, command: string): Promise<HeldLocks> {
  try {
    return await acquireLocks([...(clientId ? [lwaAppLock(clientId)] : []), ...stacks.map((name) => stackLock(name, run.env))], {
      env: run.env,
      command,
      onCompromised: (what) => run.say(`  ! the lock on ${what} was lost (another process broke it); this run stops before its next step`),
    });
  } catch (error) {
    if (error instanceof LockBusy || error instanceof LockDirError) throw new ByHandFailure(error.message);
    throw error;
  }
}

/** A failure of the whole run as its report; anything else is rethrown. */
function failed(run: Run, report: ByHandReport, error: unknown): ByHandReport {
  if (!(error instanceof ByHandFailure || error instanceof PulumiError || error instanceof LockLost)) throw error;
  const reason = run.redactor.scrub(error.message);
  run.say(`✗ ${reason}`);
  return { ...report, outcome: "failed", reason, exitCode: error instanceof ByHandFailure ? error.exitCode : 1 };
}

/** This stack's client id, or the failure that names the fix. */
function clientIdOf(stackName: string, values: Record<string, string>): string {
  const clientId = values.lwaClientId;
  if (!clientId || isPlaceholder(clientId)) {
    throw new ByHandFailure(
      `stack ${stackName} has no lwaClientId, so the app (and the stacks sharing it) is unknown. Nothing was stored. ` +
        `Fix: pulumi config set lwaClientId amzn1.application-oa2-client.<32 hex> --stack ${stackName}`,
    );
  }
  return clientId;
}

/** --stored-by-hand: `input` is what standard input held. */
export async function storeByHand(stack: PulumiStack, input: { text: string; fromTerminal: boolean }, opts: ByHandOptions): Promise<ByHandReport> {
  let locks: HeldLocks | undefined;
  const run = makeRun(opts, () => locks);
  const dryRun = opts.dryRun ?? false;
  const report: ByHandReport = { stack: stack.name, mode: "stored-by-hand", outcome: "dry-run", dryRun, stacks: [], removed: [], reason: "", exitCode: 0 };
  try {
    run.say(`rotate-lwa --stored-by-hand: stack ${stack.name}${dryRun ? " (dry run: checks and prints, changes nothing)" : ""}`);
    const read = readByHandSecret(input.text, input.fromTerminal);
    if (!read.ok) throw new ByHandFailure(read.problem, 2);
    const secret = read.secret;
    run.redactor.addSecret(secret);
    run.say(
      `  standard input holds ${read.legacy ? "an older bare-hex LWA client secret (accepted, as the program accepts it)" : "an LWA client secret (amzn1.oa2-cs.v1. followed by hex)"}, ` +
        `${secret.length} characters (not shown)`,
    );
    const first = await stack.readConfig({ secrets: false });
    const clientId = clientIdOf(stack.name, first.values);
    const workspace = opts.workspace ?? (await PulumiWorkspace.connect({ env: run.env }));
    const group = await readGroup(workspace, clientId);
    const names = [stack.name, ...group.map((m) => m.name).filter((name) => name !== stack.name)];
    report.stacks = names;
    if (names.length > 1) run.say(`  LWA app group: ${names.join(", ")} (the secret goes to every one)`);
    const issuedAt = run.now().toISOString();
    report.issuedAt = issuedAt;
    if (dryRun) return dryRunStore(run, report, { stack, workspace, names, issuedAt });
    locks = await lockAll(run, names, clientId, `rotate-lwa --stored-by-hand --stack ${stack.name}`);
    // Read again under the locks: a run that held them may have changed the group.
    if (clientIdOf(stack.name, (await stack.readConfig({ secrets: false })).values) !== clientId) {
      throw new ByHandFailure(`stack ${stack.name}'s lwaClientId changed while this run waited for the lock. Nothing was stored: run again.`);
    }
    const targets = await storeInEvery(run, { stack, workspace, names, secret, issuedAt, clientId, removed: report.removed });
    for (const target of targets) {
      await run.guard(`pulumi up --stack ${target.name}`);
      run.say(`  pulumi up --stack ${target.name}`);
      await target.up((line) => {
        if (line.trim()) run.say(`    ${line}`);
      });
    }
    return summarizeStored(run, report, issuedAt);
  } catch (error) {
    return failed(run, report, error);
  } finally {
    await locks?.release();
  }
}

/** The dry run: what would be stored and removed in each stack; nothing is written. */
async function dryRunStore(run: Run, report: ByHandReport, ctx: { stack: PulumiStack; workspace: PulumiWorkspace; names: string[]; issuedAt: string }) {
  for (const name of ctx.names) {
    const target = name === ctx.stack.name ? ctx.stack : await ctx.workspace.open(name);
    const values = (await target.readConfig({ secrets: false })).values;
    const ends = [...recordsEndedByHand(values, ctx.issuedAt), ...(values.lwaClientSecretExpiresAt ? ["lwaClientSecretExpiresAt"] : [])];
    report.removed.push(...ends.map((key) => `${name}: ${key}`));
    run.say(
      `  would store in stack ${name}: lwaClientSecret (encrypted, from standard input), lwaClientSecretIssuedAt ${ctx.issuedAt}, ` +
        `lwaClientSecretIssuedOn ${ctx.issuedAt.slice(0, 10)}${ends.length > 0 ? `; would remove ${ends.join(", ")}` : ""}; then pulumi up`,
    );
  }
  report.reason = `dry run: would store the secret in ${ctx.names.join(", ")} and deploy; nothing was changed.`;
  run.say(report.reason);
  return report;
}

/**
 * The secret and its times in every stack of the group (storeSecret: the value on the CLI's standard input), the
 * records it ends removed. Returns the stacks, opened.
 */
async function storeInEvery(
  run: Run,
  ctx: { stack: PulumiStack; workspace: PulumiWorkspace; names: string[]; secret: string; issuedAt: string; clientId: string; removed: string[] },
): Promise<PulumiStack[]> {
  const message = { kind: "new-secret" as const, clientId: ctx.clientId, newClientSecret: ctx.secret, sentAt: ctx.issuedAt };
  const times = { sentAt: ctx.issuedAt, issuedDay: ctx.issuedAt.slice(0, 10) };
  const targets: PulumiStack[] = [];
  for (const name of ctx.names) {
    const target = name === ctx.stack.name ? ctx.stack : await ctx.workspace.open(name);
    const view = await target.readConfig();
    run.redactor.addSecret(...secretsOf(view));
    const requested = view.values.lwaRotationRequestedAt;
    if (view.values.lwaClientSecretExpiresAt) ctx.removed.push(`${name}: lwaClientSecretExpiresAt`);
    // No expiry in `message`: storeSecret removes lwaClientSecretExpiresAt (the previous secret's).
    await storeSecret(run, target, { secret: view.values.lwaClientSecret, values: view.values }, message, times);
    for (const key of recordsEndedByHand(view.values, ctx.issuedAt)) {
      await run.guard(`removing ${key} from stack ${name}`);
      await target.removeConfig(key);
      ctx.removed.push(`${name}: ${key}`);
      run.say(
        `  removed lwaRotationRequestedAt (${requested}) from stack ${name}: a new secret that request still brings is older than this one, ` +
          "so rotate-lwa sets it aside (kept in lwaRotationSetAsideSecret) and never stores it",
      );
    }
    run.say(`  recorded lwaClientSecretIssuedAt ${ctx.issuedAt} in stack ${name}`);
    targets.push(target);
  }
  return targets;
}

function summarizeStored(run: Run, report: ByHandReport, issuedAt: string): ByHandReport {
  const now = run.now();
  const expires = new Date(Date.parse(issuedAt) + LWA_SECRET_LIFETIME_DAYS * DAY_MS).toISOString();
  run.say(`✓ Stored the secret rotated by hand in ${report.stacks.join(", ")}, and deployed it.`);
  run.say(`  It expires about ${plainTime(expires, now)} (${LWA_SECRET_LIFETIME_DAYS} days from now; Amazon's next expiry notice says exactly).`);
  run.say(
    `  The previous secret stops working ${OLD_SECRET_GRACE_DAYS} days after the rotation in the console: every job needs the new block before then ` +
      `(npm run credentials -- --stack ${report.stack}, then deliver it: docs/lwa-rotation.md).`,
  );
  return { ...report, outcome: "stored", reason: `stored the secret rotated by hand in ${report.stacks.join(", ")}`, exitCode: 0 };
}

/** --clear-set-aside: the kept set-aside secret and its time removed, then `up`. */
export async function clearSetAside(stack: PulumiStack, opts: ByHandOptions): Promise<ByHandReport> {
  let locks: HeldLocks | undefined;
  const run = makeRun(opts, () => locks);
  const dryRun = opts.dryRun ?? false;
  const report: ByHandReport = {
    stack: stack.name,
    mode: "clear-set-aside",
    outcome: "dry-run",
    dryRun,
    stacks: [stack.name],
    removed: [],
    reason: "",
    exitCode: 0,
  };
  const keys = ["lwaRotationSetAside", "lwaRotationSetAsideSecret"];
  try {
    run.say(`rotate-lwa --clear-set-aside: stack ${stack.name}${dryRun ? " (dry run: checks and prints, changes nothing)" : ""}`);
    let view = await stack.readConfig({ secrets: false });
    if (!dryRun) {
      const clientId = view.values.lwaClientId && !isPlaceholder(view.values.lwaClientId) ? view.values.lwaClientId : undefined;
      locks = await lockAll(run, [stack.name], clientId, `rotate-lwa --clear-set-aside --stack ${stack.name}`);
      view = await stack.readConfig({ secrets: false });
    }
    const values = view.values;
    const set = keys.filter((key) => key in values || view.secretKeys.has(key));
    if (set.length === 0) {
      const reason = "nothing is set aside (lwaRotationSetAside and lwaRotationSetAsideSecret are not set): nothing to clear.";
      run.say(`✓ ${reason}`);
      return { ...report, outcome: "nothing-to-clear", reason };
    }
    const since = values.lwaRotationSetAside ? ` (set aside ${values.lwaRotationSetAside})` : "";
    if (dryRun) {
      report.removed = set.map((key) => `${stack.name}: ${key}`);
      report.reason = `dry run: would remove ${set.join(" and ")}${since} from stack ${stack.name}, then pulumi up; nothing was changed.`;
      run.say(report.reason);
      return report;
    }
    for (const key of set) {
      await run.guard(`removing ${key} from stack ${stack.name}`);
      await stack.removeConfig(key);
      report.removed.push(`${stack.name}: ${key}`);
    }
    await run.guard(`pulumi up --stack ${stack.name}`);
    run.say(`  pulumi up --stack ${stack.name}`);
    await stack.up((line) => {
      if (line.trim()) run.say(`    ${line}`);
    });
    const reason = `cleared the set-aside secret${since}: removed ${set.join(" and ")} from stack ${stack.name}, and deployed.`;
    run.say(`✓ ${reason[0]!.toUpperCase()}${reason.slice(1)}`);
    return { ...report, outcome: "cleared", reason, exitCode: 0 };
  } catch (error) {
    return failed(run, report, error);
  } finally {
    await locks?.release();
  }
}

/**
 * Standard input, whole: a pipe or a file to its end (however slowly it comes), or from a terminal one line, typed
 * or pasted without echo.
 */
export async function readStandardInput(
  stdin: NodeJS.ReadStream = process.stdin,
  prompt: (line: string) => void,
): Promise<{ text: string; fromTerminal: boolean }> {
  if (stdin.isTTY) {
    prompt("Paste the new client secret from the Developer Console, then Enter (it is not shown): ");
    const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
    const rl = readline.createInterface({ input: stdin, output: silent, terminal: true });
    const line = await new Promise<string>((resolve) => {
      rl.once("line", resolve);
      rl.once("close", () => resolve(""));
    });
    rl.close();
    prompt("\n");
    return { text: line, fromTerminal: true };
  }
  let text = "";
  stdin.setEncoding("utf8");
  for await (const chunk of stdin) {
    text += chunk as string;
    // More than one secret can hold: stop reading (readByHandSecret refuses it without looking further).
    if (text.length > BY_HAND_INPUT_LIMIT) break;
  }
  return { text, fromTerminal: false };
}

/** The CLI's part (cli.ts hands over here): --json's one document, the commentary on standard error then. */
export async function byHandMain(
  args: { mode: "stored-by-hand" | "clear-set-aside"; stack?: string; dryRun: boolean; json: boolean },
  usage: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  // Standard input is read before any stack is opened: a bad input changes nothing and asks nothing.
  const input =
    args.mode === "stored-by-hand" ? await readStandardInput(process.stdin, (text) => process.stderr.write(text)) : { text: "", fromTerminal: false };
  return runStackStepCommand<ByHandReport>({
    name: "rotate-lwa",
    usage,
    args: { kind: "run", stack: args.stack, json: args.json },
    env,
    failure: (stack, reason, exitCode) => ({ stack, mode: args.mode, outcome: "failed", dryRun: args.dryRun, stacks: [], removed: [], reason, exitCode }),
    step: (stack, print) =>
      args.mode === "stored-by-hand"
        ? storeByHand(stack, input, { dryRun: args.dryRun, env, print })
        : clearSetAside(stack, { dryRun: args.dryRun, env, print }),
  });
}
