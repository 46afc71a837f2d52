/**
 * npm run maintain end to end with the real steps (commands/maintain/steps.ts realSteps: rotate-lwa, rotate-key and the
 * delivery of `npm run credentials -- --into`), over a fleet of stacks held by the stand-in Pulumi CLI, with the
 * loopback fakes the rotation commands' own tests use: LWA, the Application Management API and SQS
 * (test/fake-lwa-rotation.ts) and IAM with one user per stack (test/fake-iam.ts). test/maintain.test.ts tests the
 * round itself with stand-in steps.
 *
 * The fleet's dry run comes first and the real round after it, over the same stacks: the round then also shows that
 * the dry run left everything as due as it was.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { addDays, type SlotRecord } from "../src/lifecycle";
import { SECRETS } from "./fake-amazon";
import { FakeIam, OPERATOR, type FakeKey as IamKey } from "./fake-iam";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi, FAKE_ACCOUNT, type RecordedCall } from "./fake-pulumi";
import { outcomesOf } from "./maintain-summary";
import { runThroughNpm } from "./through-npm";
import { runMaintain } from "./in-process";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FIXTURES = path.resolve(__dirname, "fixtures", "jobs");
const today = () => new Date().toISOString().slice(0, 10);
const isoAgo = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d{3}Z$/, "Z");

interface Member {
  name: string;
  /** The stack's own IAM user (config userName): IAM answers for every stack's user at once. */
  userName: string;
  account: string;
  /** How long ago `pulumi up` created the stack's keys. */
  createdDaysAgo: number;
  config?: Record<string, string | number | boolean | object>;
  secrets?: Record<string, string>;
  provider?: { region?: string };
  /** When IAM last saw each key used, in hours (undefined: never). */
  use: { current?: number; previous?: number };
}

/** Deploys each member as the stand-in would have `createdDaysAgo` days ago. */
function seed(cli: FakePulumi, members: Member[]): void {
  for (const m of members) {
    cli.setNow(new Date(Date.now() - m.createdDaysAgo * DAY).toISOString());
    cli.addStack(m.name, { config: { userName: m.userName, ...m.config }, secrets: m.secrets, provider: m.provider, account: m.account });
  }
  cli.setNow(new Date().toISOString());
}

/** IAM as the stacks' keys make it, one user per stack (as rotate-key.test.ts mirrors one). */
function mirror(iam: FakeIam, cli: FakePulumi, members: Member[]): void {
  iam.users = new Map(
    members.map((m): [string, IamKey[]] => {
      const state = cli.stack(m.name);
      const slots = state.outputs.accessKeySlots!.value as SlotRecord[];
      const newest = Math.max(...slots.map((s) => s.generation));
      const keys = slots.map((s): IamKey => {
        const key = state.keys[s.slot]!;
        const hours = s.generation === newest ? m.use.current : m.use.previous;
        return {
          id: key.id,
          status: s.status ?? "Active",
          createDate: key.createDate,
          ...(hours === undefined ? {} : { lastUsed: { date: isoAgo(hours * HOUR), service: "sts", region: "us-east-1" } }),
        };
      });
      return [m.userName, keys];
    }),
  );
}

/** The largest number of stacks with CLI calls in flight at one time; a stack's span is its first call's start to its last call's end. */
function maxStacksInFlight(calls: RecordedCall[]): number {
  const spans = new Map<string, { start: number; end: number }>();
  // maintain first reads each stack's config once, read-only, to put the stacks of one LWA app in one lane: the
  // round itself is what runs --concurrency at a time.
  const planned = new Set<string>();
  for (const c of calls) {
    if (!c.stack) continue;
    if (!planned.has(c.stack) && c.argv[0] === "config" && c.argv.includes("--json")) {
      planned.add(c.stack);
      continue;
    }
    const s = spans.get(c.stack);
    spans.set(c.stack, s ? { start: Math.min(s.start, c.startedAt), end: Math.max(s.end, c.endedAt) } : { start: c.startedAt, end: c.endedAt });
  }
  const all = [...spans.values()];
  return Math.max(0, ...all.map((at) => all.filter((s) => s.start <= at.start && at.start < s.end).length));
}

