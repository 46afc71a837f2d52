/**
 * Issue 20: the commands' state outlives the working copy. The CI model of docs/fleet.md, run as a team runs it: a
 * project whose Pulumi.<stack>.yaml is committed, one shared backend (the stand-in's, which keeps config only in the
 * project directory's stack file, as a DIY backend does), and for every run a fresh clone (FakePulumi.cloneProject)
 * and a fresh HOME, running `npm run maintain -- --all` against the loopback LWA, rotation API and SQS
 * (test/fake-lwa-rotation.ts) and IAM (test/fake-iam.ts). Days are shifted with test/shift-clock.js in the command's
 * process and the stand-in engine's clock (FakePulumi.setNow).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openStack } from "../lib/pulumi";
import { addDays, type SlotRecord } from "../src/lifecycle";
import { FakeIam, type FakeKey as IamKey } from "./fake-iam";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi, FAKE_ACCOUNT, type FakeClone } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const REPO = path.resolve(__dirname, "..");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STACK = "acme";
const USER = "sp-api-acme";
const today = () => new Date().toISOString().slice(0, 10);

interface Deployment {
  version: number;
  result: string;
  config: Record<string, { value?: string; secret: boolean }>;
}

describe("issue 20: the state outlives the working copy (the CI model, a person's up, two clones, a kill)", function () {
  this.timeout(120_000);
  const iam = new FakeIam();
  let lwa: FakeLwaRotation;
  let cli: FakePulumi;
  let work: string;
  let job: string;
  /** When the day-0 runs started: the old key was last used just before, the new one an hour before each run. */
  let t0: number;
  let homes = 0;

  before(async () => {
    await iam.start();
  });
  after(async () => {
    await iam.stop();
  });
  beforeEach(async () => {
    lwa = new FakeLwaRotation();
    lwa.longPollScale = 0.05;
    await lwa.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "durable-state-"));
    job = path.join(work, "orders.json");
    fs.writeFileSync(job, fs.readFileSync(path.join(__dirname, "fixtures", "jobs", "orders.json"), "utf8").replace("111111111111", FAKE_ACCOUNT));
    cli = FakePulumi.create();
    // The stack as deployed 80 days ago (its key due within keyRotationLeadDays), its LWA secret issued 170 days ago.
    t0 = Date.now();
    cli.setNow(new Date(t0 - 80 * DAY).toISOString());
    cli.addStack(STACK, {
      config: {
        userName: USER,
        spApiRegion: "eu",
        lwaRotation: true,
        lwaClientId: CLIENT_ID,
        lwaClientSecretIssuedOn: addDays(today(), -170),
        jobConfigs: [job],
      },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      provider: { region: REGION },
      account: FAKE_ACCOUNT,
    });
    cli.setNow(new Date(t0).toISOString());
    // The job as a person set it up from the stack's first block: the app's client id and the stack's key, which is
    // how the field rule knows it (its own refresh token and region are never touched).
    const slots = cli.stack(STACK).outputs.accessKeySlots!.value as SlotRecord[];
    const firstKey = cli.stack(STACK).keys[slots.find((s) => s.generation === 1)!.slot]!.id;
    const setUp = JSON.parse(fs.readFileSync(job, "utf8")) as { input: { credentials: Record<string, string> } };
    Object.assign(setUp.input.credentials, { aws_access_key_id: firstKey, client_id: CLIENT_ID });
    fs.writeFileSync(job, `${JSON.stringify(setUp, null, 2)}\n`);
    cli.commit();
    mirrorIam(t0);
    // Amazon's notice that the current secret expires in 10 days, waiting in the queue.
    lwa.send(lwa.expiryBody(new Date(t0 + 10 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z")));
  });
  afterEach(async () => {
    cli.cleanup();
    await lwa.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** IAM as the backend's keys make it at `at`: the newest key used an hour before, the older ones last before day 0. */
  function mirrorIam(at: number): void {
    const state = cli.stack(STACK);
    const slots = state.outputs.accessKeySlots!.value as SlotRecord[];
    const newest = Math.max(...slots.map((s) => s.generation));
    const keys = slots.map((s): IamKey => {
      const key = state.keys[s.slot]!;
      const used = s.generation === newest ? at - HOUR : t0 - HOUR;
      return {
        id: key.id,
        status: s.status ?? "Active",
        createDate: key.createDate,
        lastUsed: { date: new Date(used).toISOString(), service: "sts", region: "us-east-1" },
      };
    });
    iam.users = new Map([[USER, keys]]);
  }

  /** A CI runner's environment: the clone as project dir, a fresh HOME and lock directory, the fakes, the day's clock. */
  function runnerEnv(clone: FakeClone, offsetMs: number): NodeJS.ProcessEnv {
    const home = path.join(work, `home-${++homes}`);
    fs.mkdirSync(home);
    return clone.env({
      ...iam.env(),
      HOME: home,
      SP_API_IAM_LOCK_DIR: path.join(home, "locks"),
      ...lwa.env(),
      SP_API_TEST_CLOCK_OFFSET_MS: String(offsetMs),
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} -r ${path.join(REPO, "test", "shift-clock.js")}`.trim(),
    });
  }

  /**
   * One scheduled run of docs/fleet.md's CI job on day `day`: a fresh clone, a fresh HOME, `npm run maintain -- --all`,
   * then (with `status`) `npm run status`, whose exit code is the job's.
   */
  async function ciRun(day: number, opts: { status?: boolean } = {}): Promise<{ code: number | null; text: string; status?: number | null }> {
    const at = t0 + day * DAY + (Date.now() - t0);
    cli.setNow(new Date(at).toISOString());
    mirrorIam(at);
    const clone = cli.cloneProject();
    const env = runnerEnv(clone, at - Date.now());
    const result = await runThroughNpm("maintain", ["--all"], { cwd: clone.dir, env });
    const status = opts.status ? await runThroughNpm("status", [], { cwd: clone.dir, env }) : undefined;
    return { code: result.code, text: `${result.stdout}\n${result.stderr}${status ? `\n${status.stdout}\n${status.stderr}` : ""}`, status: status?.code };
  }

  /** A day has passed for the queue: any hold a run put on a message (15 minutes) is long over. */
  const holdsEnd = () => {
    for (const m of lwa.messages) m.visibleAt = 0;
  };

  /** Every deployment of the stack with its config, as `pulumi stack history --json --show-secrets` prints it. */
  function deployments(): Deployment[] {
    const r = cli.run(["stack", "history", "--json", "--show-secrets", "--stack", STACK]);
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as Deployment[]).reverse();
  }
  const valueOf = (d: Deployment, key: string) => d.config[`sp-api-iam:${key}`]?.value;
  const deployedState = () => (cli.stack(STACK).outputs.operationalState!.value as { revision: number; values: Record<string, string> }).values;
  const deployedSecret = () => (cli.stack(STACK).outputs.operationalSecrets!.value as Record<string, string>).lwaClientSecret;
  const jobCredentials = () => JSON.parse(fs.readFileSync(job, "utf8")).input.credentials as Record<string, string>;

  /**
   * Nothing went back: after the first deployment of the new secret no deployment holds another, and the key
   * generation never goes down (each deployment's config, as the history keeps it).
   */
  function assertNeverBack(): void {
    const all = deployments().filter((d) => d.result === "succeeded");
    const rotated = all.findIndex((d) => valueOf(d, "lwaClientSecret") === lwa.issued[0]);
    assert.ok(rotated >= 0, "the new secret was deployed");
    for (const d of all.slice(rotated)) assert.equal(valueOf(d, "lwaClientSecret"), lwa.issued[0], `deployment ${d.version} went back to another secret`);
    let generation = 1;
    for (const d of all) {
      const g = Number(valueOf(d, "accessKeyGeneration") ?? 1);
      assert.ok(g >= generation, `deployment ${d.version} went back to key generation ${g} from ${generation}`);
      generation = g;
    }
    assert.equal(generation, 2);
  }

  it("the CI model: maintain --all from a fresh clone on days 0, 0, +1 and +8: one rotation, never back, the job current", async () => {
    const days = [0, 0, 1, 8];
    const texts: string[] = [];
    for (const day of days) {
      const { code, text, status } = await ciRun(day, { status: true });
      texts.push(text);
      assert.equal(code, 0, `day ${day}:\n${text}`);
      assert.equal(status, 0, `day ${day}: npm run status:\n${text}`);
      assert.equal(lwa.rotations().length, 1, `day ${day}: one rotation request to Amazon in all:\n${text}`);
    }
    const newSecret = lwa.issued[0]!;
    assert.match(texts[0]!, /lwa: rotated/);
    // Day 8's status, from its fresh clone, reads the new secret's expiry (Amazon's, deployed), not the old one's.
    assert.match(texts[3]!, /1 stack: 0 expired, 0 overdue, 0 due, 1 ok/);
    assertNeverBack();
    // The backend holds the state: the new secret, its times, key generation 2, the old key made inactive on day 8.
    assert.equal(deployedSecret(), newSecret);
    assert.equal(deployedState().accessKeyGeneration, "2");
    assert.equal(deployedState().previousAccessKey, "inactive", texts[3]);
    // The job holds the new secret and the stack's active (newest) key.
    const creds = jobCredentials();
    assert.equal(creds.client_secret, newSecret);
    const slots = cli.stack(STACK).outputs.accessKeySlots!.value as SlotRecord[];
    const active = slots.find((s) => s.generation === 2)!;
    assert.equal(creds.aws_access_key_id, cli.stack(STACK).keys[active.slot]!.id);
    assert.equal(active.status ?? "Active", "Active");
    // Nothing was committed back: the committed stack file still holds the old secret and no state revision.
    const committed = cli.cloneProject().config(STACK);
    assert.deepEqual(committed.lwaClientSecret, { value: OLD_SECRET, secret: true });
    assert.equal(committed.stateRevision, undefined);
  });

  it("the CI model when Amazon's new-secret message gives no expiry: day 8's fresh clone goes by the deployed issue day, not the committed one", async () => {
    // The new secret's message without newClientSecretExpiryTime: the stack then knows its expiry only from the issue
    // day rotate-lwa records (lwaClientSecretIssuedOn), which the committed file still holds 170 days old.
    lwa.deliverNewSecret = "later";
    const day0 = ciRun(0, { status: true });
    while (lwa.rotations().length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const parsed = JSON.parse(lwa.pending.shift()!);
    delete parsed.payload.applicationOAuthClientNewSecret.newClientSecretExpiryTime;
    lwa.send(JSON.stringify(parsed));
    const first = await day0;
    assert.equal(first.code, 0, first.text);
    for (const day of [1, 8]) {
      const { code, status, text } = await ciRun(day, { status: true });
      assert.equal(code, 0, `day ${day}:\n${text}`);
      assert.equal(status, 0, `day ${day}: npm run status:\n${text}`);
      assert.equal(lwa.rotations().length, 1, `day ${day}: no second rotation:\n${text}`);
      // status: nothing overdue; the secret tracked from the deployed issue day, 180 days on (not 10 days from day 0).
      const table = text.slice(text.lastIndexOf("STACK"));
      assert.match(table, /1 stack: 0 expired, 0 overdue/, `day ${day}: ${table}`);
      assert.match(table, new RegExp(`${addDays(today(), 180)} \\(tracked\\)`), `day ${day}: ${table}`);
    }
    assert.equal(deployedState().lwaClientSecretIssuedOn, today());
  });

  it("a person's up from a fresh clone with a setting changed keeps their change and the rotations: the commands' up and a plain pulumi up", async () => {
    assert.equal((await ciRun(0)).code, 0);
    const newSecret = lwa.issued[0]!;
    const revision = () => (cli.stack(STACK).outputs.operationalState!.value as { revision: number }).revision;
    const before = revision();

    // Through the commands' session (what `npm run up`'s program does with the resolved view).
    const mine = cli.cloneProject();
    cli.setConfig(STACK, "keyQuietHours", "72", { projectDir: mine.dir });
    await (await openStack(STACK, { env: mine.env() })).up();
    // A plain `pulumi up` with the user's own CLI, no SP_API_IAM_STATE_BASE, from another fresh clone.
    const theirs = cli.cloneProject();
    cli.setConfig(STACK, "keyInactiveDays", "10", { projectDir: theirs.dir });
    const plain = cli.run(["up", "--yes", "--stack", STACK], undefined, { cwd: theirs.dir });
    assert.equal(plain.status, 0, plain.stderr + plain.stdout);
    assert.match(plain.stdout + plain.stderr, /lwaClientSecret/, "the stale keys named");
    assert.ok(!(plain.stdout + plain.stderr).includes(OLD_SECRET) && !(plain.stdout + plain.stderr).includes(newSecret), "never a value");

    const last = deployments().pop()!;
    assert.equal(valueOf(last, "keyInactiveDays"), "10", "their change deployed");
    assert.equal(deployedSecret(), newSecret, "the rotation kept");
    assert.equal(deployedState().accessKeyGeneration, "2");
    assert.equal(revision(), before, "a person's up does not move the state");
    const block = String(cli.stack(STACK).outputs.credentials!.value);
    assert.ok(block.includes(newSecret), "the deployed block holds the new secret");
    // The history keeps each deployment's config as its working copy had it: the plain up's is the stale file's,
    // while what it deployed (the outputs above) is the newest state. And the schedule goes on from there.
    assert.equal(valueOf(last, "lwaClientSecret"), OLD_SECRET);
    const next = await ciRun(1);
    assert.equal(next.code, 0, next.text);
    assert.equal(lwa.rotations().length, 1);
    assert.equal(deployedSecret(), newSecret);
    assert.equal(deployedState().accessKeyGeneration, "2");
  });

  it("two clones at once (different HOME and lock directory, one backend): one rotation; the next day's run leaves all current", async () => {
    // Each up takes a second, so the two runs meet at their ups. A DIY backend refuses an up while another holds the
    // stack's lock, and the compare-and-set refuses one whose base another run moved: one run asks Amazon, at most.
    cli.update(STACK, (s) => (s.upDelayMs = 1000));
    const [a, b] = await Promise.all([ciRun(0), ciRun(0)]);
    cli.update(STACK, (s) => delete s.upDelayMs);
    const both = `${a.text}\n---\n${b.text}`;
    assert.equal(lwa.rotations().length, 1, both);
    assert.ok(!/internal error/.test(a.text + b.text), both);
    // The next day's run finishes whatever they left (a new secret stored by one whose up met the other's stays in
    // the queue): one rotation, nothing back, the job current.
    holdsEnd();
    const next = await ciRun(1);
    assert.equal(next.code, 0, next.text);
    assert.equal(lwa.rotations().length, 1);
    assertNeverBack();
    assert.equal(jobCredentials().client_secret, lwa.issued[0]);
  });

  it("killed between storing the new secret and its up, then a fresh-clone rerun: it completes, nothing lost", async () => {
    cli.setNow(new Date().toISOString());
    mirrorIam(Date.now());
    const clone = cli.cloneProject();
    const env: NodeJS.ProcessEnv = { ...runnerEnv(clone, 0), INIT_CWD: clone.dir };
    for (const name of Object.keys(env)) if (name.startsWith("npm_")) delete env[name];
    const child = spawn(process.execPath, ["-r", "./tools/register.js", "commands/maintain/cli.ts", "--all"], { cwd: REPO, env, detached: true });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    let gone = false;
    const exited = new Promise((resolve) => child.on("exit", () => resolve((gone = true))));
    const inClone = (cwd: string) => fs.realpathSync(cwd) === fs.realpathSync(clone.dir);
    const secretSet = () =>
      cli.calls().find((c) => inClone(c.cwd) && c.argv.slice(0, 2).join(" ") === "config set" && c.argv.some((a) => /(^|:)lwaClientSecret$/.test(a)));
    while (!gone && !secretSet()) await new Promise((resolve) => setTimeout(resolve, 10));
    const stored = secretSet();
    if (!gone) process.kill(-child.pid!, "SIGKILL");
    await exited;
    assert.ok(stored, `the run stored the new secret before it was killed:\n${output}\n${JSON.stringify(cli.calls().map((c) => [c.cwd, c.argv]))}`);
    const upsAfter = cli.calls().filter((c) => inClone(c.cwd) && c.argv[0] === "up" && c.startedAt > stored.endedAt);
    assert.deepEqual(upsAfter, [], "killed before its up");
    assert.equal(lwa.rotations().length, 1);
    assert.notEqual(deployedSecret(), lwa.issued[0], "the new secret is not deployed yet: the kill lost the clone's copy");

    // The next scheduled run, a day later: the killed run's hold on the new secret's message is over.
    holdsEnd();
    const rerun = await ciRun(1);
    assert.equal(rerun.code, 0, rerun.text);
    assert.equal(lwa.rotations().length, 1, `no second request:\n${rerun.text}`);
    assert.equal(deployedSecret(), lwa.issued[0]);
    assert.equal(jobCredentials().client_secret, lwa.issued[0]);
    assertNeverBack();
  });
});
