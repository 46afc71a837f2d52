/**
 * Issue 14, the LWA rotation half: what happens when rotate-lwa is killed, doubled and shared, against fakes that
 * model Amazon as documented (test/fake-lwa-rotation.ts: two secrets valid at once, a rotation retiring the older;
 * one rotation request a minute; SQS's visibility timeout) and the stand-in Pulumi CLI (which holds a per-stack
 * update lock during `up`, as a real backend does). Time is scaled in the fakes, never waited out in real minutes.
 *
 * The invariant every case checks: exactly one rotation in total, the newest secret stored (and one LWA accepts),
 * its block written, nothing left in the queue, no secret printed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { addDays } from "../src/lifecycle";
import { acquireLocks, lockDir, LockBusy, lockPaths, stackLock } from "../lib/lock";
import { openStack } from "../lib/pulumi";
import { groupOf, manualDeliveryReason, rotateLwa, type LwaRotationResult } from "../commands/rotate-lwa/run";
import { lanes } from "../commands/maintain/run";
import { parseMaintainArgs } from "../commands/maintain/cli";
import { rotateKey } from "../commands/rotate-key/run";
import { statusExitCode, statusRow, type StackFacts } from "../commands/status/decide";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const REPO = path.resolve(__dirname, "..");
const STACK = "acme";
const today = () => new Date().toISOString().slice(0, 10);
const AWS_KEY_ID = "AKIAOPERATOR7EXAMPLE";
const AWS_KEY_SECRET = "opErAtOr/SeCrEt+KeY=0123456789abcdefABCD";
/**
 * SQS visibility in the fake: holds as long as SQS's own (the run's 15 minutes, the queue's 60 s). A test that needs a
 * hold over ends it (fake.endHolds()); a shorter hold (3.6 s, as it was) ran out under a loaded machine while the run
 * still worked on the message, and its last step failed (MessageNotInflight).
 */
const VISIBILITY_SCALE = 1;

