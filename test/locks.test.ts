/**
 * Issue 20, point 4: the commands' locks (lib/lock.ts). Keyed by backend and stack and by LWA client id, never by
 * the user; in a directory every user of the host shares; a directory that cannot be made is one line; a holder
 * whose lock was broken while it was suspended stops before its next side effect.
 *
 * Waits are on events (a line printed, a request received, a lock taken, a process gone), never on a sleep, and no
 * assertion is about how long anything took.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import type * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import {
  acquireLocks,
  backendOf,
  DEFAULT_LOCK_DIR,
  LockBusy,
  LockLost,
  lockPaths,
  lwaAppLock,
  makeSharedDir,
  prepareLockDir,
  stackLock,
  type HeldLocks,
} from "../lib/lock";
import type { SlotRecord } from "../src/lifecycle";
import { FakeIam } from "./fake-iam";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi } from "./fake-pulumi";

const REPO = path.resolve(__dirname, "..");
const DAY = 86_400_000;

/** A process's output, line by line as it comes, and its end. */
class Child {
  out = "";
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    const take = (chunk: Buffer) => {
      this.out += chunk.toString("utf8");
      this.waiters = this.waiters.filter((w) => {
        const m = this.out.match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    this.done = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  }

  /** Resolves when the output matches `re` (rejects if the process ends first). */
  waitFor(re: RegExp): Promise<RegExpMatchArray> {
    const m = this.out.match(re);
    if (m) return Promise.resolve(m);
    return Promise.race([
      new Promise<RegExpMatchArray>((resolve) => this.waiters.push({ re, resolve })),
      this.done.then(() => {
        const late = this.out.match(re);
        if (late) return late;
        throw new Error(`the process ended without printing ${re}:\n${this.out}`);
      }),
    ]);
  }
}

function tsProcess(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): Child {
  return new Child(spawn(process.execPath, ["-r", path.join(REPO, "tools", "register.js"), ...args], { cwd: opts.cwd ?? REPO, env: opts.env }));
}

/**
 * A process that takes the stack's lock (lib/lock.ts itself) and holds it until its standard input closes; it
 * prints "held" once it has it, or the error's name and message. With HOLDER_UID it loads the code as it starts
 * (root), then becomes that user (groups, gid and uid, for good) in its HOME before it takes the lock: the clone,
 * with Node and node_modules, may sit where that user cannot enter (a 0700 mktemp -d directory, root's home), and the
 * locking itself runs as the ordinary user.
 */
const HOLDER_SCRIPT = `
const { acquireLocks, stackLock } = require(${JSON.stringify(path.join(REPO, "lib", "lock"))});
const uid = Number(process.env.HOLDER_UID);
if (uid) {
  process.setgroups([uid]);
  process.setgid(uid);
  process.setuid(uid);
  try {
    process.chdir(process.env.HOME);
  } catch (error) {
    console.log("failed: uid " + uid + " cannot enter " + process.env.HOME + ": " + error.message);
    process.exit(9);
  }
}
(async () => {
  try {
    const held = await acquireLocks([stackLock("acme", process.env)], { env: process.env, command: "holder" });
    console.log("held by " + process.pid);
    process.stdin.on("end", async () => { await held.release(); console.log("released"); });
    process.stdin.resume();
  } catch (error) {
    console.log("failed: " + error.name + ": " + error.message);
    process.exitCode = 1;
  }
})();
`;

describe("locks: keyed by backend and stack, never by the user (issue 20)", () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "locks-"))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const home = (name: string, current?: string) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(path.join(dir, ".pulumi"), { recursive: true });
    if (current) fs.writeFileSync(path.join(dir, ".pulumi", "credentials.json"), JSON.stringify({ current, accessTokens: {} }));
    return dir;
  };

  it("the backend is chosen as the Pulumi CLI does: PULUMI_BACKEND_URL, Pulumi.yaml's backend.url, the current login, Pulumi Cloud", () => {
    const project = path.join(tmp, "project");
    fs.mkdirSync(project);
    const alice = home("alice", "s3://team-state/pulumi?region=eu-west-1");
    assert.equal(backendOf({ PULUMI_BACKEND_URL: "s3://other/x/", PULUMI_HOME: path.join(alice, ".pulumi") }, project), "s3://other/x");
    assert.equal(backendOf({ PULUMI_HOME: path.join(alice, ".pulumi") }, project), "s3://team-state/pulumi", "the login's query (region) is not the backend");
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: sp-api-iam\nruntime: nodejs\nbackend:\n  url: file://./state\n");
    assert.equal(backendOf({ PULUMI_HOME: path.join(alice, ".pulumi") }, project), `file://${path.join(project, "state")}`);
    fs.rmSync(path.join(project, "Pulumi.yaml"));
    assert.equal(backendOf({ PULUMI_HOME: path.join(tmp, "nobody") }, project), "https://api.pulumi.com");
    assert.equal(backendOf({ PULUMI_BACKEND_URL: "file://~" }, project), `file://${os.homedir()}`);
    assert.equal(backendOf({ PULUMI_BACKEND_URL: "https://API.pulumi.com/" }, project), "https://api.pulumi.com");
  });

  it("two users (different HOME, each logged in to the same backend) take the same lock; another backend or stack is another lock", () => {
    const backend = "s3://team-state/pulumi";
    const alice = { HOME: home("alice", backend), PULUMI_HOME: path.join(tmp, "alice", ".pulumi") };
    const bob = { HOME: home("bob", `${backend}?region=eu-west-1`), PULUMI_HOME: path.join(tmp, "bob", ".pulumi") };
    const carol = { HOME: home("carol", "s3://carols-own/pulumi"), PULUMI_HOME: path.join(tmp, "carol", ".pulumi") };
    assert.equal(stackLock("acme", alice).name, stackLock("acme", bob).name);
    assert.equal(stackLock("acme", alice).name, stackLock("organization/sp-api-iam/acme", bob).name, "a DIY backend's full stack name is the same stack");
    assert.notEqual(stackLock("acme", alice).name, stackLock("acme", carol).name);
    assert.notEqual(stackLock("acme", alice).name, stackLock("acme-eu", alice).name);
    assert.match(stackLock("acme", alice).name, /^stack-acme-[0-9a-f]{16}$/, "a readable prefix, then the hash");
    assert.equal(stackLock("acme", alice).what, "stack acme");
    const app = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
    assert.match(lwaAppLock(app).name, /^lwa-amzn1\.application-oa2-client\.0123456789abcdef012-[0-9a-f]{16}$/);
    const odd = stackLock("../../etc/passwd", alice).name;
    assert.ok(/^stack-[A-Za-z0-9._-]+$/.test(odd) && path.dirname(path.join("/locks", odd)) === "/locks", `no name leaves the directory: ${odd}`);
    for (const env of [alice, bob, carol]) assert.ok(!stackLock("acme", env).name.includes(path.basename(env.HOME)));
  });

  it("the default directory is /tmp's, shared: created 1777 whatever the umask; each key's own directory 0777, not sticky", async function () {
    // The default itself is not touched by a test: the same code makes a directory of the test's.
    const shared = path.join(tmp, "shared");
    const before = process.umask(0o077);
    let held: HeldLocks | undefined;
    try {
      assert.equal(DEFAULT_LOCK_DIR, "/tmp/sp-api-iam-locks");
      makeSharedDir(shared); // what prepareLockDir does with the default
      assert.equal(fs.statSync(shared).mode & 0o7777, 0o1777, "sticky, writable by every user");
      const env = { SP_API_IAM_LOCK_DIR: shared, PULUMI_BACKEND_URL: "file:///srv/state" };
      held = await acquireLocks([stackLock("acme", env)], { env, command: "test" });
      const paths = lockPaths(stackLock("acme", env), env);
      assert.equal(fs.statSync(paths.dir).mode & 0o7777, 0o777, "the key's directory: anyone may break a stale lock in it");
      assert.equal(fs.statSync(paths.holder).mode & 0o777, 0o644, "who holds it is readable by a waiting run of another user");
      assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(paths.holder, "utf8"))).sort(), ["command", "host", "pid", "since", "user"]);
    } finally {
      process.umask(before);
      await held?.release();
    }
  });

  it("a lock directory that cannot be made: LockDirError naming it and SP_API_IAM_LOCK_DIR; a planted link is refused", async () => {
    fs.writeFileSync(path.join(tmp, "file"), "");
    const env = { SP_API_IAM_LOCK_DIR: path.join(tmp, "file", "locks") };
    assert.throws(() => prepareLockDir(env), {
      name: "LockDirError",
      message: `the lock directory ${path.join(tmp, "file", "locks")} cannot be used (ENOTDIR creating it). Fix: set SP_API_IAM_LOCK_DIR to a directory every user running the kit on this host can write (docs/running-unattended.md, Locks)`,
    });
    const dir = path.join(tmp, "locks");
    const linked = { SP_API_IAM_LOCK_DIR: dir, PULUMI_BACKEND_URL: "file:///srv/state" };
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(tmp, "elsewhere"));
    fs.symlinkSync(path.join(tmp, "elsewhere"), lockPaths(stackLock("acme", linked), linked).dir);
    await assert.rejects(acquireLocks([stackLock("acme", linked)], { env: linked, command: "test" }), { name: "LockDirError", message: /is a symbolic link/ });
    assert.deepEqual(fs.readdirSync(path.join(tmp, "elsewhere")), [], "nothing written through the link");
  });

  it("a broken lock (stale, taken by another run) is not its holder's any more: assertHeld throws, release leaves the new holder's lock", async () => {
    const env = {
      SP_API_IAM_LOCK_DIR: path.join(tmp, "locks"),
      PULUMI_BACKEND_URL: "file:///srv/state",
      SP_API_IAM_LOCK_STALE_MS: "2000",
      SP_API_IAM_LOCK_WAIT_MS: "0",
    };
    const key = stackLock("acme", env);
    const first = await acquireLocks([key], { env, command: "first" });
    await first.assertHeld("anything");
    // What a suspension past the stale time looks like to another run: a lock not refreshed for longer than that.
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPaths(key, env).lock, old, old);
    const second = await acquireLocks([key], { env, command: "second" });
    await assert.rejects(first.assertHeld("pulumi up"), (error: unknown) => {
      assert.ok(error instanceof LockLost);
      assert.equal(
        error.message,
        "the lock on stack acme was lost while this run was suspended (another run may hold it now); stopped before pulumi up. Run again: the next run reads what the other left and carries on from there",
      );
      return true;
    });
    await first.release();
    assert.ok(fs.existsSync(lockPaths(key, env).lock), "the first run's release did not remove the second's lock");
    await second.assertHeld("anything");
    await assert.rejects(acquireLocks([key], { env, command: "third" }), LockBusy);
    await second.release();
    assert.ok(!fs.existsSync(lockPaths(key, env).lock));
  });

  it("a refresh in flight (the directory's new time set, its callback not yet run) is the run's own, not a loss", async () => {
    const env = { SP_API_IAM_LOCK_DIR: path.join(tmp, "locks"), PULUMI_BACKEND_URL: "file:///srv/state", SP_API_IAM_LOCK_STALE_MS: "2000" };
    const held = await acquireLocks([stackLock("acme", env)], { env, command: "checking" });
    try {
      // Checked as often as the event loop allows across three refreshes: some check falls between a refresh's
      // utimes and its callback (before the fix, one did within a few hundred thousand checks, every time).
      const refreshes = lockPaths(stackLock("acme", env), env).lock;
      const first = fs.statSync(refreshes).mtimeMs;
      let seen = 0;
      let last = first;
      while (seen < 3) {
        await held.assertHeld("the next step");
        await new Promise((resolve) => setImmediate(resolve));
        const now = fs.statSync(refreshes).mtimeMs;
        if (now !== last) [seen, last] = [seen + 1, now];
      }
    } finally {
      await held.release();
    }
  });

  it("a holder starved past the stale time whose lock nobody broke carries on: assertHeld waits for its overdue refresh", async () => {
    const env = { SP_API_IAM_LOCK_DIR: path.join(tmp, "locks"), PULUMI_BACKEND_URL: "file:///srv/state", SP_API_IAM_LOCK_STALE_MS: "2000" };
    const held = await acquireLocks([stackLock("acme", env)], { env, command: "starved" });
    try {
      // The event loop blocked past the stale time (as a suspension would leave it): no refresh could run.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
      await held.assertHeld("pulumi up");
      await held.assertHeld("pulumi up");
    } finally {
      await held.release();
    }
    assert.ok(!fs.existsSync(lockPaths(stackLock("acme", env), env).lock), "released as usual");
  });

  it("two users of the host (uid 1234 and 4321, their own HOME) contend for one stack's lock; a killed one's stale lock is broken by the other", async function () {
    this.timeout(60_000);
    if (process.getuid?.() !== 0) {
      console.log("      skipped: only root can start processes as two other users");
      this.skip();
    }
    // The holders load the code as root and then become uid 1234 or 4321 (HOLDER_SCRIPT): those users need reach only
    // the directories below, under the temporary directory.
    fs.chmodSync(tmp, 0o755);
    const shared = path.join(tmp, "shared");
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o1777); // as the default directory is made: sticky, like /tmp
    const userEnv = (name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
      const dir = path.join(tmp, name);
      const uid = name === "alice" ? 1234 : 4321;
      fs.mkdirSync(dir, { recursive: true });
      fs.chownSync(dir, uid, uid);
      return {
        PATH: process.env.PATH,
        HOME: dir,
        HOLDER_UID: String(uid),
        PULUMI_BACKEND_URL: "s3://team-state/pulumi",
        SP_API_IAM_LOCK_DIR: shared,
        SP_API_IAM_LOCK_STALE_MS: "2000",
        ...extra,
      };
    };
    const alice = tsProcess(["-e", HOLDER_SCRIPT], { env: userEnv("alice") });
    const [, alicePid] = (await alice.waitFor(/held by (\d+)/)) as RegExpMatchArray;
    try {
      const busy = tsProcess(["-e", HOLDER_SCRIPT], { env: userEnv("bob", { SP_API_IAM_LOCK_WAIT_MS: "0" }) });
      assert.equal((await busy.done).code, 1, busy.out);
      assert.match(busy.out, new RegExp(`failed: LockBusy: stack acme is in use by process ${alicePid} \\(holder\\) on .* as \\S+ since`));
    } finally {
      alice.child.kill("SIGKILL"); // no release: the lock stays, owned by uid 1234, and goes stale
    }
    await alice.done;
    const key = lockPaths(stackLock("acme", userEnv("alice")), userEnv("alice"));
    assert.equal(fs.statSync(key.lock).uid, 1234, "uid 1234's lock is left behind");
    const bob = tsProcess(["-e", HOLDER_SCRIPT], { env: userEnv("bob", { SP_API_IAM_LOCK_WAIT_MS: "30000" }) });
    await bob.waitFor(/held by \d+|failed: .*/);
    assert.match(bob.out, /held by \d+/, "uid 4321 broke uid 1234's stale lock under the sticky directory");
    assert.equal(fs.statSync(key.lock).uid, 4321);
    bob.child.stdin.end();
    await bob.waitFor(/released/);
    await bob.done;
    assert.ok(!fs.existsSync(key.lock));
  });
});

