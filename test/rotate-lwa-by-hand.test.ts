/**
 * The by-hand route of the LWA secret (issue 20, point 5): `npm run rotate-lwa -- --stored-by-hand` stores a secret
 * rotated in the Developer Console, read from standard input, in the stack and its app group, and records it so that
 * no older message can roll it back; a new secret that is refused or older is kept (lwaRotationSetAsideSecret) until
 * `--clear-set-aside`. Against test/fake-lwa-rotation.ts and the stand-in CLI test/fake-pulumi.ts (config in the work
 * dir's Pulumi.<stack>.yaml).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lockDir } from "../lib/lock";
import { openStack } from "../lib/pulumi";
import { addDays } from "../src/lifecycle";
import { clearSetAside, storeByHand, type ByHandReport } from "../commands/rotate-lwa/by-hand";
import { parseArgs, UsageError } from "../commands/rotate-lwa/cli";
import { dispose, olderNewSecret, parseNotification, readByHandSecret, recordsEndedByHand, setAsideNote, setAsideSlot } from "../commands/rotate-lwa/decide";
import { rotateLwa } from "../commands/rotate-lwa/run";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const STACK = "acme";
const MEMBER = "globex";
const today = () => new Date().toISOString().slice(0, 10);
const AWS_KEY_ID = "AKIAOPERATOR7EXAMPLE";
const AWS_KEY_SECRET = "opErAtOr/SeCrEt+KeY=0123456789abcdefABCD";
/** The secret an operator rotated in the Developer Console. */
const BY_HAND = `amzn1.oa2-cs.v1.${"b7".repeat(32)}`;