describe("rotate-lwa, run unattended: kills, two runs, a shared app, stale messages (issue 14)", function () {
  this.timeout(120_000);
  let fake: FakeLwaRotation;
  let cli: FakePulumi;
  let work: string;
  let printed: string[] = [];
  /** The stand-in CLI serves the whole file: each test reads only the calls made since it began. */
  let base = 0;
  const callsOf = (words: string, stack: string) => cli.callsOf(words, stack).filter((c) => c.startedAt >= startedAt);
  let startedAt = 0;

  before(() => (cli = FakePulumi.create()));
  after(() => cli.cleanup());
  beforeEach(async () => {
    fake = new FakeLwaRotation();
    fake.longPollScale = 0.05;
    fake.visibilityScale = VISIBILITY_SCALE;
    // A second request would succeed at once (and retire the secret jobs use): nothing hides a double rotation.
    fake.rateScale = 0.001;
    await fake.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "rotation-safety-"));
    base = cli.calls().length;
    startedAt = Date.now();
    for (const name of fs.readdirSync(path.join(cli.dir, "state", "stacks"))) fs.rmSync(path.join(cli.dir, "state", "stacks", name), { force: true });
    fs.rmSync(lockDir(cli.env()), { recursive: true, force: true });
  });
  afterEach(async function () {
    await fake.stop();
    fs.rmSync(work, { recursive: true, force: true });
    if (this.currentTest?.state === "passed") assertNoSecretLeaked(printed);
    printed = [];
  });

  function addStack(name = STACK, config: Record<string, string | number | boolean | object> = {}, issuedOn = addDays(today(), -170)): void {
    cli.addStack(name, {
      config: { spApiRegion: "eu", lwaRotation: true, lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: issuedOn, ...config },
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
      SP_API_IAM_LOCK_STALE_MS: "2000",
      INIT_CWD: work,
      ...extra,
    });
  }

  async function run(
    opts: { stack?: string; ifDue?: boolean; waitSeconds?: number; env?: NodeJS.ProcessEnv; now?: Date; requestAgain?: boolean; out?: string } = {},
  ): Promise<{ result: LwaRotationResult; text: string }> {
    const e = opts.env ?? env();
    const stack = await openStack(opts.stack ?? STACK, { env: e });
    const lines: string[] = [];
    const result = await rotateLwa(stack, {
      ifDue: opts.ifDue ?? false,
      waitSeconds: opts.waitSeconds ?? 3,
      out: opts.out ?? "creds.hjson",
      env: e,
      requestAgain: opts.requestAgain,
      ...(opts.now ? { now: () => opts.now! } : {}),
      print: (line) => lines.push(line),
    });
    printed.push(...lines);
    return { result, text: lines.join("\n") };
  }

  /** The command as a scheduler runs it: its own process, which the test can kill. */
  function startCli(args: string[], e: NodeJS.ProcessEnv = env()) {
    const child = spawn(process.execPath, ["-r", path.join(REPO, "tools", "register.js"), path.join(REPO, "commands", "rotate-lwa", "cli.ts"), ...args], {
      env: e,
      cwd: work,
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal })),
    );
    return { child, output: () => output, exited };
  }

  async function until(condition: () => boolean, what: string, ms = 240_000): Promise<void> {
    const end = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const config = (name = STACK) => cli.config(name);
  const blockSecret = (file = path.join(work, "creds.hjson")) => Hjson.parse(fs.readFileSync(file, "utf8")).credentials.client_secret as string;
  const newSecretMessages = () => fake.live().filter((m) => m.body.includes("APPLICATION_OAUTH_CLIENT_NEW_SECRET"));
  const secretSets = (name = STACK) => callsOf("config set", name).filter((c) => c.argv.includes("--secret"));

  function assertNoSecretLeaked(outputs: string[]): void {
    const secrets = [OLD_SECRET, REFRESH_TOKEN, AWS_KEY_SECRET, ...fake.issued, ...fake.grantlessTokens, ...fake.accessTokens];
    const text = outputs.join("\n");
    const argv = cli
      .calls()
      .slice(base)
      .map((c) => c.argv.join(" "));
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), "a secret in the output");
      for (const args of argv) assert.ok(!args.includes(secret), "a secret in a process's arguments");
    }
  }

  /** The end every case must reach: one rotation, its secret stored, accepted by LWA, in the block; the queue empty. */
  function assertOneRotationFinished(names: string[] = [STACK]): void {
    assert.equal(fake.rotations().length, 1, "exactly one rotation in total");
    const secret = fake.issued[0]!;
    assert.ok(fake.validSecrets.has(secret), "the stored secret is one LWA accepts");
    for (const name of names) {
      assert.deepEqual(config(name).lwaClientSecret, { value: secret, secret: true }, `${name} holds the newest secret`);
      // Another stack of the app: its own block in the private credentials directory, never beside --out.
      const file = name === STACK ? path.join(work, "creds.hjson") : path.join(work, "credentials", `${name}.hjson`);
      assert.equal(blockSecret(file), secret, `${name}'s block`);
      assert.equal(String(cli.stack(name).outputs.credentials!.value).includes(JSON.stringify(secret)), true, `${name} is deployed with it`);
    }
    assert.deepEqual(newSecretMessages(), [], "nothing left in the queue");
    assert.deepEqual(fake.sqsCalls("SendMessage"), [], "nothing written to the queue: the record is in the stack's config");
    const requestedAt = config().lwaRotationRequestedAt?.value;
    if (requestedAt) assert.ok(Date.parse(config().lwaClientSecretIssuedAt!.value) >= Date.parse(requestedAt) - 120_000, "the record is answered");
  }

  describe("killed at each phase, rerun before and after the message's hold: exactly one rotation, nothing lost", function () {
    // Margins, not measurements: on a loaded machine a killed run's restart can take many times its usual second.
    this.timeout(300_000);
    const phases = [
      { phase: "after the request", line: /Amazon accepted the rotation/ },
      { phase: "after config set", line: /stored the new secret in stack acme's config/ },
      { phase: "during up", line: /pulumi up --stack acme/, slowUp: true },
      // Held at the fake until the kill: the line alone left a race on a loaded machine (the delete, the test's own
      // fake's to answer, could be answered and the run end with 0 before the test, polling, saw the line).
      { phase: "before the delete", line: /wrote the new credentials block of acme/, holdDelete: true },
    ];
    for (const signal of ["SIGKILL", "SIGINT"] as const) {
      for (const p of phases) {
        it(`${signal} ${p.phase}`, async () => {
          addStack();
          if (p.slowUp) cli.update(STACK, (s) => (s.upDelayMs = 1500));
          fake.holdDeletes = p.holdDelete ?? false;
          const first = startCli(["--stack", STACK, "--out", "creds.hjson", "--wait", "10"]);
          await until(() => p.line.test(first.output()), `"${p.line.source}" in the output:\n${first.output()}`);
          if (p.holdDelete) await until(() => fake.calls.some((c) => c.action === "delete-held"), "the run's delete, held");
          first.child.kill(signal);
          const { code, signal: got } = await first.exited;
          fake.holdDeletes = false;
          assert.ok(code !== 0 || got !== null, `the run was cut short (${code}, ${got})`);
          printed.push(first.output());
          cli.update(STACK, (s) => delete s.upDelayMs);
          // A killed run's `up` may still be finishing in the backend, as a real one would.
          await until(() => !fs.existsSync(path.join(cli.dir, "state", "stacks", `${STACK}.json.update-lock`)), "the backend's update lock");

          // Rerun at once, as README invites, while the message may still be hidden: no second request.
          const early = await run({ waitSeconds: 1 });
          assert.equal(fake.rotations().length, 1, `no second rotation on an early rerun:\n${early.text}`);
          // It waits for the answer to the recorded request, or (the secret already stored) declines to rotate again.
          if (early.result.outcome !== "rotated") assert.match(early.text, /no new request|rotating again within 7 days would retire the previous secret/);

          // After the hold has ended (the queue's clock moved on, not waited for): the rerun finishes.
          fake.endHolds();
          const late = await run({ waitSeconds: 3 });
          assert.equal(late.result.exitCode, 0, late.text);
          assertOneRotationFinished();
          assert.ok(secretSets().length <= 2, "the secret set at most once per run that got that far");
        });
      }
    }
  });

  it("killed while config set read the secret from stdin (the key left empty): the recorded rotation still completes from the queue", async () => {
    addStack("acme", { lwaRotationRequestedAt: new Date(Date.now() - 60_000).toISOString() });
    cli.removeConfig(STACK, "lwaClientSecret");
    const secret = fake.rotate();
    const { result, text } = await run();
    assert.equal(result.exitCode, 0, text);
    assert.equal(fake.rotations().length, 0, "no request: the recorded one is answered from the queue");
    assert.deepEqual(config().lwaClientSecret, { value: secret, secret: true });
    assert.equal(blockSecret(), secret);
    assert.deepEqual(newSecretMessages(), []);
  });

  it("two runs at once on one stack: the second waits for the lock, then finds the rotation done: one rotation", async () => {
    addStack();
    cli.update(STACK, (s) => (s.upDelayMs = 1000));
    // The second starts once the first holds the stack's lock (an event, not a delay).
    const held = lockPaths(stackLock(STACK, env()), env()).lock;
    const [a, b] = await Promise.all([run(), until(() => fs.existsSync(held), "the first run's lock").then(() => run())]);
    printed.push(a.text, b.text);
    assert.deepEqual([a.result.exitCode, b.result.exitCode], [0, 0], `${a.text}\n---\n${b.text}`);
    const second = [a, b].find((r) => r.result.outcome !== "rotated")!;
    assert.ok(second, "only one run rotated");
    assert.match(second.text, /rotating again within 7 days would retire the previous secret/);
    assertOneRotationFinished();
  });

  it("a second run that cannot wait exits 1 naming the lock's holder (pid, command, since when)", async () => {
    addStack();
    const held = await acquireLocks([stackLock(STACK, env())], { env: env(), command: "rotate-lwa --stack acme" });
    try {
      const { result, text } = await run({ env: env({ SP_API_IAM_LOCK_WAIT_MS: "0" }) });
      assert.equal(result.exitCode, 1);
      assert.match(text, new RegExp(`stack acme is in use by process ${process.pid} \\(rotate-lwa --stack acme\\) on .* since \\d{4}-\\d\\d-\\d\\dT`));
      assert.equal(fake.rotations().length, 0);
    } finally {
      await held.release();
    }
  });

  it("a lock left by a killed process is broken once stale, and the run goes on", async () => {
    addStack();
    const paths = lockPaths(stackLock(STACK, env()), env());
    fs.mkdirSync(paths.lock, { recursive: true });
    fs.writeFileSync(paths.holder, JSON.stringify({ pid: 999_999, command: "rotate-lwa", since: "2026-01-01T00:00:00Z", host: os.hostname() }));
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(paths.lock, old, old);
    const { result, text } = await run();
    assert.equal(result.exitCode, 0, text);
    assertOneRotationFinished();
  });

  it("another machine sharing the backend records and deploys its request just after this run's write: this run's up is refused, it does not ask", async () => {
    addStack();
    const stack = await openStack(STACK, { env: env() });
    const otherMachine = await openStack(STACK, { env: env() });
    const other = new Date(Date.now() + 500).toISOString();
    // The other machine's record and its `up` land between this run's write and its own `up` (no lock spans machines).
    const racing = Object.assign(Object.create(stack) as typeof stack, {
      setConfig: async (key: string, value: string) => {
        await stack.setConfig(key, value);
        if (key === "lwaRotationRequestedAt") {
          await otherMachine.setConfig("lwaRotationRequestedAt", other);
          await otherMachine.up();
        }
      },
    });
    const lines: string[] = [];
    const result = await rotateLwa(racing, { ifDue: false, waitSeconds: 1, out: "creds.hjson", env: env(), print: (l) => lines.push(l) });
    printed.push(...lines);
    assert.equal(result.outcome, "waiting", lines.join("\n"));
    assert.match(lines.join("\n"), /another run changed this stack's state .* just before this one: it acts, this run does not ask/);
    assert.equal(fake.calls.filter((c) => c.service !== "sqs").length, 0, "no token, no rotation request");
    const deployed = cli.stack(STACK).outputs.operationalState!.value as { values: Record<string, string> };
    assert.equal(deployed.values.lwaRotationRequestedAt, other, "the other machine's record is the deployed one");
    // This run's `up` was refused by the program's compare-and-set (SP_API_IAM_STATE_BASE), not skipped.
    assert.equal(callsOf("up", STACK).length, 2);
  });

  it("concurrent rotate-key on one stack (maintain --stack dev --stack dev): one run at a time; maintain drops the duplicate", async () => {
    assert.deepEqual((parseMaintainArgs(["--stack", "dev", "--stack", "dev", "--stack", "prod"]) as { stacks: string[] }).stacks, ["dev", "prod"]);
    addStack();
    const held = await acquireLocks([stackLock(STACK, env())], { env: env(), command: "rotate-key --stack acme" });
    try {
      const stack = await openStack(STACK, { env: env() });
      const lines: string[] = [];
      const report = await rotateKey(stack, {
        ifDue: true,
        dryRun: false,
        out: "k.hjson",
        env: env({ SP_API_IAM_LOCK_WAIT_MS: "0" }),
        print: (l) => lines.push(l),
      });
      assert.equal(report.exitCode, 1);
      assert.match(report.reason, /stack acme is in use by process \d+ \(rotate-key --stack acme\)/);
      assert.equal(callsOf("config set", STACK).length + callsOf("up", STACK).length, 0, "nothing put back, nothing deployed");
    } finally {
      await held.release();
    }
  });

  it("a stale new-secret message after the hold ends, sent the same day: set aside and kept, never stored (it used to roll the stack back)", async () => {
    addStack();
    // The first rotation, and a second one's secret stored later the same day.
    const first = await run();
    assert.equal(first.result.exitCode, 0, first.text);
    const stored = fake.issued[0]!;
    const storedAt = config().lwaClientSecretIssuedAt!.value;
    // An older message of the same app (sent 5 minutes before the stored one) reappears.
    const older = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    fake.validSecrets.add(older);
    fake.send(fake.newSecretBody(older, { eventTime: new Date(Date.parse(storedAt) - 5 * 60_000).toISOString() }));
    const later = await run({ ifDue: true });
    assert.equal(later.result.exitCode, 0, later.text);
    assert.match(
      later.text,
      /set aside a new-secret message sent .*, not after the stored secret \(lwaClientSecretIssuedAt .*\): a late answer to an earlier request, never stored\. Recorded in lwaRotationSetAside \(the secret kept in lwaRotationSetAsideSecret\)/,
    );
    assert.equal(config().lwaClientSecret!.value, stored);
    assert.equal(config().lwaRotationSetAsideSecret!.value, older, "kept, never thrown away (issue 20)");
    assert.equal(blockSecret(), stored);
    assert.deepEqual(newSecretMessages(), []);
  });

  it("expiry truth: a new-secret message without newClientSecretExpiryTime removes the old expiry; --if-due the next day is not due", async () => {
    addStack("acme", { lwaClientSecretExpiresAt: `${addDays(today(), 10)}T00:00:00Z` });
    const body = (secret: string) => {
      const parsed = JSON.parse(fake.newSecretBody(secret));
      delete parsed.payload.applicationOAuthClientNewSecret.newClientSecretExpiryTime;
      return JSON.stringify(parsed);
    };
    fake.deliverNewSecret = "later";
    const first = run({ waitSeconds: 5 });
    await until(() => fake.rotations().length === 1, "the rotation");
    fake.send(body(fake.issued[0]!));
    fake.pending = [];
    const { result, text } = await first;
    printed.push(text);
    assert.equal(result.exitCode, 0, text);
    assert.equal(config().lwaClientSecretExpiresAt, undefined, "the previous secret's expiry is gone");
    assert.match(text, /Amazon did not say when the new secret expires; about .* \(in 180 days\)/);
    assert.doesNotMatch(text, /ago\) \+ 180 days/);
    const tomorrow = new Date(Date.now() + 86_400_000);
    const next = await run({ ifDue: true, now: tomorrow });
    assert.equal(next.result.outcome, "not-due", next.text);
    assert.equal(fake.rotations().length, 1);
  });

  it("a forged '✓ not due' line in a queue message never reaches the terminal", async () => {
    addStack("acme", {}, addDays(today(), -10));
    fake.send(JSON.stringify({ notificationType: "X\n✓ not due: forged\x1b[2K\r" }));
    const { result, text } = await run({ ifDue: true });
    assert.equal(result.exitCode, 0);
    const lines = text.split("\n");
    assert.equal(lines.filter((l) => l.startsWith("✓ not due")).length, 1, "only the command's own verdict");
    assert.ok(!lines.some((l) => l.startsWith("✓ not due: forged")));
    assert.ok(!text.includes("\x1b") && !text.includes("\r"));
  });

  it("a plain http:// SQS (or IAM) endpoint to another machine is refused, as verify refuses one for STS", async () => {
    addStack();
    const { result, text } = await run({ env: env({ AWS_ENDPOINT_URL_SQS: "http://sqs.example.com" }) });
    assert.equal(result.exitCode, 2);
    assert.match(text, /AWS_ENDPOINT_URL_SQS is plain http:\/\/ to another machine/);
    assert.equal(fake.calls.length, 0);
    const stack = await openStack(STACK, { env: env() });
    const report = await rotateKey(stack, {
      ifDue: true,
      dryRun: false,
      out: "k.hjson",
      env: env({ AWS_ENDPOINT_URL_IAM: "http://iam.example.com" }),
      print: () => undefined,
    });
    assert.equal(report.exitCode, 2);
    assert.match(report.reason, /AWS_ENDPOINT_URL_IAM is plain http:\/\/ to another machine/);
  });

  describe("one LWA app, several stacks", () => {
    it("two stacks of one app with lwaRotation: refused before anything is asked, naming both", async () => {
      addStack("acme");
      addStack("globex");
      const { result, text } = await run();
      assert.equal(result.exitCode, 1);
      assert.match(text, /stacks acme, globex share the LWA app .* and all have lwaRotation on/);
      assert.equal(fake.calls.filter((c) => c.service !== "sqs").length, 0);
      assert.equal(fake.sqsCalls().length, 0);
    });

    it("one rotation stores the new secret in every stack of the app (each through stdin, each up), with each block", async () => {
      addStack("acme", { jobConfigs: ["jobs/a.json"] });
      cli.addStack("globex", {
        config: { spApiRegion: "eu", lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: addDays(today(), -170), jobConfigs: ["jobs/g.json"] },
        secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      });
      const { result, text } = await run();
      assert.equal(result.exitCode, 0, text);
      assert.deepEqual(result.groupUpdated, ["globex"]);
      assert.match(text, /LWA app group: acme, globex/);
      assertOneRotationFinished(["acme", "globex"]);
      const secret = fake.issued[0]!;
      // Globex's block in its own place, the private credentials directory; nothing of it beside --out.
      const globexBlock = path.join(work, "credentials", "globex.hjson");
      assert.equal(Hjson.parse(fs.readFileSync(globexBlock, "utf8")).credentials.client_secret, secret);
      assert.equal(fs.statSync(globexBlock).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(globexBlock)).mode & 0o777, 0o700);
      assert.ok(!fs.existsSync(path.join(work, "globex.hjson")), "not beside --out");
      assert.match(text, new RegExp(`wrote the new credentials block of globex to ${globexBlock.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(mode 600\\)`));
      const member = await run({ stack: "globex" });
      assert.match(member.text, /stack globex shares its LWA app with stack acme, which has lwaRotation.*\n.*Fix: npm run rotate-lwa -- --stack acme/);
      assert.equal(fake.rotations().length, 1);
      for (const name of ["acme", "globex"]) {
        const sets = secretSets(name);
        assert.equal(sets.length, 1, `${name}: the secret set once`);
        assert.equal(sets[0]!.stdin, secret, `${name}: through standard input`);
        assert.equal(callsOf("up", name).length, name === STACK ? 2 : 1, `${name}: the rotating stack also deploys its rotation record`);
        assert.equal(config(name).lwaClientSecretIssuedAt!.value, config("acme").lwaClientSecretIssuedAt!.value);
      }
    });

    it("--out colliding with a member's name or file: refused before anything is asked; then --out's directory holds acme's block only", async () => {
      const GLOBEX_TOKEN = "Atzr|IwEBI-globex-sellers-own-token-0123456789";
      addStack("acme", { jobConfigs: ["jobs/a.json"] });
      cli.addStack("globex", {
        config: { spApiRegion: "eu", lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: addDays(today(), -170), jobConfigs: ["jobs/g.json"] },
        secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: GLOBEX_TOKEN },
      });
      fs.mkdirSync(path.join(work, "acme-jobs"));
      fs.mkdirSync(path.join(work, "credentials"), { mode: 0o700 });
      for (const out of ["acme-jobs/globex.hjson", "credentials/globex.hjson"]) {
        const { result, text } = await run({ out });
        assert.equal(result.exitCode, 2, text);
        assert.match(text, /--out .*globex\.hjson (is named for stack globex, which shares this LWA app|is where the block of stack globex goes)/);
        assert.match(text, /Nothing was asked or changed\.\n {2}Fix: give --out a file named for stack acme \(e\.g\. acme\.hjson\)/);
      }
      assert.equal(fake.calls.length, 0, "nothing asked of LWA, Amazon or the queue");
      assert.deepEqual(callsOf("config set", "acme"), []);
      assert.deepEqual(fs.readdirSync(path.join(work, "acme-jobs")), [], "nothing written there");

      const { result, text } = await run({ out: "acme-jobs/acme.hjson" });
      assert.equal(result.exitCode, 0, text);
      assert.deepEqual(fs.readdirSync(path.join(work, "acme-jobs")), ["acme.hjson"], "--out's directory: acme's block alone");
      for (const name of fs.readdirSync(path.join(work, "acme-jobs"))) {
        assert.ok(!fs.readFileSync(path.join(work, "acme-jobs", name), "utf8").includes(GLOBEX_TOKEN), "no other customer's token in --out's directory");
      }
      assert.equal(Hjson.parse(fs.readFileSync(path.join(work, "credentials", "globex.hjson"), "utf8")).credentials.refresh_token, GLOBEX_TOKEN);
    });

    it("the proof may use any authorization's token: the default one revoked (invalid_grant), the EU one accepted: rotated", async () => {
      cli.addStack(STACK, {
        config: { spApiRegion: "na", lwaRotation: true, lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: addDays(today(), -170), jobConfigs: ["jobs/a.json"] },
        secrets: {
          lwaClientSecret: OLD_SECRET,
          lwaRefreshToken: "Atzr|IwEBI-revoked-by-the-seller-0123456789",
          // The fake's LWA accepts REFRESH_TOKEN: here the seller's EU authorization.
          authorizations: JSON.stringify({ eu: { spApiRegion: "eu", refreshToken: REFRESH_TOKEN } }),
        },
        provider: { region: REGION },
        selected: true,
      });
      const { result, text } = await run();
      assert.equal(result.exitCode, 0, text);
      assertOneRotationFinished([STACK]);
      const exchanges = fake.calls.filter((c) => c.service === "lwa" && c.action === "refresh_token");
      assert.ok(exchanges.length >= 2, "the default token first, then the EU one");
    });

    it("maintain orders an app's stacks in one lane, the rotating one first; a member's lwa step names it", () => {
      assert.deepEqual(
        lanes([
          { name: "globex", lwaClientId: "app1", lwaRotation: false },
          { name: "solo", lwaRotation: false },
          { name: "acme", lwaClientId: "app1", lwaRotation: true },
        ]),
        [["acme", "globex"], ["solo"]],
      );
      const group = groupOf("app1", [
        { name: "b", values: { lwaClientId: "app1", jobConfigs: '["x.json"]' } },
        { name: "a", values: { lwaClientId: "app1", lwaRotation: "true" } },
        { name: "c", values: { lwaClientId: "app2" } },
      ]);
      assert.deepEqual(group, [
        { name: "a", lwaRotation: true, jobConfigs: 0 },
        { name: "b", lwaRotation: false, jobConfigs: 1 },
      ]);
      assert.match(manualDeliveryReason(group)!, /stack a lists no jobConfigs/);
    });
  });

  describe("never ahead of delivery; an unanswered request is an incident", () => {
    it("20 days left: a stack without jobConfigs is not due (it waits for the last 7 days); one with jobConfigs rotates", async () => {
      const issuedOn = addDays(today(), -160);
      addStack("acme", {}, issuedOn);
      const manual = await run({ ifDue: true });
      assert.equal(manual.result.outcome, "not-due", manual.text);
      assert.match(manual.text, /--if-due rotates from 7 days before \(stack acme lists no jobConfigs/);
      assert.equal(fake.rotations().length, 0);
      addStack("acme", { jobConfigs: ["jobs/a.json"] }, issuedOn);
      const automated = await run({ ifDue: true });
      assert.equal(automated.result.outcome, "rotated", automated.text);
    });

    it("a request recorded 2 days ago, unanswered: exit 1 INCIDENT, no new request; after 9 days with the stored secret still working, asked again", async () => {
      addStack("acme", { lwaRotationRequestedAt: new Date(Date.now() - 2 * 86_400_000).toISOString(), jobConfigs: ["jobs/a.json"] });
      const incident = await run({ ifDue: true, waitSeconds: 1 });
      assert.equal(incident.result.exitCode, 1);
      assert.match(incident.text, /INCIDENT: the rotation requested at .* \(lwaRotationRequestedAt\) has had no new secret in the queue for over a day/);
      assert.match(incident.text, /--request-again/);
      assert.equal(fake.rotations().length, 0);

      addStack("acme", { lwaRotationRequestedAt: new Date(Date.now() - 9 * 86_400_000).toISOString(), jobConfigs: ["jobs/a.json"] });
      const evidence = await run({ ifDue: true });
      assert.match(evidence.text, /the stored secret still works 8\+ days later: Amazon did not act on it/);
      assert.equal(evidence.result.outcome, "rotated", evidence.text);
      assert.equal(fake.rotations().length, 1);
    });

    it("--request-again, through the user's door: asks although a request is recorded", async () => {
      addStack("acme", { lwaRotationRequestedAt: new Date(Date.now() - 2 * 86_400_000).toISOString() });
      const result = await runThroughNpm("rotate-lwa", ["--stack", STACK, "--out", "creds.hjson", "--wait", "5", "--request-again"], {
        cwd: work,
        env: env(),
      });
      printed.push(result.stdout, result.stderr);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /--request-again: the request of .* is taken as not acted on/);
      assertOneRotationFinished();
    });
  });

  it("locks: a held lock refuses a second taker; released, it can be taken again", async () => {
    const fast = env({ SP_API_IAM_LOCK_WAIT_MS: "0" });
    const held = await acquireLocks([stackLock("acme", fast)], { env: fast, command: "test" });
    await assert.rejects(acquireLocks([stackLock("acme", fast)], { env: fast, command: "test" }), LockBusy);
    await held.release();
    const again = await acquireLocks([stackLock("acme", fast)], { env: fast, command: "test" });
    await again.release();
  });
});