describe("a lock directory that cannot be made: one line, exit 1, in every command that locks (issue 20)", function () {
  this.timeout(60_000);
  let cli: FakePulumi;
  let tmp: string;
  before(() => {
    cli = FakePulumi.create();
    cli.addStack("acme", { config: { spApiRegion: "eu" }, provider: { region: "eu-west-1" }, selected: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "locks-"));
    fs.writeFileSync(path.join(tmp, "file"), "");
  });
  after(() => {
    cli.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const [command, args] of [
    ["rotate-key", ["--stack", "acme"]],
    ["rotate-lwa", ["--stack", "acme"]],
    ["adopt", ["--stack", "acme"]],
    ["maintain", ["--stack", "acme"]],
  ] as const) {
    it(`${command}`, async () => {
      const dir = path.join(tmp, "file", "locks");
      const run = tsProcess([path.join(REPO, "commands", command, "cli.ts"), ...args], {
        env: cli.env({ SP_API_IAM_LOCK_DIR: dir, AWS_ACCESS_KEY_ID: "AKIAOPERATOR7EXAMPLE", AWS_SECRET_ACCESS_KEY: "x", AWS_REGION: "eu-west-1" }),
      });
      const { code } = await run.done;
      assert.equal(
        run.out,
        `${command}: error: the lock directory ${dir} cannot be used (ENOTDIR creating it). Fix: set SP_API_IAM_LOCK_DIR to a directory every user running the kit on this host can write (docs/running-unattended.md, Locks)\n`,
      );
      assert.equal(code, 1);
      assert.equal(cli.callsOf("config set", "acme").length + cli.callsOf("up", "acme").length, 0);
    });
  }
});

/** A fake IAM that keeps the first ListAccessKeys unanswered until told: the moment to suspend the run. */
class HoldingIam extends FakeIam {
  private holding?: (release: () => void) => void;
  holdNextList(): Promise<() => void> {
    return new Promise((resolve) => (this.holding = resolve));
  }
  protected override handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const hold = this.holding;
    if (hold) {
      this.holding = undefined;
      hold(() => super.handle(req, res));
      return;
    }
    super.handle(req, res);
  }
}