describe("npm run rotate-lwa -- --stored-by-hand, --clear-set-aside", function () {
  this.timeout(90_000);
  let fake: FakeLwaRotation;
  let cli: FakePulumi;
  let base = 0;
  let work: string;
  let printed: string[] = [];

  before(() => (cli = FakePulumi.create()));
  after(() => cli.cleanup());
  beforeEach(async () => {
    fake = new FakeLwaRotation();
    fake.longPollScale = 0.05;
    await fake.start();
    base = cli.calls().length;
    work = fs.mkdtempSync(path.join(os.tmpdir(), "rotate-lwa-by-hand-"));
    fs.rmSync(lockDir(cli.env()), { recursive: true, force: true });
  });
  afterEach(async function () {
    await fake.stop();
    fs.rmSync(work, { recursive: true, force: true });
    // Whatever the test: no secret in any output line or in any process's arguments.
    if (this.currentTest?.state === "passed") assertNoSecretLeaked(printed);
    printed = [];
  });

  const calls = () => cli.calls().slice(base);
  const callsOf = (words: string, stack?: string) =>
    calls().filter((c) => words.split(" ").every((w, i) => c.argv[i] === w) && (stack === undefined || c.stack === stack));
  const config = (name = STACK) => cli.config(name);
  const newSecretMessages = () => fake.live().filter((m) => parseNotification(m.body).kind === "new-secret");

  function addStack(name = STACK, extra: Record<string, string | number | boolean> = {}): void {
    cli.addStack(name, {
      config: { spApiRegion: "eu", lwaRotation: name === STACK, lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: addDays(today(), -170), ...extra },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      provider: { region: REGION },
      selected: name === STACK,
    });
  }

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return cli.env({
      ...fake.env(),
      AWS_ACCESS_KEY_ID: AWS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: AWS_KEY_SECRET,
      INIT_CWD: work,
      ...extra,
    });
  }

  function assertNoSecretLeaked(outputs: string[]): void {
    const secrets = [BY_HAND, OLD_SECRET, REFRESH_TOKEN, AWS_KEY_SECRET, ...fake.issued, ...fake.grantlessTokens, ...fake.accessTokens];
    const text = outputs.join("\n");
    const argv = calls().map((c) => c.argv.join(" "));
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), "a secret in the output");
      for (const args of argv) assert.ok(!args.includes(secret), "a secret in a process's arguments");
    }
  }

  async function rotate(opts: { ifDue?: boolean; dryRun?: boolean; waitSeconds?: number } = {}): Promise<{ exitCode: number; outcome: string; text: string }> {
    const e = env();
    const lines: string[] = [];
    const result = await rotateLwa(await openStack(STACK, { env: e }), {
      ifDue: opts.ifDue ?? false,
      waitSeconds: opts.waitSeconds ?? 2,
      out: "creds.hjson",
      dryRun: opts.dryRun,
      env: e,
      print: (line) => lines.push(line),
    });
    printed.push(...lines);
    return { exitCode: result.exitCode, outcome: result.outcome, text: lines.join("\n") };
  }

  async function byHand(
    what: "store" | "clear",
    opts: { text?: string; dryRun?: boolean; fromTerminal?: boolean } = {},
  ): Promise<{ report: ByHandReport; text: string }> {
    const e = env();
    const lines: string[] = [];
    const stack = await openStack(STACK, { env: e });
    const common = { dryRun: opts.dryRun, env: e, print: (line: string) => lines.push(line) };
    const report =
      what === "store"
        ? await storeByHand(stack, { text: opts.text ?? `${BY_HAND}\n`, fromTerminal: opts.fromTerminal ?? false }, common)
        : await clearSetAside(stack, common);
    printed.push(...lines);
    return { report, text: lines.join("\n") };
  }

  it("stores the secret from a slow pipe through npm from another directory, in the app's every stack, then a late message of an earlier request is set aside, never stored", async () => {
    const requestedAt = new Date(Date.now() - 10 * 60_000).toISOString();
    addStack(STACK, { lwaRotationRequestedAt: requestedAt, lwaClientSecretExpiresAt: `${addDays(today(), 10)}T00:00:00Z` });
    addStack(MEMBER);
    // An API request was made (its record above); Amazon's answer is on its way, but late.
    fake.deliverNewSecret = "later";
    const late = fake.rotate();
    const lateSentAt = parseNotification(fake.pending[0]!).kind === "new-secret" ? (parseNotification(fake.pending[0]!) as { sentAt: string }).sentAt : "";
    // Meanwhile the operator rotates in the Developer Console.
    fake.validSecrets.add(BY_HAND);
    await new Promise((resolve) => setTimeout(resolve, 20));

    const { code, stdout, stderr } = await runThroughNpm("rotate-lwa", ["--stack", STACK, "--stored-by-hand"], {
      cwd: work,
      env: env(),
      // A slow pipe: the secret in three pieces, then one newline, the pipe closed last.
      stdin: (pipe) => {
        pipe.write(BY_HAND.slice(0, 10));
        setTimeout(() => pipe.write(BY_HAND.slice(10, 40)), 300);
        setTimeout(() => pipe.end(`${BY_HAND.slice(40)}\n`), 700);
      },
    });
    printed.push(stdout, stderr);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /standard input holds an LWA client secret \(amzn1\.oa2-cs\.v1\. followed by hex\), 80 characters \(not shown\)/);
    assert.match(stdout, /removed lwaRotationRequestedAt .* from stack acme: a new secret that request still brings is older than this one/);
    assert.match(stdout, /✓ Stored the secret rotated by hand in acme, globex, and deployed it\./);
    for (const name of [STACK, MEMBER]) {
      assert.deepEqual(config(name).lwaClientSecret, { value: BY_HAND, secret: true }, `${name} holds the secret`);
      assert.equal(config(name).lwaClientSecretIssuedOn!.value, today());
      assert.equal(callsOf("up", name).length, 1, `${name} deployed`);
      assert.ok(String(cli.stack(name).outputs.credentials!.value).includes(BY_HAND), `${name}'s deployment holds it`);
      // The secret went to the CLI on standard input, never as an argument.
      assert.ok(callsOf("config set", name).some((c) => c.argv.includes("--secret") && c.stdin.includes(BY_HAND)));
    }
    const issuedAt = config().lwaClientSecretIssuedAt!.value;
    // As times, not strings: the message's time has whole seconds ("…:03Z"), the record milliseconds ("…:03.500Z").
    assert.ok(Date.parse(issuedAt) > Date.parse(lateSentAt), "recorded as issued now, after the earlier request's answer was sent");
    assert.equal(config().lwaRotationRequestedAt, undefined, "the request it answers is no longer recorded");
    assert.equal(config().lwaClientSecretExpiresAt, undefined, "the previous secret's expiry is gone");

    // The late answer of the earlier request arrives: never completed, kept, the line naming both times.
    fake.deliverPending();
    const later = await rotate({ ifDue: true });
    assert.equal(later.exitCode, 0, later.text);
    assert.equal(later.outcome, "not-due", later.text);
    const both = new RegExp(
      `set aside a new-secret message sent ${lateSentAt.replace(/[.]/g, "\\.")}, not after the stored secret \\(lwaClientSecretIssuedAt ${issuedAt.replace(/[.]/g, "\\.")}\\): ` +
        "a late answer to an earlier request, never stored\\. Recorded in lwaRotationSetAside \\(the secret kept in lwaRotationSetAsideSecret\\)",
    );
    assert.match(later.text, both);
    assert.deepEqual(config().lwaClientSecret, { value: BY_HAND, secret: true }, "the stack still holds the by-hand secret");
    assert.deepEqual(config(MEMBER).lwaClientSecret, { value: BY_HAND, secret: true });
    assert.deepEqual(config().lwaRotationSetAsideSecret, { value: late, secret: true });
    assert.equal(config().lwaRotationSetAside!.value, lateSentAt);
    assert.ok(String(cli.stack(STACK).outputs.credentials!.value).includes(BY_HAND), "the deployment was not rolled back");
    assert.deepEqual(newSecretMessages(), [], "its message is gone once the secret is kept");
    assert.equal(fake.rotations().length, 0, "nothing asked of Amazon");
  });

  it("a secret LWA refuses is kept, named by every run, until --clear-set-aside (its dry run first) removes it and deploys", async () => {
    addStack();
    fake.rejectNewSecrets = true;
    const refused = await rotate({ waitSeconds: 1 });
    assert.equal(refused.exitCode, 1, refused.text);
    assert.deepEqual(config().lwaRotationSetAsideSecret, { value: fake.issued[0], secret: true });
    const sentAt = config().lwaRotationSetAside!.value;

    // Every later run says it is kept, and how to clear it.
    const look = await rotate({ dryRun: true });
    assert.match(
      look.text,
      new RegExp(
        `a new secret set aside \\(sent ${sentAt.replace(/[.]/g, "\\.")}\\) is kept, its secret in lwaRotationSetAsideSecret: .*npm run rotate-lwa -- --clear-set-aside --stack acme`,
      ),
    );

    const upsBefore = callsOf("up").length;
    const dry = await byHand("clear", { dryRun: true });
    assert.equal(dry.report.outcome, "dry-run", dry.text);
    assert.match(
      dry.text,
      /would remove lwaRotationSetAside and lwaRotationSetAsideSecret \(set aside .*\) from stack acme, then pulumi up; nothing was changed/,
    );
    assert.deepEqual(config().lwaRotationSetAsideSecret, { value: fake.issued[0], secret: true }, "the dry run changed nothing");
    assert.equal(callsOf("config rm").length + callsOf("up").length - upsBefore, 0);

    const cleared = await byHand("clear");
    assert.equal(cleared.report.exitCode, 0, cleared.text);
    assert.equal(cleared.report.outcome, "cleared");
    assert.deepEqual(cleared.report.removed, ["acme: lwaRotationSetAside", "acme: lwaRotationSetAsideSecret"]);
    assert.equal(config().lwaRotationSetAside, undefined);
    assert.equal(config().lwaRotationSetAsideSecret, undefined);
    assert.equal(callsOf("up").length - upsBefore, 1, "deployed");
    assert.deepEqual(config().lwaClientSecret, { value: OLD_SECRET, secret: true });

    const again = await byHand("clear");
    assert.equal(again.report.outcome, "nothing-to-clear");
    assert.equal(again.report.exitCode, 0);
  });

  it("--dry-run says what it would store and changes nothing; an empty or misshapen input is refused without being shown", async () => {
    addStack(STACK, { lwaRotationRequestedAt: new Date(Date.now() - 60_000).toISOString() });
    addStack(MEMBER);
    const before = { acme: config(), globex: config(MEMBER) };
    const dry = await byHand("store", { dryRun: true });
    assert.equal(dry.report.exitCode, 0, dry.text);
    assert.equal(dry.report.outcome, "dry-run");
    assert.deepEqual(dry.report.stacks, [STACK, MEMBER]);
    assert.match(
      dry.text,
      /would store in stack acme: lwaClientSecret \(encrypted, from standard input\), lwaClientSecretIssuedAt .*; would remove lwaRotationRequestedAt; then pulumi up/,
    );
    assert.match(dry.text, /would store in stack globex: /);
    assert.deepEqual({ acme: config(), globex: config(MEMBER) }, before, "nothing changed");
    assert.equal(callsOf("config set").length + callsOf("config rm").length + callsOf("up").length, 0);

    const empty = await byHand("store", { text: "" });
    assert.equal(empty.report.exitCode, 2);
    assert.match(empty.report.reason, /no secret on standard input \(it was empty, or not a pipe or file\): pipe it in, e\.g\. .*< secret\.txt/);
    const misshapen = "hunter2 is my password\n";
    const bad = await byHand("store", { text: misshapen });
    assert.equal(bad.report.exitCode, 2);
    assert.match(bad.report.reason, /standard input is not an LWA client secret \(it holds spaces or tabs; the value is not shown\)/);
    assert.ok(!bad.text.includes("hunter2") && !bad.report.reason.includes("hunter2"));
    assert.deepEqual({ acme: config(), globex: config(MEMBER) }, before);
    assert.equal(callsOf("config set").length + callsOf("up").length, 0);
  });

  it("--json: one JSON document on standard output, through npm; an empty pipe is refused with exit 2 and stores nothing", async () => {
    addStack();
    const dry = await runThroughNpm("rotate-lwa", ["--stack", STACK, "--stored-by-hand", "--dry-run", "--json"], {
      cwd: work,
      env: env(),
      stdin: `${BY_HAND}\n`,
    });
    printed.push(dry.stdout, dry.stderr);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    const report = JSON.parse(dry.stdout) as ByHandReport;
    assert.equal(report.outcome, "dry-run");
    assert.equal(report.mode, "stored-by-hand");
    assert.equal(report.stacks[0], STACK);
    assert.match(dry.stderr, /would store in stack acme/);

    const empty = await runThroughNpm("rotate-lwa", ["--stack", STACK, "--stored-by-hand", "--json"], { cwd: work, env: env() });
    printed.push(empty.stdout, empty.stderr);
    assert.equal(empty.code, 2, empty.stdout + empty.stderr);
    assert.match((JSON.parse(empty.stdout) as ByHandReport).reason, /no secret on standard input/);
    assert.deepEqual(config().lwaClientSecret, { value: OLD_SECRET, secret: true });
    assert.equal(callsOf("config set").length + callsOf("up").length, 0);
  });
});