describe("npm run maintain: the real steps over a fleet", function () {
  this.timeout(60_000);
  const iam = new FakeIam();
  const lwa = new FakeLwaRotation();
  let cli: FakePulumi;
  let work: string;
  let outDir: string;
  let jobs: string;

  const lwaIssuedOn = addDays(today(), -170);
  const amazonExpiry = new Date(Date.now() + 10 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
  const OTHER_LWA_SECRET = SECRETS.clientSecret;

  /**
   * - lwa-due: lwaRotation, the secret issued 170 days ago (and Amazon's expiry notice waiting in the queue): rotated;
   *   its job config gets the new secret. Its key is young: nothing.
   * - key-due: the key 80 days old: a rotation starts; its two job configs (JSON and HJSON) get the new key.
   * - handover: two keys, the new one used, the old one quiet for 49 hours: the old key is deactivated.
   * - waiting: two keys, the old one used 3 hours ago: waits, and says a job still has the old block.
   * - failing: the key is due, but its `pulumi up` fails: reported with its cause; the config is put back.
   */
  const fleet = (): Member[] => [
    {
      name: "lwa-due",
      userName: "sp-api-lwa-due",
      account: FAKE_ACCOUNT, // the fake queue's account
      createdDaysAgo: 1,
      config: {
        spApiRegion: "eu",
        lwaRotation: true,
        lwaClientId: CLIENT_ID,
        lwaClientSecretIssuedOn: lwaIssuedOn,
        jobConfigs: [path.join(jobs, "lwa-orders.json")],
      },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      provider: { region: REGION },
      use: { current: 2 },
    },
    {
      name: "key-due",
      userName: "sp-api-key-due",
      account: "111111111111", // the fixtures' role_arn
      createdDaysAgo: 80,
      config: {
        lwaClientId: CLIENT_ID,
        lwaClientSecretIssuedOn: addDays(today(), -100), // before its keys were made: the engine checks it against its clock
        jobConfigs: [path.join(jobs, "reports.hjson"), path.join(jobs, "orders.json")],
      },
      secrets: { lwaClientSecret: OTHER_LWA_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      use: { current: 2 },
    },
    {
      name: "handover",
      userName: "sp-api-handover",
      account: "222222222222",
      createdDaysAgo: 5,
      config: { accessKeyGeneration: 2 },
      use: { current: 1, previous: 49 },
    },
    {
      name: "waiting",
      userName: "sp-api-waiting",
      account: "333333333333",
      createdDaysAgo: 5,
      config: { accessKeyGeneration: 2 },
      use: { current: 1, previous: 3 },
    },
    { name: "failing", userName: "sp-api-failing", account: "444444444444", createdDaysAgo: 80, use: { current: 2 } },
  ];
  const names = () => fleet().map((m) => m.name);

  /** Every secret the fleet's stacks and the fakes have held so far. */
  const secrets = new Set<string>([OLD_SECRET, REFRESH_TOKEN, OTHER_LWA_SECRET, OPERATOR.secret]);
  const keyIds = new Set<string>();
  function collect(c: FakePulumi, stacks: string[]): void {
    for (const name of stacks) {
      for (const key of Object.values(c.stack(name).keys)) {
        secrets.add(key!.secret);
        keyIds.add(key!.id);
      }
    }
    for (const s of [...lwa.issued, ...lwa.grantlessTokens, ...lwa.accessTokens]) secrets.add(s);
  }
  function assertNoSecret(c: FakePulumi, stacks: string[], ...outputs: string[]): void {
    collect(c, stacks);
    const text = outputs.join("\n");
    const argv = c.calls().map((call) => call.argv.join(" "));
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `a secret in the output: ${secret.slice(0, 4)}…`);
      for (const args of argv) assert.ok(!args.includes(secret), `a secret in a process's arguments: ${secret.slice(0, 4)}…`);
    }
    for (const id of keyIds) assert.ok(!text.includes(id), `a whole key id in the output: ${id.slice(0, 4)}…`);
    for (const body of lwa.messages.map((m) => m.body)) assert.ok(!text.includes(body), "a message body in the output");
  }

  function env(c: FakePulumi): NodeJS.ProcessEnv {
    return c.env({
      ...iam.env(),
      ...lwa.env(),
      INIT_CWD: work,
    });
  }

  async function maintain(c: FakePulumi, args: string[]): Promise<{ code: number; stdout: string; stderr: string; table: string; ms: number }> {
    const started = Date.now();
    const { code, stdout, stderr } = await runMaintain([...args, "--out-dir", outDir], env(c));
    return { code, stdout, stderr, table: stdout.slice(stdout.lastIndexOf("\nSTACK ") + 1), ms: Date.now() - started };
  }

  /** What the summary says of `stack`: its causes by status, and its row of step statuses. */
  const columns = (table: string, stack: string) => outcomesOf(table, stack);
  const jobFiles = () => ["lwa-orders.json", "reports.hjson", "orders.json"].map((f) => path.join(jobs, f));
  const snapshot = () => jobFiles().map((f) => fs.readFileSync(f, "utf8"));

  before(async () => {
    await iam.start();
    lwa.longPollScale = 0.05; // an empty long poll ends in a twentieth of its time
    await lwa.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "maintain-fleet-"));
    outDir = path.join(work, "credentials");
    jobs = path.join(work, "jobs");
    fs.mkdirSync(jobs);
    fs.copyFileSync(path.join(FIXTURES, "reports.hjson"), path.join(jobs, "reports.hjson"));
    fs.copyFileSync(path.join(FIXTURES, "orders.json"), path.join(jobs, "orders.json"));
    // The same job for the lwa-due stack: its role in its account.
    fs.writeFileSync(path.join(jobs, "lwa-orders.json"), fs.readFileSync(path.join(FIXTURES, "orders.json"), "utf8").replace("111111111111", FAKE_ACCOUNT));
    cli = FakePulumi.create();
    seed(cli, fleet());
    mirror(iam, cli, fleet());
    // Each stack's jobs hold its key (the field rule gives the new pair only to an object holding one of its keys).
    const keyOf = (stack: string) => cli.stack(stack).outputs.accessKeyId!.value as string;
    for (const [file, stack] of [
      ["lwa-orders.json", "lwa-due"],
      ["reports.hjson", "key-due"],
      ["orders.json", "key-due"],
    ] as const) {
      const text = fs.readFileSync(path.join(jobs, file), "utf8");
      fs.writeFileSync(path.join(jobs, file), text.replace("AKIAOLDKEYAAAAAAAAAA", keyOf(stack)));
    }
    collect(cli, names());
    // Amazon's expiry notice for the current secret, already in the queue.
    lwa.send(lwa.expiryBody(amazonExpiry));
  });
  after(async () => {
    cli.cleanup();
    await iam.stop();
    await lwa.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("--dry-run: every stack's decisions shown; no config set, no up, no job config, block file or message touched", async () => {
    const jobsBefore = snapshot();
    const { code, stdout, stderr, table } = await maintain(cli, ["--all", "--dry-run"]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /^Dry run: every decision is made and shown; nothing is changed\./);

    assert.match(columns(table, "lwa-due").waiting, /lwa: dry run: would record the request, request a rotation/);
    assert.match(columns(table, "key-due").done, /key: dry run: would start: /);
    assert.match(columns(table, "key-due").done, /jobs: would update 2 job credential\(s\) in 2 file\(s\)/);
    assert.match(columns(table, "handover").done, /key: dry run: would deactivate: /);
    assert.match(columns(table, "waiting").waiting, /key: .*a job still has the old block/);
    assert.match(columns(table, "failing").done, /key: dry run: would start: /);
    assert.match(stdout, /5 stacks: 5 without failure, 0 failed\./);

    assert.deepEqual(cli.callsOf("config set"), [], "no config set");
    assert.deepEqual(cli.callsOf("config rm"), [], "no config removed");
    assert.deepEqual(cli.callsOf("up"), [], "no pulumi up");
    assert.deepEqual(snapshot(), jobsBefore, "no job config changed");
    assert.equal(fs.existsSync(outDir), false, "no credentials file written, not even their directory");
    assert.deepEqual(lwa.rotations(), [], "no rotation requested");
    assert.deepEqual(lwa.sqsCalls("DeleteMessage"), [], "no message deleted");
    assert.deepEqual(lwa.sqsCalls("SendMessage"), [], "no note left");
    assert.equal(lwa.live().length, 1, "Amazon's expiry notice is still in the queue");
    assertNoSecret(cli, names(), stdout, stderr);
  });

  it("through the user's door: npm run maintain -- --all --dry-run from another directory: plain progress, a summary, nothing changed", async () => {
    const elsewhere = path.join(work, "elsewhere");
    fs.mkdirSync(elsewhere);
    const result = await runThroughNpm("maintain", ["--all", "--dry-run", "--out-dir", "blocks"], { cwd: elsewhere, env: env(cli) });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^lwa-due: started$/m, "plain progress lines into a pipe");
    assert.match(result.stdout, /5 stacks: 5 without failure, 0 failed\./);
    assert.ok(!result.stdout.includes("\x1b["), "no escapes into a pipe");
    assert.equal(fs.existsSync(path.join(elsewhere, "blocks")), false);
    assert.deepEqual(cli.callsOf("up"), [], "no pulumi up");
    assertNoSecret(cli, names(), result.stdout, result.stderr);
  });

  it("through the user's door with --json and -s: one JSON document on standard output, the progress on standard error", async () => {
    const elsewhere = fs.mkdtempSync(path.join(work, "elsewhere-json-"));
    const result = await runThroughNpm("maintain", ["-s", "waiting", "-s", "handover", "--dry-run", "--json"], { cwd: elsewhere, env: env(cli) });
    assert.equal(result.code, 0, result.stderr);
    const doc = JSON.parse(result.stdout) as {
      dryRun: boolean;
      counts: { stacks: number };
      stacks: { stack: string; steps: Record<string, { status: string; detail: string }> }[];
    };
    assert.deepEqual([doc.dryRun, doc.counts.stacks, doc.stacks.map((s) => s.stack)], [true, 2, ["waiting", "handover"]]);
    assert.match(doc.stacks[0]!.steps.key!.detail, /a job still has the old block/);
    assert.match(result.stderr, /^Dry run: /);
    assert.match(result.stderr, /^waiting: started$/m);
    assert.deepEqual(cli.callsOf("up"), [], "no pulumi up");
    assertNoSecret(cli, names(), result.stdout, result.stderr);
  });

  it("one round: a rotation, a start delivered into the job configs, a deactivation, a wait, a failure; exit 1", async () => {
    const before = cli.calls().length;
    cli.failNext("failing", "up", { stderr: "error: update failed: the operator's session expired (injected by the test)" });
    const { code, stdout, stderr, table, ms } = await maintain(cli, ["--all"]);
    const calls = cli.calls().slice(before);
    const ups = (stack: string) => calls.filter((c) => c.argv[0] === "up" && c.stack === stack).length;
    assert.equal(code, 1, stdout + stderr);
    // A margin, not a measurement: what it catches is a rotation that waits out its 300 s (the round then takes
    // more than 300 s whatever the machine); a loaded machine may take long, never that long.
    assert.ok(ms < 280_000, `the round took ${ms} ms: the rotation must not wait out its 300 s`);
    assert.match(stdout, /5 stacks: 4 without failure, 1 failed\./);

    // lwa-due: Amazon's expiry recorded, one rotation, the new secret stored, up, its block and its job config.
    assert.equal(lwa.rotations().length, 1);
    const newSecret = lwa.issued[0]!;
    assert.deepEqual(cli.config("lwa-due").lwaClientSecret, { value: newSecret, secret: true });
    assert.equal(cli.config("lwa-due").lwaClientSecretIssuedOn!.value, today());
    // Two deployments: the rotation record before Amazon's request (every machine sees it), then the new secret.
    assert.equal(ups("lwa-due"), 2);
    assert.deepEqual(lwa.live(), [], "the expiry notice, the new secret's message and the run's note are all deleted");
    const newSecretMessage = lwa.messages.find((m) => m.body.includes("APPLICATION_OAUTH_CLIENT_NEW_SECRET"))!;
    const deleted = lwa.sqsCalls("DeleteMessage").find((d) => d.params!.messageId === newSecretMessage.id)!;
    const lwaUp = calls.filter((c) => c.argv[0] === "up" && c.stack === "lwa-due").pop()!;
    assert.ok(deleted.at >= lwaUp.endedAt, "the new secret's message is deleted only after pulumi up");
    assert.match(columns(table, "lwa-due").done, /lwa: rotated; the old secret stops working at /);
    assert.match(columns(table, "lwa-due").done, /jobs: updated 1 job credential\(s\) in 1 file\(s\)/);
    assert.equal(columns(table, "lwa-due").row.key, "· nothing");
    assert.equal(Hjson.parse(fs.readFileSync(path.join(outDir, "lwa-due.hjson"), "utf8")).credentials.client_secret, newSecret);
    const lwaJob = JSON.parse(fs.readFileSync(path.join(jobs, "lwa-orders.json"), "utf8")).input.credentials;
    assert.equal(lwaJob.client_secret, newSecret);
    assert.equal(lwaJob.refresh_token, "Atzr|IwEBIOldRefreshTokenOfAcme", "the job's own refresh token: a rotation never rewrites one");

    // key-due: a rotation started (a second key), its block written, both job configs hold the new key.
    const keyDue = cli.stack("key-due");
    const newKeyId = keyDue.outputs.accessKeyId!.value as string;
    const newKey = Object.values(keyDue.keys).find((k) => k!.id === newKeyId)!;
    assert.equal(cli.config("key-due").accessKeyGeneration!.value, "2");
    assert.equal((keyDue.outputs.accessKeySlots!.value as SlotRecord[]).length, 2);
    // key-due uses the same LWA app as lwa-due: the rotation stored the new secret there too and deployed it (one up),
    // besides the key step's own up; its block then carries both.
    assert.deepEqual(cli.config("key-due").lwaClientSecret, { value: newSecret, secret: true });
    assert.equal(ups("key-due"), 2);
    assert.match(columns(table, "key-due").done, /key: start: /);
    assert.match(columns(table, "key-due").done, /jobs: updated 2 job credential\(s\) in 2 file\(s\)/);
    // key-due shares lwa-due's LWA app: rotated with it, in the same lane, after it.
    assert.match(columns(table, "key-due").waiting, /lwa: rotated with stack lwa-due, which has lwaRotation for the same LWA app/);
    assert.equal(fs.readFileSync(path.join(outDir, "key-due.hjson"), "utf8"), keyDue.outputs.credentials!.value);
    const reports = fs.readFileSync(path.join(jobs, "reports.hjson"), "utf8");
    const orders = fs.readFileSync(path.join(jobs, "orders.json"), "utf8");
    for (const job of [Hjson.parse(reports).input.credentials, JSON.parse(orders).input.credentials]) {
      assert.equal(job.aws_access_key_id, newKeyId);
      assert.equal(job.aws_secret_access_key, newKey.secret);
      assert.equal(job.client_secret, newSecret, "the app's new secret: its stacks and their jobs are rotated together");
    }
    assert.ok(reports.includes("# rotated quarterly"), "the HJSON job keeps its comments");

    // handover: the old key deactivated, no new block.
    assert.equal(cli.config("handover").previousAccessKey!.value, "inactive");
    assert.equal(ups("handover"), 1);
    assert.match(columns(table, "handover").done, /key: deactivate: /);

    // waiting: nothing changed, and why.
    assert.equal(calls.filter((c) => c.stack === "waiting" && (c.argv[0] === "up" || c.argv.slice(0, 2).join(" ") === "config set")).length, 0);
    assert.match(columns(table, "waiting").waiting, /key: .*last used .* by sts in us-east-1.*a job still has the old block/);
    assert.equal(columns(table, "waiting").done, "-");

    // failing: reported with its cause; its config put back; the others finished all the same.
    assert.equal(ups("failing"), 1);
    assert.equal(cli.config("failing").accessKeyGeneration, undefined, "the bump is put back");
    assert.match(columns(table, "failing").failed, /key: .*the step failed: .*the operator's session expired \(injected by the test\)/);
    assert.match(columns(table, "failing").failed, /Config put back/);
    for (const name of ["lwa-due", "key-due", "handover", "waiting"]) assert.equal(columns(table, name).failed, "-", name);
    assert.match(stdout, /^failing: FAILED$/m);
    // The failure's cause once in the whole output: in the summary, not also in the log above it.
    assert.equal(stdout.split("the operator's session expired").length - 1, 1, stdout);

    // Each stack's own block file, mode 600, in a directory only its owner can read.
    // key-due's block was replaced during the round: the block it replaced is kept beside it, private too.
    assert.deepEqual(fs.readdirSync(outDir).sort(), ["key-due.hjson", "key-due.hjson.previous", "lwa-due.hjson"]);
    assert.equal(fs.statSync(outDir).mode & 0o777, 0o700);
    for (const f of fs.readdirSync(outDir)) assert.equal(fs.statSync(path.join(outDir, f)).mode & 0o777, 0o600, f);

    assertNoSecret(cli, names(), stdout, stderr);
  });

  it("--concurrency 2: never more than two stacks in flight, each stack's up taking 300 ms", async () => {
    const c = FakePulumi.create();
    try {
      const members: Member[] = ["c1", "c2", "c3", "c4", "c5"].map((name, i) => ({
        name,
        userName: `sp-api-${name}`,
        account: `55555555555${i}`,
        createdDaysAgo: 80,
        use: { current: 2 },
      }));
      seed(c, members);
      for (const m of members) c.update(m.name, (s) => (s.upDelayMs = 300));
      mirror(iam, c, members);
      collect(
        c,
        members.map((m) => m.name),
      );
      const { code, stdout, stderr } = await maintain(c, ["--all", "--concurrency", "2"]);
      assert.equal(code, 0, stdout + stderr);
      for (const m of members) assert.equal(c.callsOf("up", m.name).length, 1, m.name);
      assert.equal(maxStacksInFlight(c.calls()), 2);
      assert.deepEqual(fs.readdirSync(outDir).filter((f) => /^c\d\.hjson$/.test(f)).length, 5);
      assertNoSecret(
        c,
        members.map((m) => m.name),
        stdout,
        stderr,
      );
    } finally {
      c.cleanup();
    }
  });
});