describe("a holder whose lock was broken while it was suspended stops before its next side effect (issue 20)", function () {
  this.timeout(60_000);
  const iam = new HoldingIam();
  let cli: FakePulumi;
  let dir: string;
  before(() => iam.start());
  after(() => iam.stop());
  beforeEach(() => {
    iam.reset();
    cli = FakePulumi.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "locks-"));
  });
  afterEach(() => {
    cli.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("rotate-key, SIGSTOPped past the stale time while reading IAM, another run takes the lock, SIGCONT: no config set, no up, the other's lock left", async () => {
    // A key 100 days old: the run decides to start a rotation (config set, then up).
    cli.setNow(new Date(Date.now() - 100 * DAY).toISOString());
    cli.addStack("acme", { config: { spApiRegion: "eu" }, provider: { region: "eu-west-1" } });
    cli.setNow(new Date().toISOString());
    const state = cli.stack("acme");
    iam.keys = (state.outputs.accessKeySlots!.value as SlotRecord[]).map((s) => ({
      id: state.keys[s.slot]!.id,
      status: "Active",
      createDate: state.keys[s.slot]!.createDate,
    }));
    const env = cli.env({ ...iam.env(), INIT_CWD: dir, SP_API_IAM_LOCK_STALE_MS: "2000", SP_API_AWS_TIMEOUT_MS: "30000" });

    const held = iam.holdNextList();
    const first = tsProcess([path.join(REPO, "commands", "rotate-key", "cli.ts"), "--stack", "acme"], { env });
    const answer = await held; // the run holds the lock and waits for IAM
    first.child.kill("SIGSTOP");
    let second: HeldLocks | undefined;
    try {
      const writes = () => cli.callsOf("config set", "acme").length + cli.callsOf("config rm", "acme").length + cli.callsOf("up", "acme").length;
      assert.equal(writes(), 0);
      // Another run: it waits until the suspended run's lock is stale, then breaks it.
      second = await acquireLocks([stackLock("acme", env)], { env: { ...env, SP_API_IAM_LOCK_WAIT_MS: "30000" }, command: "rotate-key (the other run)" });
      first.child.kill("SIGCONT");
      answer();
      const { code } = await first.done;
      assert.equal(code, 1, first.out);
      assert.match(
        first.out,
        /rotate-key: error: the lock on stack acme was lost while this run was suspended \(another run may hold it now\); stopped before setting \w+\. Run again/,
      );
      assert.equal(writes(), 0, "no config set, no config rm, no up after the lock was lost");
      await second.assertHeld("anything"); // the first run's exit left the second's lock alone
    } finally {
      first.child.kill("SIGCONT");
      first.child.kill("SIGKILL");
      await second?.release();
    }
  });
});