describe("rotate-lwa by hand: decisions", () => {
  const newSecret = (sentAt: string | undefined) => ({ kind: "new-secret" as const, clientId: CLIENT_ID, newClientSecret: "amzn1.oa2-cs.v1.abc", sentAt });

  it("a new secret not after the stored one is set aside, the line naming both times; a newer one completes", () => {
    const stored = { clientId: CLIENT_ID, value: BY_HAND, issuedAt: "2026-11-27T10:00:00Z" };
    const early = dispose(newSecret("2026-11-27T09:55:00Z"), stored);
    assert.deepEqual(early, {
      action: "set-aside",
      reason:
        "sent 2026-11-27T09:55:00Z, not after the stored secret (lwaClientSecretIssuedAt 2026-11-27T10:00:00Z): a late answer to an earlier request, never stored",
    });
    assert.equal(dispose(newSecret("2026-11-27T10:00:00Z"), stored).action, "set-aside", "the same instant is not after it");
    assert.equal(dispose(newSecret("2026-11-27T10:00:01Z"), stored).action, "complete");
    assert.match(
      (dispose(newSecret(undefined), stored) as { reason: string }).reason,
      /without a publish time: .*lwaClientSecretIssuedAt 2026-11-27T10:00:00Z/,
    );
    // The stored secret's own message finishes its rotation whatever its time.
    assert.equal(dispose({ ...newSecret("2026-11-27T09:55:00Z"), newClientSecret: BY_HAND }, stored).action, "complete");
    // Only the day known (a stack from before lwaClientSecretIssuedAt): a message of an earlier day is set aside.
    assert.equal(olderNewSecret(newSecret("2026-11-26T23:59:00Z"), { issuedOn: "2026-11-27" })?.action, "set-aside");
    assert.equal(olderNewSecret(newSecret("2026-11-27T08:00:00Z"), { issuedOn: "2026-11-27" }), undefined);
  });

  it("reads the secret: one trailing newline off, its shape checked, nothing of it in a problem", () => {
    assert.deepEqual(readByHandSecret(`${BY_HAND}\n`, false), { ok: true, secret: BY_HAND, legacy: false });
    assert.deepEqual(readByHandSecret(`${BY_HAND}\r\n`, false), { ok: true, secret: BY_HAND, legacy: false });
    assert.deepEqual(readByHandSecret(BY_HAND, true), { ok: true, secret: BY_HAND, legacy: false });
    assert.deepEqual(readByHandSecret(`${"0a".repeat(32)}\n`, false), { ok: true, secret: "0a".repeat(32), legacy: true });
    const twoNewlines = readByHandSecret(`${BY_HAND}\n\n`, false);
    assert.equal(twoNewlines.ok, false, "only one newline is taken off");
    assert.match((twoNewlines as { problem: string }).problem, /2 lines, not one/);
    assert.match((readByHandSecret("", false) as { problem: string }).problem, /^no secret on standard input \(it was empty, or not a pipe or file\)/);
    assert.match((readByHandSecret("\n", true) as { problem: string }).problem, /^no secret on standard input: paste it at the prompt/);
    const wrong = readByHandSecret("Atzr|not-a-client-secret\n", false) as { problem: string };
    assert.match(wrong.problem, /24 characters that are not "amzn1\.oa2-cs\.v1\." followed by hex/);
    assert.ok(!wrong.problem.includes("Atzr"));
    assert.match((readByHandSecret("x".repeat(5000), false) as { problem: string }).problem, /more than 4096 characters/);
  });

  it("ends the request record a by-hand secret answers; the set-aside slot keeps one secret until cleared", () => {
    assert.deepEqual(recordsEndedByHand({ lwaRotationRequestedAt: "2026-11-27T09:00:00Z" }, "2026-11-27T10:00:00Z"), ["lwaRotationRequestedAt"]);
    assert.deepEqual(recordsEndedByHand({ lwaRotationRequestedAt: "2026-11-27T11:00:00Z" }, "2026-11-27T10:00:00Z"), []);
    assert.deepEqual(recordsEndedByHand({}, "2026-11-27T10:00:00Z"), []);
    const t = "2026-11-27T10:00:00Z";
    assert.deepEqual(setAsideSlot({}, { sent: t, secret: "a" }), { write: "keep" });
    assert.deepEqual(setAsideSlot({ time: t, secret: "a" }, { sent: t, secret: "a" }), { write: "none" });
    assert.deepEqual(setAsideSlot({ time: t, secret: "a" }, { sent: "2026-11-28T00:00:00Z", secret: "b" }), { write: "occupied", keptSince: t });
    assert.deepEqual(setAsideSlot({ time: t }, { sent: "2026-11-28T00:00:00Z" }), { write: "keep" }, "an unshaped one: its time only");
    assert.deepEqual(setAsideSlot({ time: t, secret: "a" }, { sent: "2026-11-28T00:00:00Z" }), { write: "none" });
    assert.equal(setAsideNote("acme", {}), undefined);
    assert.match(setAsideNote("acme", { time: t, secret: true })!, /is kept, its secret in lwaRotationSetAsideSecret: .*--clear-set-aside --stack acme$/);
  });

  it("parses --stored-by-hand and --clear-set-aside: with --stack, --dry-run, --json only", () => {
    assert.deepEqual(
      { byHand: parseArgs(["--stored-by-hand", "--json", "-s", "acme"]).byHand, json: parseArgs(["--stored-by-hand", "--json"]).json },
      { byHand: "stored-by-hand", json: true },
    );
    assert.equal(parseArgs(["--clear-set-aside", "--dry-run"]).byHand, "clear-set-aside");
    assert.throws(() => parseArgs(["--stored-by-hand", "--clear-set-aside"]), UsageError);
    assert.throws(() => parseArgs(["--stored-by-hand", "--if-due"]), /--stored-by-hand does not go with --if-due/);
    assert.throws(() => parseArgs(["--clear-set-aside", "--wait", "5"]), /does not go with --wait/);
    assert.throws(() => parseArgs(["--json"]), /--json goes with --stored-by-hand or --clear-set-aside/);
    // The secret is never an argument: there is no flag that takes it.
    assert.throws(
      () => parseArgs(["--stored-by-hand", BY_HAND]),
      (error: Error) =>
        /from standard input, never from the command line \(the argument is not shown\)/.test(error.message) && !error.message.includes(BY_HAND),
    );
  });
});