describe("status shows what rotate-lwa left for a person (issue 14)", () => {
  const NOW = new Date("2026-11-27T12:00:00Z");
  const facts = (config: Record<string, string>, sharedWith?: string[]): StackFacts => ({
    name: "acme",
    ...(sharedWith ? { sharedWith } : {}),
    config: { values: config, secretKeys: new Set(), provider: {} },
    outputs: {
      accessKeyCreatedAt: { value: "2026-11-20T00:00:00Z", secret: false },
      accessKeySlots: { value: [{ slot: "a", generation: 1, status: "Active", pgpKey: null }], secret: false },
    },
  });
  const lwa = { lwaClientId: CLIENT_ID, lwaRotation: "true", lwaClientSecretIssuedOn: "2026-06-10" }; // expires 2026-12-07: 10 days

  it("an unanswered request: due on its first day, an overdue INCIDENT after; answered, nothing", () => {
    const fresh = statusRow(facts({ ...lwa, jobConfigs: '["j.json"]', lwaRotationRequestedAt: "2026-11-27T08:00:00Z" }), NOW);
    assert.equal(fresh.lwa?.unansweredRequest, "2026-11-27T08:00:00Z");
    const old = statusRow(facts({ ...lwa, jobConfigs: '["j.json"]', lwaRotationRequestedAt: "2026-11-25T08:00:00Z" }), NOW);
    assert.equal(old.next?.urgency, "overdue");
    assert.match(old.next!.what, /^INCIDENT: the LWA rotation requested 2026-11-25T08:00:00Z has no new secret yet; no run asks again/);
    assert.equal(statusExitCode([old]), 1);
    const answered = statusRow(
      facts({ ...lwa, lwaRotationRequestedAt: "2026-11-25T08:00:00Z", lwaClientSecretIssuedAt: "2026-11-25T08:00:30Z", lwaClientSecretIssuedOn: "2026-11-25" }),
      NOW,
    );
    assert.equal(answered.lwa?.unansweredRequest, undefined);
    assert.equal(answered.next?.urgency, "ok");
  });

  it("a message set aside is reported; the app's other stacks are named", () => {
    const row = statusRow(facts({ ...lwa, lwaClientSecretIssuedOn: "2026-11-20", lwaRotationSetAside: "2026-11-26T10:00:00Z" }, ["globex"]), NOW);
    assert.equal(row.lwa?.setAside, "2026-11-26T10:00:00Z");
    assert.match(row.next!.what, /a new secret set aside \(sent 2026-11-26T10:00:00Z\) is kept: .*npm run rotate-lwa -- --clear-set-aside --stack /);
    assert.deepEqual(row.lwa?.sharedWith, ["globex"]);
  });

  it("without jobConfigs the rotation date is 7 days before expiry, and it says why", () => {
    const manual = statusRow(facts(lwa), NOW);
    assert.equal(manual.next?.date, "2026-11-30");
    assert.equal(manual.next?.urgency, "ok");
    assert.match(manual.next!.what, /rotates no earlier than 7 days before expiry/);
    const automated = statusRow(facts({ ...lwa, jobConfigs: '["j.json"]' }), NOW);
    assert.equal(automated.next?.date, "2026-11-07");
    assert.equal(automated.next?.urgency, "due");
  });
});