/** The fake LWA, SP-API and SQS, keeping the first LWA token request made once `when` holds unanswered until told. */
class HoldingLwa extends FakeLwaRotation {
  private holding?: { when: () => boolean; resolve: (release: () => void) => void };
  holdNextToken(when: () => boolean): Promise<() => void> {
    return new Promise((resolve) => (this.holding = { when, resolve }));
  }
  protected override handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const hold = this.holding;
    if (hold && (req.url ?? "").startsWith("/auth/o2/token") && hold.when()) {
      this.holding = undefined;
      hold.resolve(() => super.handle(req, res));
      return;
    }
    super.handle(req, res);
  }
}

describe("rotate-lwa: a holder whose lock was broken while it was suspended does not ask Amazon (issue 20)", function () {
  this.timeout(60_000);
  const fake = new HoldingLwa();
  let cli: FakePulumi;
  let work: string;
  before(async () => {
    fake.longPollScale = 0.05;
    await fake.start();
  });
  after(() => fake.stop());
  beforeEach(() => {
    cli = FakePulumi.create();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "locks-"));
  });
  afterEach(() => {
    cli.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("SIGSTOPped after recording the request, while LWA answers the token; another run takes the lock; SIGCONT: no rotation request, the record kept, no up", async () => {
    const issuedOn = new Date(Date.now() - 170 * DAY).toISOString().slice(0, 10);
    cli.addStack("acme", {
      config: { spApiRegion: "eu", lwaRotation: true, lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: issuedOn },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      provider: { region: REGION },
      selected: true,
    });
    const env = cli.env({
      SP_API_LWA_ENDPOINT: fake.url,
      SP_API_ENDPOINT: fake.url,
      AWS_ENDPOINT_URL_SQS: fake.url,
      AWS_ACCESS_KEY_ID: "AKIAOPERATOR7EXAMPLE",
      AWS_SECRET_ACCESS_KEY: "opErAtOr/SeCrEt+KeY=0123456789abcdefABCD",
      SP_API_AWS_TIMEOUT_MS: "30000",
      SP_API_ROTATE_LWA_TIMEOUT_MS: "30000",
      SP_API_IAM_LOCK_STALE_MS: "2000",
      INIT_CWD: work,
    });
    const recorded = () => cli.config("acme").lwaRotationRequestedAt?.value;
    const held = fake.holdNextToken(() => recorded() !== undefined);
    const first = tsProcess([path.join(REPO, "commands", "rotate-lwa", "cli.ts"), "--stack", "acme", "--wait", "3"], { env, cwd: work });
    const answer = await held; // the request is recorded; the grantless token is on its way back
    first.child.kill("SIGSTOP");
    let second: HeldLocks | undefined;
    try {
      const ups = () => cli.callsOf("up", "acme").length;
      const record = recorded();
      // The record's own up (its compare-and-set) came before the token: no up after the suspension.
      const upsAtStop = ups();
      second = await acquireLocks([lwaAppLock(CLIENT_ID), stackLock("acme", env)], {
        env: { ...env, SP_API_IAM_LOCK_WAIT_MS: "30000" },
        command: "rotate-lwa (the other run)",
      });
      first.child.kill("SIGCONT");
      answer();
      const { code } = await first.done;
      assert.equal(code, 1, first.out);
      assert.match(
        first.out,
        /✗ the lock on (LWA app \S+|stack acme) was lost while this run was suspended \(another run may hold it now\); stopped before the rotation request\. Run again/,
      );
      assert.equal(fake.rotations().length, 0, "Amazon was not asked");
      assert.equal(recorded(), record, "the record stays: taking it back could erase the other run's");
      assert.equal(ups(), upsAtStop, "no up after the lock was lost");
      await second.assertHeld("anything");
    } finally {
      first.child.kill("SIGCONT");
      first.child.kill("SIGKILL");
      await second?.release();
    }
  });
});
