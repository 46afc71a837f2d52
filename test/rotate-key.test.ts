/**
 * `npm run rotate-key`: the pure decision over the phase table, interrupted runs, and the cross-check of
 * IAM's keys against the stack's records.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { main, parseArgs } from "../commands/rotate-key/cli";
import { rotateKey, type KeyRotationReport } from "../commands/rotate-key/run";
import { acquireLocks, stackLock } from "../lib/lock";
import { openStack, type PulumiStack } from "../lib/pulumi";
import { SECRETS } from "./fake-amazon";
import { FakeIam, keysOfStack, OPERATOR } from "./fake-iam";
import { FakePulumi } from "./fake-pulumi";
import { runMain } from "./in-process";
import { runThroughNpm } from "./through-npm";
import { decide, type DecideInput, type IamKey, type RotationConfig } from "../commands/rotate-key/decide";
import type { SlotRecord } from "../src/lifecycle";

const NOW = new Date("2026-11-27T06:00:00Z");
const CONFIG: RotationConfig = {
  accessKeyGeneration: 3,
  previousAccessKey: "active",
  maxAccessKeyAgeDays: 90,
  keyRotationLeadDays: 14,
  keyQuietHours: 48,
  keyInactiveDays: 7,
};
const NEW_ID = "AKIANEWKEY3GENERATIO";
const OLD_ID = "AKIAOLDKEY2GENERATIO";
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
const daysAgo = (d: number) => hoursAgo(24 * d);

const used = (h: number) => ({ lastUsedDate: hoursAgo(h), lastUsedService: "sts", lastUsedRegion: "us-east-1" });
const newKey = (extra: Partial<IamKey> = {}): IamKey => ({ id: NEW_ID, status: "Active", createDate: daysAgo(3), ...extra });
const oldKey = (extra: Partial<IamKey> = {}): IamKey => ({ id: OLD_ID, status: "Active", createDate: daysAgo(80), ...extra });

const steadySlots: SlotRecord[] = [{ slot: "a", generation: 3, status: "Active", pgpKey: null }];
const handoverSlots: SlotRecord[] = [
  { slot: "a", generation: 3, status: "Active", pgpKey: null },
  { slot: "b", generation: 2, status: "Active", pgpKey: null },
];
const inactiveSlots = (since: string): SlotRecord[] => [
  { slot: "a", generation: 3, status: "Active", pgpKey: null },
  { slot: "b", generation: 2, status: "Inactive", pgpKey: null, inactiveSince: since },
];

function run(overrides: Omit<Partial<DecideInput>, "config"> & { config?: Partial<RotationConfig> }) {
  return decide({
    now: NOW,
    ifDue: true,
    deployed: { slots: handoverSlots, accessKeyId: NEW_ID },
    iam: [newKey(), oldKey()],
    ...overrides,
    config: { ...CONFIG, ...overrides.config },
  });
}

describe("rotate-key: the decision (pure)", () => {
  describe("steady: one key", () => {
    const steady = (createdDaysAgo: number, ifDue = true) =>
      run({
        ifDue,
        config: { previousAccessKey: "removed" },
        deployed: { slots: steadySlots, accessKeyId: NEW_ID },
        iam: [newKey({ createDate: daysAgo(createdDaysAgo), ...used(2) })],
      });

    it("starts when the key is older than maxAccessKeyAgeDays minus keyRotationLeadDays", () => {
      const d = steady(76);
      assert.equal(d.phase, "steady");
      assert.equal(d.step, "start");
      assert.deepEqual(d.changes, [
        { key: "previousAccessKey", value: "active" },
        { key: "accessKeyGeneration", value: "4" },
      ]);
      assert.match(d.reason, /keyRotationLeadDays \(14\)/);
    });

    it("does nothing before then with --if-due, and names the day it starts", () => {
      const d = steady(75);
      assert.equal(d.step, "none");
      assert.equal(d.nextDate, "2026-11-28");
      assert.match(d.reason, /not due/);
      assert.deepEqual(d.changes, []);
    });

    it("starts whatever the age without --if-due", () => {
      const d = steady(1, false);
      assert.equal(d.step, "start");
      assert.match(d.reason, /no --if-due/);
    });

    it("generation 1 with previousAccessKey at its default needs only the bump", () => {
      const d = run({
        config: { accessKeyGeneration: 1 },
        deployed: { slots: [{ slot: "a", generation: 1, status: "Active", pgpKey: null }], accessKeyId: NEW_ID },
        iam: [newKey({ createDate: daysAgo(100) })],
      });
      assert.deepEqual(d.changes, [{ key: "accessKeyGeneration", value: "2" }]);
    });
  });

  describe("handover: two active keys", () => {
    it("deactivates when the new key has been used and the old one not for keyQuietHours", () => {
      const d = run({ iam: [newKey(used(1)), oldKey(used(49))] });
      assert.equal(d.phase, "handover");
      assert.equal(d.step, "deactivate");
      assert.deepEqual(d.changes, [{ key: "previousAccessKey", value: "inactive" }]);
      assert.match(d.reason, /AKIA…ATIO/);
      assert.ok(!d.reason.includes(OLD_ID), "key ids are masked");
    });

    it("an old key IAM never saw used counts as quiet", () => {
      assert.equal(run({ iam: [newKey(used(1)), oldKey()] }).step, "deactivate");
    });

    it("waits while the old key was used within keyQuietHours, saying when, by which service and region", () => {
      const d = run({ iam: [newKey(used(1)), oldKey({ lastUsedDate: hoursAgo(47), lastUsedService: "sts", lastUsedRegion: "eu-west-1" })] });
      assert.equal(d.step, "none");
      assert.match(d.reason, new RegExp(`last used ${hoursAgo(47)} by sts in eu-west-1`));
      assert.match(d.reason, /a job still has the old block/);
      assert.equal(d.nextDate, new Date(Date.parse(hoursAgo(47)) + 48 * 3_600_000).toISOString());
    });

    it("waits while the new key has never been used: no job has the new block yet", () => {
      const d = run({ iam: [newKey(), oldKey(used(100))] });
      assert.equal(d.step, "none");
      assert.match(d.reason, /no job has the new block yet/);
      assert.match(d.reason, /npm run credentials/);
    });

    it("keyQuietHours comes from config", () => {
      assert.equal(run({ config: { keyQuietHours: 24 }, iam: [newKey(used(1)), oldKey(used(25))] }).step, "deactivate");
      assert.equal(run({ config: { keyQuietHours: 72 }, iam: [newKey(used(1)), oldKey(used(70))] }).step, "none");
    });
  });

  describe("old key inactive", () => {
    const inactive = (since: string, newUse: Partial<IamKey>, config: Partial<RotationConfig> = {}) =>
      run({
        config: { previousAccessKey: "inactive", ...config },
        deployed: { slots: inactiveSlots(since), accessKeyId: NEW_ID },
        iam: [newKey(newUse), oldKey({ status: "Inactive", ...used(200) })],
      });

    it("deletes after keyInactiveDays when the new key is still in use", () => {
      const d = inactive("2026-11-20", used(3));
      assert.equal(d.phase, "old-key-inactive");
      assert.equal(d.step, "delete");
      assert.deepEqual(d.changes, [{ key: "previousAccessKey", value: "removed" }]);
    });

    it("does nothing while inactive for less, and names the day it is deleted", () => {
      const d = inactive("2026-11-21", used(3));
      assert.equal(d.step, "none");
      assert.equal(d.nextDate, "2026-11-28");
    });

    it("does not delete when the new key has not been used since the old one was deactivated", () => {
      const d = inactive("2026-11-10", { lastUsedDate: "2026-11-09T10:00:00Z", lastUsedService: "sts", lastUsedRegion: "us-east-1" });
      assert.equal(d.step, "none");
      assert.match(d.reason, /has not been used since then/);
    });

    it("keyInactiveDays comes from config", () => {
      assert.equal(inactive("2026-11-26", used(3), { keyInactiveDays: 1 }).step, "delete");
    });

    it("a record without inactiveSince waits for the next pulumi up to record it", () => {
      const slots = inactiveSlots("x").map(({ inactiveSince: _, ...s }) => s);
      const d = run({
        config: { previousAccessKey: "inactive" },
        deployed: { slots, accessKeyId: NEW_ID },
        iam: [newKey(used(1)), oldKey({ status: "Inactive" })],
      });
      assert.equal(d.step, "none");
      assert.match(d.reason, /no inactiveSince/);
    });
  });

  it("removed: steady, nothing until the key is due", () => {
    const d = run({ config: { previousAccessKey: "removed" }, deployed: { slots: steadySlots, accessKeyId: NEW_ID }, iam: [newKey(used(1))] });
    assert.equal(d.phase, "steady");
    assert.equal(d.step, "none");
  });

  describe("IAM against the stack", () => {
    it("refuses a key IAM lists that the stack did not make (one made by hand)", () => {
      const d = run({
        config: { previousAccessKey: "removed" },
        deployed: { slots: steadySlots, accessKeyId: NEW_ID },
        iam: [newKey({ createDate: daysAgo(100) }), oldKey({ id: "AKIAHANDMADEKEY00001", createDate: daysAgo(1) })],
      });
      assert.equal(d.refused, true);
      assert.equal(d.step, "none");
      assert.match(d.reason, /did not make: AKIA…0001/);
      assert.match(d.reason, /made by hand/);
    });

    it("refuses when the stack's key is missing from IAM, or a recorded old key is gone", () => {
      assert.match(run({ iam: [oldKey()] }).reason, /does not list the stack's key/);
      assert.match(run({ iam: [newKey(used(1))] }).reason, /IAM lists none/);
    });

    it("refuses when IAM's status disagrees with the deployment", () => {
      const d = run({ iam: [newKey(used(1)), oldKey({ status: "Inactive" })] });
      assert.equal(d.refused, true);
      assert.match(d.reason, /as Inactive, the stack deployed it Active/);
    });

    it("refuses a stack with no accessKeySlots output", () => {
      assert.equal(run({ deployed: {} }).refused, true);
    });
  });

  describe("an interrupted run: config set, not deployed", () => {
    it("a half-set start (previousAccessKey only) is finished: the bump is set, not repeated", () => {
      const d = run({ config: { previousAccessKey: "active" }, deployed: { slots: steadySlots, accessKeyId: NEW_ID }, iam: [newKey()] });
      assert.equal(d.step, "start");
      assert.equal(d.resumed, true);
      assert.deepEqual(d.changes, [{ key: "accessKeyGeneration", value: "4" }]);
    });

    it("a fully set start is finished with up alone, even when not due (someone asked for it)", () => {
      const d = run({
        config: { accessKeyGeneration: 4, previousAccessKey: "active" },
        deployed: { slots: steadySlots, accessKeyId: NEW_ID },
        iam: [newKey()],
      });
      assert.equal(d.step, "start");
      assert.equal(d.resumed, true);
      assert.deepEqual(d.changes, [], "generation deployed + 1 is not bumped again");
    });

    it("a set deactivation the evidence still supports is finished with up alone", () => {
      const d = run({ config: { previousAccessKey: "inactive" }, iam: [newKey(used(1)), oldKey(used(50))] });
      assert.equal(d.step, "deactivate");
      assert.equal(d.resumed, true);
      assert.deepEqual(d.changes, []);
    });

    it("a set deactivation the evidence no longer supports is put back, nothing deployed", () => {
      const d = run({ config: { previousAccessKey: "inactive" }, iam: [newKey(used(1)), oldKey(used(2))] });
      assert.equal(d.step, "none");
      assert.deepEqual(d.restore, [{ key: "previousAccessKey", value: "active" }]);
    });

    it("a set deletion is finished when due", () => {
      const d = run({
        config: { previousAccessKey: "removed" },
        deployed: { slots: inactiveSlots("2026-11-01"), accessKeyId: NEW_ID },
        iam: [newKey(used(1)), oldKey({ status: "Inactive" })],
      });
      assert.equal(d.step, "delete");
      assert.equal(d.resumed, true);
    });

    it("refuses a config difference none of its steps makes (a jump, or skipping inactive)", () => {
      const jump = run({ config: { accessKeyGeneration: 5 }, iam: [newKey(used(1)), oldKey(used(50))] });
      assert.equal(jump.refused, true);
      assert.match(jump.reason, /npm run pulumi -- config set accessKeyGeneration 3/);
      const skip = run({ config: { previousAccessKey: "removed" }, iam: [newKey(used(1)), oldKey(used(50))] });
      assert.equal(skip.refused, true);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The command: a fake IAM through the real @aws-sdk/client-iam, the stand-in Pulumi CLI
// ---------------------------------------------------------------------------------------------------------------

const LWA = { clientId: SECRETS.clientId, clientSecret: SECRETS.clientSecret, refreshToken: SECRETS.refreshToken };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe("npm run rotate-key", function () {
  this.timeout(30_000);
  const iam = new FakeIam();
  let cli: FakePulumi;
  let dir: string;
  /** Every secret the stacks and IAM held during a test: none may appear in any output. */
  let secrets: Set<string>;

  before(() => iam.start());
  after(() => iam.stop());
  beforeEach(() => {
    iam.reset();
    cli = FakePulumi.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rotate-key-"));
    secrets = new Set([OPERATOR.secret, LWA.clientSecret, LWA.refreshToken]);
  });
  afterEach(() => {
    cli.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function collectSecrets(name: string): void {
    const state = cli.stack(name);
    for (const key of Object.values(state.keys)) secrets.add(key!.secret);
    const block = state.outputs.credentials?.value;
    if (typeof block === "string") secrets.add(block);
  }

  function assertNoSecret(text: string, name: string): void {
    collectSecrets(name);
    for (const secret of secrets) assert.ok(!text.includes(secret), `a secret reached the output: ${secret.slice(0, 4)}…`);
    for (const key of Object.values(cli.stack(name).keys)) assert.ok(!text.includes(key!.id), "a whole key id reached the output");
  }

  /** A deployed stack whose keys were created `createdDaysAgo` days ago, with the given rotation config. */
  function seed(name: string, config: Record<string, string | number> = {}, createdDaysAgo = 1): void {
    cli.setNow(new Date(Date.now() - createdDaysAgo * DAY).toISOString());
    cli.addStack(name, { config: { lwaClientId: LWA.clientId, ...config }, secrets: { lwaClientSecret: LWA.clientSecret, lwaRefreshToken: LWA.refreshToken } });
    cli.setNow(new Date().toISOString());
    collectSecrets(name);
  }

  const lastUse = (hoursAgo: number, region = "us-east-1") => ({
    date: new Date(Date.now() - hoursAgo * HOUR).toISOString().replace(/\.\d{3}Z$/, "Z"),
    service: "sts",
    region,
  });

  /** IAM as the stack's keys make it, each key last used `hoursAgo` (undefined: never). */
  function mirror(name: string, use: { current?: number; previous?: number } = {}): void {
    iam.keys = keysOfStack(cli.stack(name), use);
  }

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return cli.env({ ...iam.env(), SP_API_AWS_TIMEOUT_MS: "1500", INIT_CWD: dir, ...extra });
  }

  async function run(name: string, opts: { ifDue?: boolean; dryRun?: boolean; env?: NodeJS.ProcessEnv; stack?: PulumiStack } = {}) {
    const lines: string[] = [];
    const runEnv = opts.env ?? env();
    const stack = opts.stack ?? (await openStack(name, { env: runEnv }));
    const report = await rotateKey(stack, {
      ifDue: opts.ifDue ?? true,
      dryRun: opts.dryRun ?? false,
      out: "block.hjson",
      env: runEnv,
      print: (l) => lines.push(l),
    });
    const text = lines.join("\n");
    assertNoSecret(`${text}\n${JSON.stringify(report)}`, name);
    return { report, text };
  }

  const rotationConfig = (name: string) => {
    const config = cli.config(name);
    return { generation: config.accessKeyGeneration?.value, previous: config.previousAccessKey?.value };
  };
  const ups = (name: string) => cli.callsOf("up", name).length;
  const configSets = (name: string) => cli.callsOf("config set", name).length + cli.callsOf("config rm", name).length;

  it("its refusals are in the one `rotate-key: error:` form: a plain-http endpoint, a stack in use", async () => {
    seed("form", {}, 80);
    const plain = await run("form", { env: env({ AWS_ENDPOINT_URL_IAM: "http://iam.example.com" }) });
    assert.equal(plain.report.exitCode, 2);
    assert.match(plain.text, /^rotate-key: error: AWS_ENDPOINT_URL_IAM is plain http:\/\//m);
    assert.doesNotMatch(plain.text, /^Error: /m);
    const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), "rk-locks-"));
    try {
      const lockEnv = env({ SP_API_IAM_LOCK_DIR: lockDir, SP_API_IAM_LOCK_WAIT_MS: "0" });
      const held = await acquireLocks([stackLock("form", lockEnv)], { env: lockEnv, command: "test" });
      try {
        const busy = await run("form", { env: lockEnv });
        assert.equal(busy.report.exitCode, 1);
        assert.match(busy.text, /^rotate-key: error: .*in use by/m);
      } finally {
        await held.release();
      }
    } finally {
      fs.rmSync(lockDir, { recursive: true, force: true });
    }
  });

  it("a stack's aws:profile that no AWS config file holds is named (not the SDK's 'Could not load credentials from any providers')", async () => {
    cli.setNow(new Date(Date.now() - 80 * DAY).toISOString());
    cli.addStack("noprof", {
      config: { lwaClientId: LWA.clientId },
      secrets: { lwaClientSecret: LWA.clientSecret, lwaRefreshToken: LWA.refreshToken },
      provider: { profile: "acme-prod" },
    });
    cli.setNow(new Date().toISOString());
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "rk-home-"));
    try {
      const { report, text } = await run("noprof", { env: env({ HOME: home, AWS_CONFIG_FILE: "", AWS_SHARED_CREDENTIALS_FILE: "" }) });
      assert.equal(report.exitCode, 1, text);
      assert.match(report.reason, /the AWS profile "acme-prod" \(aws:profile\) is in neither .*\.aws\/config nor .*\.aws\/credentials/);
      assert.doesNotMatch(text, /Could not load credentials from any providers/);
      assert.equal(ups("noprof"), 0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("aws:profile and AWS_* keys both set (a scheduler, docs/fleet.md): the profile decides, and the SDK's multi-line warning is not printed", async function () {
    cli.setNow(new Date(Date.now() - 1 * DAY).toISOString());
    cli.addStack("both", {
      config: { lwaClientId: LWA.clientId },
      secrets: { lwaClientSecret: LWA.clientSecret, lwaRefreshToken: LWA.refreshToken },
      provider: { profile: "acme-prod" },
    });
    cli.setNow(new Date().toISOString());
    mirror("both", { current: 2 });
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "rk-home-"));
    try {
      fs.mkdirSync(path.join(home, ".aws"));
      fs.writeFileSync(
        path.join(home, ".aws", "credentials"),
        `[acme-prod]\naws_access_key_id = ${OPERATOR.keyId}\naws_secret_access_key = ${OPERATOR.secret}\n`,
      );
      // A process of its own: the SDK prints its warning once per process.
      // Not spawnSync: the fake IAM answers from this process's event loop.
      const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ["-r", "./tools/register.js", "commands/rotate-key/cli.ts", "--stack", "both", "--dry-run"], {
          cwd: path.resolve(__dirname, ".."),
          env: env({ HOME: home }),
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.stdin.end();
      });
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
      assert.doesNotMatch(result.stdout + result.stderr, /Multiple credential sources|credential-provider-node/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("--out naming a job config: exit 2 before anything is read, naming --into; the job config left as it was", async () => {
    seed("job", {}, 80);
    const job = '{"input": {"credentials": {"role_arn": "a", "client_id": "b"}}}\n';
    fs.writeFileSync(path.join(dir, "block.hjson"), job);
    try {
      const { report, text } = await run("job");
      assert.equal(report.exitCode, 2);
      assert.match(text, /^rotate-key: error: block\.hjson holds a job config, not a credentials block this kit wrote; .*--into block\.hjson/m);
      assert.equal(fs.readFileSync(path.join(dir, "block.hjson"), "utf8"), job);
      assert.equal(ups("job"), 0);
    } finally {
      fs.rmSync(path.join(dir, "block.hjson"));
    }
  });

  describe("each row of the phase table", () => {
    it("steady, key due: starts the rotation, writes the new block (mode 600), says to hand it to every job", async () => {
      seed("x", {}, 80);
      mirror("x", { current: 2 });
      const { report, text } = await run("x");
      assert.equal(report.exitCode, 0, report.reason);
      assert.deepEqual([report.phase, report.step, report.took], ["steady", "start", true]);
      assert.deepEqual(rotationConfig("x"), { generation: "2", previous: undefined });
      assert.equal(ups("x"), 1);
      const slots = cli.stack("x").outputs.accessKeySlots!.value as SlotRecord[];
      assert.deepEqual(slots.map((s) => [s.generation, s.status]).sort(), [
        [1, "Active"],
        [2, "Active"],
      ]);
      const file = path.join(dir, "block.hjson");
      assert.equal(report.wroteBlock, file);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.readFileSync(file, "utf8"), cli.stack("x").outputs.credentials!.value);
      assert.match(text, /Hand it to every job/);
      assert.match(text, /npm run credentials -- --into/);
      assert.match(text, /Phase: steady/);
      assert.match(text, /Reason: .*keyRotationLeadDays \(14\)/);
    });

    it("steady, not due, --if-due: nothing, with the day the rotation starts", async () => {
      seed("x", {}, 10);
      mirror("x", { current: 2 });
      const { report, text } = await run("x");
      assert.deepEqual([report.step, report.took, report.exitCode], ["none", false, 0]);
      assert.equal(report.nextDate, new Date(Date.now() + 66 * DAY).toISOString().slice(0, 10));
      assert.match(text, /Next: \d{4}-\d\d-\d\d/);
      assert.equal(ups("x") + configSets("x"), 0);
    });

    it("steady, without --if-due: starts whatever the key's age", async () => {
      seed("x", {}, 1);
      mirror("x", { current: 2 });
      const { report } = await run("x", { ifDue: false });
      assert.deepEqual([report.step, report.took], ["start", true]);
      assert.match(report.reason, /no --if-due/);
    });

    it("handover, new key used, old key quiet for keyQuietHours: deactivates the old key", async () => {
      seed("x", { accessKeyGeneration: 2 }, 5);
      mirror("x", { current: 1, previous: 49 });
      const { report, text } = await run("x");
      assert.deepEqual([report.phase, report.step, report.took, report.exitCode], ["handover", "deactivate", true, 0]);
      assert.deepEqual(rotationConfig("x"), { generation: "2", previous: "inactive" });
      const old = (cli.stack("x").outputs.accessKeySlots!.value as SlotRecord[]).find((s) => s.generation === 1)!;
      assert.equal(old.status, "Inactive");
      assert.equal(old.inactiveSince, new Date().toISOString().slice(0, 10), "the deployment records the day");
      assert.match(text, /last used .* by sts in us-east-1/);
      assert.equal(report.nextDate, new Date(Date.now() + 7 * DAY).toISOString().slice(0, 10));
    });

    it("handover, old key used within keyQuietHours: nothing; says when, by which service and region", async () => {
      seed("x", { accessKeyGeneration: 2 }, 5);
      mirror("x", { current: 1 });
      iam.keys[1]!.lastUsed = lastUse(3, "eu-west-1");
      const { report } = await run("x");
      assert.deepEqual([report.step, report.exitCode], ["none", 0]);
      assert.match(report.reason, new RegExp(`last used ${iam.keys[1]!.lastUsed!.date} by sts in eu-west-1`));
      assert.match(report.reason, /a job still has the old block/);
      assert.equal(ups("x") + configSets("x"), 0);
    });

    it("handover, new key never used: nothing; no job has the new block yet", async () => {
      seed("x", { accessKeyGeneration: 2 }, 5);
      mirror("x", { previous: 100 });
      const { report } = await run("x");
      assert.deepEqual([report.step, report.exitCode], ["none", 0]);
      assert.match(report.reason, /no job has the new block yet/);
      assert.equal(ups("x") + configSets("x"), 0);
    });

    it("old key inactive for keyInactiveDays, new key in use: deletes the old key", async () => {
      seed("x", { accessKeyGeneration: 2, previousAccessKey: "inactive" }, 8);
      mirror("x", { current: 2 });
      const { report } = await run("x");
      assert.deepEqual([report.phase, report.step, report.took, report.exitCode], ["old-key-inactive", "delete", true, 0]);
      assert.deepEqual(rotationConfig("x"), { generation: "2", previous: "removed" });
      assert.deepEqual(
        (cli.stack("x").outputs.accessKeySlots!.value as SlotRecord[]).map((s) => s.generation),
        [2],
      );
    });

    it("old key inactive for less than keyInactiveDays: nothing, with the day it is deleted", async () => {
      seed("x", { accessKeyGeneration: 2, previousAccessKey: "inactive" }, 3);
      mirror("x", { current: 2 });
      const { report } = await run("x");
      assert.deepEqual([report.phase, report.step, report.exitCode], ["old-key-inactive", "none", 0]);
      assert.equal(report.nextDate, new Date(Date.now() + 4 * DAY).toISOString().slice(0, 10));
      assert.equal(ups("x") + configSets("x"), 0);
    });

    it("removed: steady, nothing while the key is young", async () => {
      seed("x", { accessKeyGeneration: 2, previousAccessKey: "removed" }, 3);
      mirror("x", { current: 2 });
      const { report } = await run("x");
      assert.deepEqual([report.phase, report.step, report.exitCode], ["steady", "none", 0]);
    });
  });

  it("takes one step per run: a due key is rotated, and the next run waits for the jobs", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    assert.equal((await run("x", { ifDue: false })).report.step, "start");
    mirror("x", { previous: 2 });
    const second = await run("x", { ifDue: false });
    assert.deepEqual([second.report.phase, second.report.step], ["handover", "none"]);
    assert.equal(ups("x"), 1, "one up in two runs");
  });

  it("up failing puts the config back as it was (an unset key unset again) and exits 1", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    cli.failNext("x", "up", { stderr: "error: creating IAM Access Key: LimitExceeded (injected)" });
    const { report, text } = await run("x");
    assert.deepEqual([report.step, report.took, report.exitCode], ["start", false, 1]);
    assert.match(text, /LimitExceeded/);
    assert.match(text, /Config put back: accessKeyGeneration \(unset\)/);
    assert.deepEqual(rotationConfig("x"), { generation: undefined, previous: undefined });
    assert.ok(!fs.existsSync(path.join(dir, "block.hjson")));

    seed("y", { accessKeyGeneration: 2 }, 5);
    mirror("y", { current: 1, previous: 60 });
    cli.failNext("y", "up");
    const deactivate = await run("y");
    assert.equal(deactivate.report.exitCode, 1);
    assert.deepEqual(rotationConfig("y"), { generation: "2", previous: undefined });
  });

  for (const action of ["ListAccessKeys", "GetAccessKeyLastUsed"] as const) {
    it(`IAM AccessDenied on ${action}: names iam:${action}, exit 1, nothing changed`, async () => {
      seed("x", {}, 80);
      mirror("x", { current: 2 });
      iam.behaviour.deny = [action];
      const { report, text } = await run("x");
      assert.equal(report.exitCode, 1);
      assert.equal(report.phase, "unknown");
      assert.match(report.reason, new RegExp(`IAM refused iam:${action}`));
      assert.match(text, new RegExp(`Fix: allow iam:${action}`));
      assert.equal(ups("x") + configSets("x"), 0);
    });
  }

  it("signs every IAM request as IAM checks it (SigV4, service iam, us-east-1) with the operator's credentials", async () => {
    seed("x", { accessKeyGeneration: 2 }, 5);
    mirror("x", { current: 1, previous: 100 });
    await run("x", { dryRun: true });
    assert.deepEqual(
      iam.seen.map((r) => [r.action, r.problems]),
      [
        ["ListAccessKeys", []],
        ["GetAccessKeyLastUsed", []],
        ["GetAccessKeyLastUsed", []],
      ],
    );
    assert.equal(iam.seen[0]!.form.UserName, "sp-api-connector");
  });

  for (const peer of ["stall", "trickle", "garbage"] as const) {
    it(`an IAM peer that ${peer === "garbage" ? "answers garbage" : `${peer}s`} ends the run with exit 1, nothing changed`, async () => {
      seed("x", {}, 80);
      mirror("x", { current: 2 });
      iam.behaviour[peer] = "GetAccessKeyLastUsed";
      const { report } = await run("x", { env: env({ SP_API_AWS_TIMEOUT_MS: "2000" }) });
      assert.equal(report.exitCode, 1);
      assert.match(report.reason, peer === "garbage" ? /could not read iam:GetAccessKeyLastUsed/ : /did not answer iam:GetAccessKeyLastUsed within 2000 ms/);
      assert.equal(ups("x") + configSets("x"), 0);
    });
  }

  it("an IAM endpoint that refuses the connection: names it and the fix, exit 1, nothing changed", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    const closed = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const { report } = await run("x", { env: env({ AWS_ENDPOINT_URL_IAM: `http://127.0.0.1:${closed}` }) });
    assert.equal(report.exitCode, 1);
    assert.match(report.reason, /could not reach IAM for iam:ListAccessKeys \(ECONNREFUSED\); nothing was changed\. Fix: .*AWS_ENDPOINT_URL_IAM/);
    assert.equal(ups("x") + configSets("x"), 0);
  });

  it("--dry-run decides and prints, and changes nothing (no config set, no up, no file)", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    const { report, text } = await run("x", { dryRun: true });
    assert.deepEqual([report.step, report.took, report.exitCode], ["start", false, 0]);
    assert.match(text, /Decision: start a rotation/);
    assert.match(text, /Dry run: nothing was changed/);
    assert.equal(ups("x") + configSets("x"), 0);
    assert.ok(!fs.existsSync(path.join(dir, "block.hjson")));
  });

  it("refuses when IAM holds a key the stack did not make (made by hand): exit 1, nothing changed", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    iam.keys.push({ id: "AKIAHANDMADE7KEY0001", status: "Active", createDate: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") });
    const { report, text } = await run("x");
    assert.equal(report.exitCode, 1);
    assert.match(text, /did not make: AKIA…0001/);
    assert.match(text, /made by hand/);
    assert.equal(ups("x") + configSets("x"), 0);
  });

  describe("an interrupted run", () => {
    /** The stack as a run sees it, except that `up` never returns: the process was stopped there. */
    function stoppedAtUp(stack: PulumiStack): PulumiStack {
      return Object.assign(Object.create(stack) as PulumiStack, { up: () => new Promise<never>(() => undefined) });
    }

    it("stopped between the config change and up: the next run finishes with up, without bumping again", async () => {
      seed("x", {}, 80);
      mirror("x", { current: 2 });
      const stack = await openStack("x", { env: env() });
      // A killed process's lock is stale and broken by the next run; this in-process stand-in for one keeps its own.
      const abandonedLocks = fs.mkdtempSync(path.join(os.tmpdir(), "abandoned-locks-"));
      const abandoned = rotateKey(stoppedAtUp(stack), {
        ifDue: true,
        dryRun: false,
        out: "block.hjson",
        env: env({ SP_API_IAM_LOCK_DIR: abandonedLocks }),
        print: () => undefined,
      });
      // Wait until the config is set and up has been reached, then leave the run there, as a killed process would.
      // (The first config set may be stateRevision, which a write of the operational state sets first.)
      while (!cli.callsOf("config set", "x").some((c) => c.argv.some((a) => a.endsWith("accessKeyGeneration")))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      void abandoned;
      assert.deepEqual(rotationConfig("x"), { generation: "2", previous: undefined });
      assert.equal(ups("x"), 0);
      const setsBefore = cli.callsOf("config set", "x").length;

      const { report, text } = await run("x");
      assert.deepEqual([report.step, report.took, report.resumed, report.exitCode], ["start", true, true, 0]);
      assert.deepEqual(report.changes, [], "nothing set again");
      assert.match(text, /finishing an interrupted run/);
      assert.deepEqual(rotationConfig("x"), { generation: "2", previous: undefined }, "generation deployed + 1, not + 2");
      assert.equal(ups("x"), 1);
      assert.equal(cli.callsOf("config set", "x").length, setsBefore, "only the interrupted run set config");
      assert.ok(fs.existsSync(path.join(dir, "block.hjson")));
      fs.rmSync(abandonedLocks, { recursive: true, force: true }); // its holder never finishes: nothing else removes it
    });

    it("a pending deactivation the evidence no longer supports is put back, not deployed", async () => {
      seed("x", { accessKeyGeneration: 2 }, 5);
      mirror("x", { current: 1, previous: 2 });
      cli.run(["config", "set", "previousAccessKey", "inactive", "--stack", "x"]);
      const { report, text } = await run("x");
      assert.deepEqual([report.step, report.exitCode], ["none", 0]);
      assert.match(text, /Put back: previousAccessKey active/);
      assert.deepEqual(rotationConfig("x"), { generation: "2", previous: "active" });
      assert.equal(ups("x"), 0);
    });
  });

  it("through the user's door: npm run rotate-key -- --stack x --json from another directory", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "rotate-key-cwd-"));
    try {
      const result = await runThroughNpm("rotate-key", ["--stack", "x", "--json", "--if-due"], { cwd: elsewhere, env: env() });
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as KeyRotationReport;
      assert.deepEqual([report.stack, report.phase, report.step, report.took], ["x", "steady", "start", true]);
      assert.equal(report.wroteBlock, path.join(elsewhere, "credentials.hjson"), "--out is relative to where the user ran npm");
      assert.equal(fs.statSync(path.join(elsewhere, "credentials.hjson")).mode & 0o777, 0o600);
      assert.match(result.stderr, /Hand it to every job/);
      assertNoSecret(result.stdout + result.stderr, "x");
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("through npm without the --: `npm run rotate-key --dry-run` (npm keeps --dry-run) rotates nothing and exits 2", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    cli.run(["stack", "select", "x"]);
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "rotate-key-cwd-"));
    try {
      const callsBefore = cli.calls().length;
      const result = await runThroughNpm("rotate-key", [], { cwd: elsewhere, env: env(), beforeDashes: ["--dry-run"] });
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(
        result.stderr,
        "rotate-key: error: npm kept --dry-run for itself (it set npm_config_dry_run) and did not pass it on; nothing was done. " +
          "Put -- before the command's flags: npm run rotate-key -- --dry-run ...\n",
      );
      assert.deepEqual(cli.calls().slice(callsBefore), [], "no Pulumi CLI call: nothing read, nothing set, no up");
      assert.equal(ups("x"), 0);
      assert.deepEqual(fs.readdirSync(elsewhere), [], "no block written");
      // -s before the --: npm's --silent, and the stack's name arrives alone: refused too, nothing done.
      const silent = await runThroughNpm("rotate-key", [], { cwd: elsewhere, env: env(), beforeDashes: ["-s", "x"] });
      assert.equal(silent.code, 2, silent.stderr);
      assert.match(silent.stderr, /^rotate-key: error: unexpected argument "x"\nUsage: npm run rotate-key -- /);
      assert.deepEqual(cli.calls().slice(callsBefore), [], "still no Pulumi CLI call");
      // With the --, the same command is a dry run.
      const dry = await runThroughNpm("rotate-key", ["--dry-run", "-s", "x"], { cwd: elsewhere, env: env() });
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /dry run/i);
      assert.equal(ups("x"), 0);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("through the user's door, in a git work tree that does not ignore --out: the block is written, with a warning", async () => {
    seed("x", {}, 80);
    mirror("x", { current: 2 });
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "rotate-key-git-"));
    try {
      spawnSync("git", ["init", "-q"], { cwd: elsewhere });
      const result = await runThroughNpm("rotate-key", ["--stack", "x", "--if-due", "--out", "acme-x.hjson"], { cwd: elsewhere, env: env() });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(fs.existsSync(path.join(elsewhere, "acme-x.hjson")));
      assert.match(result.stdout + result.stderr, /Warning: \S*acme-x\.hjson holds secrets and is inside a git work tree that does not ignore it/);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  const cliMain = (argv: string[], runEnv: NodeJS.ProcessEnv) => runMain(main, argv, runEnv);

  it("--json prints one object even when the run cannot start: no stack selected (2), a usage error (2)", async () => {
    seed("x", {}, 80);
    const none = await cliMain(["--json"], env());
    assert.equal(none.code, 2);
    const report = JSON.parse(none.stdout) as KeyRotationReport;
    assert.deepEqual([report.step, report.took, report.exitCode], ["none", false, 2]);
    assert.match(report.reason, /pass --stack/);
    const usage = await cliMain(["--json", "--bogus"], env());
    assert.equal(usage.code, 2);
    assert.match((JSON.parse(usage.stdout) as KeyRotationReport).reason, /unknown option --bogus/);
    assert.match(usage.stderr, /Usage: npm run rotate-key/);
  });

  it("parses the command line; a flag without its value is a usage error", () => {
    assert.deepEqual(parseArgs(["--stack"]), { kind: "error", message: "--stack needs a value", json: false });
    assert.equal(parseArgs(["--bogus", "--json"]).kind, "error");
    assert.deepEqual(parseArgs(["--if-due", "--dry-run", "--out", "f.hjson", "--stack", "s"]), {
      kind: "run",
      stack: "s",
      ifDue: true,
      dryRun: true,
      json: false,
      out: "f.hjson",
      checkUnused: false,
    });
  });
});
