/**
 * The commands on a connectorAuth lwa stack (docs/lwa-only.md): rotate-key says there is no key and exits 0;
 * `rotate-key -- --check-unused` reads IAM (the loopback fake, through the real client) and records the evidence the
 * switch needs; delivery writes an LWA-only block's three fields only, into the objects its client id and refresh token
 * name; status rows; and the daily round (rotate-lwa, the key step, delivery) over an lwa stack.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { blockFromOutputs } from "../commands/credentials/block";
import { deliverBlock, checkTargets } from "../commands/credentials/run";
import { main as rotateKeyMain } from "../commands/rotate-key/cli";
import { checkUnused, rotateKey, type KeyRotationReport, type UnusedCheckReport } from "../commands/rotate-key/run";
import { formatTable, main as statusMain } from "../commands/status/cli";
import { statusRow, type StackFacts } from "../commands/status/decide";
import { openStack } from "../lib/pulumi";
import { addDays } from "../src/lifecycle";
import { FakeIam, OPERATOR } from "./fake-iam";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi, FAKE_ACCOUNT } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";
import { runMain, runMaintain } from "./in-process";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const today = () => new Date().toISOString().slice(0, 10);
const isoAgo = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const OTHER_REFRESH_TOKEN = "Atzr|IwEBIAnotherSellerOfTheSameApp0000000000";
const OTHER_SELLER_SECRET = "amzn1.oa2-cs.v1.0the0r0se11er0000000000000000000000000000000000000000000000000";

describe("connectorAuth lwa: rotate-key and --check-unused", function () {
  this.timeout(60_000);
  const iam = new FakeIam();
  let cli: FakePulumi;
  let dir: string;

  before(() => iam.start());
  after(() => iam.stop());
  beforeEach(() => {
    iam.reset();
    iam.userName = "sp-api-connector";
    cli = FakePulumi.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lwa-only-"));
  });
  afterEach(() => {
    cli.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: NodeJS.ProcessEnv = {}) => cli.env({ ...iam.env(), SP_API_AWS_TIMEOUT_MS: "1500", INIT_CWD: dir, ...extra });
  const secretsOf = (name: string) => [OPERATOR.secret, OLD_SECRET, REFRESH_TOKEN, ...Object.values(cli.stack(name).keys).flatMap((k) => [k!.secret, k!.id])];
  function assertNoSecret(text: string, name: string): void {
    for (const secret of secretsOf(name)) assert.ok(!text.includes(secret), `a secret or whole key id in the output: ${secret.slice(0, 4)}…`);
  }

  /** An iam stack deployed 30 days ago, and IAM holding its one key, last used `usedHoursAgo` (undefined: never). */
  function seedIam(name: string, usedHoursAgo?: number): void {
    cli.setNow(isoAgo(30 * DAY));
    cli.addStack(name, { config: { lwaClientId: CLIENT_ID }, secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN } });
    cli.setNow(new Date().toISOString());
    const key = Object.values(cli.stack(name).keys)[0]!;
    iam.keys = [
      {
        id: key.id,
        status: "Active",
        createDate: key.createDate,
        ...(usedHoursAgo === undefined ? {} : { lastUsed: { date: isoAgo(usedHoursAgo * HOUR), service: "sts", region: "us-east-1" } }),
      },
    ];
  }

  async function check(name: string, dryRun = false): Promise<{ report: UnusedCheckReport; text: string }> {
    const lines: string[] = [];
    const e = env();
    const report = await checkUnused(await openStack(name, { env: e }), { dryRun, env: e, print: (l) => lines.push(l) });
    const text = lines.join("\n");
    assertNoSecret(`${text}\n${JSON.stringify(report)}`, name);
    return { report, text };
  }

  const deploy = async (name: string) => (await openStack(name, { env: env() })).up(() => undefined);
  const writes = (name: string) => cli.callsOf("config set", name).length + cli.callsOf("config rm", name).length;

  it("rotate-key on an lwa stack: no key, exit 0, no IAM request, nothing changed", async () => {
    cli.addStack("l", { config: { connectorAuth: "lwa", lwaClientId: CLIENT_ID }, secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN } });
    const result = await runMain(rotateKeyMain, ["--stack", "l", "--json", "--if-due"], env());
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as KeyRotationReport;
    assert.deepEqual([report.phase, report.step, report.took, report.exitCode], ["no-key", "none", false, 0]);
    assert.match(report.reason, /^no access key: connectorAuth is lwa/);
    assert.match(result.stderr, /^No key: no access key/m);
    assert.deepEqual(iam.seen, [], "IAM is not asked");
    assert.equal(writes("l") + cli.callsOf("up", "l").length, 0);
    assertNoSecret(result.stdout + result.stderr, "l");
  });

  it("rotate-key on a stack set to lwa but still deployed with its user: no key, and says the switch is not deployed yet", async () => {
    seedIam("s", 1);
    await (await openStack("s", { env: env() })).setConfig("connectorAuth", "lwa");
    const lines: string[] = [];
    const report = await rotateKey(await openStack("s", { env: env() }), {
      ifDue: true,
      dryRun: false,
      out: "b.hjson",
      env: env(),
      print: (l) => lines.push(l),
    });
    assert.equal(report.exitCode, 0);
    assert.match(
      report.reason,
      /still holds the IAM user sp-api-connector: the switch is not deployed yet \(npm run rotate-key -- --check-unused, then npm run pulumi -- up\)/,
    );
  });

  it("the switch end to end: up refused without the record; --check-unused records it once the key is quiet; up then deletes the IAM side", async () => {
    seedIam("s", 49);
    await (await openStack("s", { env: env() })).setConfig("connectorAuth", "lwa");
    await assert.rejects(
      deploy("s"),
      /connectorAuth: "lwa" given, but the last deployment holds the IAM user sp-api-connector .*npm run rotate-key -- --check-unused/s,
    );
    assert.ok(cli.stack("s").outputs.userName, "the refused up changed nothing");

    const { report, text } = await check("s");
    assert.equal(report.exitCode, 0, text);
    assert.equal(report.unused, true);
    assert.match(text, /AKIA…\w{4} {2}Active, created \d{4}-\d\d-\d\d, last used .* by sts in us-east-1: unused/);
    assert.match(text, /Recorded iamKeysUnusedAt \S+Z: until \S+Z, pulumi up may switch this stack to connectorAuth lwa \(npm run pulumi -- up\)/);
    assert.equal(cli.config("s").iamKeysUnusedAt!.value, report.recorded);
    assert.equal(cli.callsOf("up", "s").length, 1, "--check-unused runs no up of its own");
    assert.deepEqual(
      iam.seen.map((r) => [r.action, r.problems]),
      [
        ["ListAccessKeys", []],
        ["GetAccessKeyLastUsed", []],
      ],
      "signed as IAM checks it",
    );

    cli.setNow(new Date().toISOString()); // the engine's clock, frozen at the seed, catches up with the check
    await deploy("s");
    const outputs = cli.stack("s").outputs;
    assert.equal(outputs.connectorAuth!.value, "lwa");
    assert.deepEqual(cli.stack("s").keys, {}, "no key left");
    for (const name of ["userName", "roleArn", "accessKeySlots", "accessKeyId"]) assert.equal(outputs[name], undefined, name);
    assert.deepEqual(Object.keys(Hjson.parse(outputs.credentials!.value as string).credentials), ["client_id", "client_secret", "refresh_token"]);
    // And from then on, a stack on lwa: later ups need no record, --check-unused has nothing to check.
    await (await openStack("s", { env: env() })).removeConfig("iamKeysUnusedAt");
    await deploy("s");
    const again = await check("s");
    assert.equal(again.report.exitCode, 0);
    assert.match(again.text, /holds no IAM user \(connectorAuth lwa\): nothing to check/);
  });

  it("--check-unused while a job still uses the key: exit 1, nothing recorded, an earlier record removed", async () => {
    seedIam("s", 3);
    await (await openStack("s", { env: env() })).setConfig("iamKeysUnusedAt", isoAgo(2 * HOUR));
    const { report, text } = await check("s");
    assert.equal(report.exitCode, 1);
    assert.equal(report.unused, false);
    assert.match(report.reason, /still in use: AKIA…\w{4} was last used .* by sts in us-east-1, within keyQuietHours \(48\)/);
    assert.match(report.reason, /move it to the LWA-only connector first/);
    assert.match(text, /Removed the earlier record iamKeysUnusedAt/);
    assert.equal(cli.config("s").iamKeysUnusedAt, undefined);
  });

  it("--check-unused counts an inactive key as unused and a never-used one as unused", async () => {
    seedIam("s");
    iam.keys.push({
      id: "AKIAINACTIVE7EXAMPLE",
      status: "Inactive",
      createDate: isoAgo(90 * DAY),
      lastUsed: { date: isoAgo(HOUR), service: "sts", region: "us-east-1" },
    });
    const { report } = await check("s");
    assert.equal(report.exitCode, 0, report.reason);
    assert.deepEqual(
      report.evidence.map((k) => [k.status, k.unused]),
      [
        ["Active", true],
        ["Inactive", true],
      ],
    );
  });

  it("two --check-unused runs at once both succeed and leave one record of theirs", async () => {
    seedIam("s", 100);
    const [a, b] = await Promise.all([check("s"), check("s")]);
    assert.deepEqual([a.report.exitCode, b.report.exitCode], [0, 0]);
    assert.ok([a.report.recorded, b.report.recorded].includes(cli.config("s").iamKeysUnusedAt!.value));
  });

  it("--check-unused after a switch interrupted once the user was deleted: no user, no key that could sign; recorded", async () => {
    seedIam("s", 1);
    iam.userName = "someone-else"; // IAM no longer knows the stack's user
    const { report, text } = await check("s");
    assert.equal(report.exitCode, 0, text);
    assert.match(report.reason, /IAM has no user sp-api-connector \(deleted already\?\), so no key of it can sign/);
    assert.ok(cli.config("s").iamKeysUnusedAt);
  });

  it("--check-unused --dry-run decides and records nothing", async () => {
    seedIam("s", 100);
    const before = writes("s");
    const { report, text } = await check("s", true);
    assert.equal(report.exitCode, 0);
    assert.match(text, /Would record iamKeysUnusedAt/);
    assert.equal(writes("s"), before);
    assert.equal(cli.config("s").iamKeysUnusedAt, undefined);
  });

  for (const fault of ["stall", "garbage"] as const) {
    it(`--check-unused with an IAM peer that ${fault === "stall" ? "stalls" : "answers garbage"}: exit 1, nothing recorded`, async () => {
      seedIam("s", 100);
      iam.behaviour = { deny: [], [fault]: "GetAccessKeyLastUsed" };
      const { report } = await check("s");
      assert.equal(report.exitCode, 1);
      assert.equal(cli.config("s").iamKeysUnusedAt, undefined);
      assert.match(report.reason, fault === "stall" ? /did not answer iam:GetAccessKeyLastUsed within 1500 ms/ : /iam:GetAccessKeyLastUsed/);
    });
  }

  it("--check-unused does not go with --if-due or --out (usage error, exit 2)", async () => {
    const result = await runMain(rotateKeyMain, ["--check-unused", "--if-due", "--json"], env());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--check-unused takes a rotation step of none/);
  });

  it("through the user's door: npm run rotate-key -- --check-unused --stack s --json from another directory", async () => {
    seedIam("s", 72);
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "lwa-only-cwd-"));
    try {
      const result = await runThroughNpm("rotate-key", ["--check-unused", "--stack", "s", "--json"], { cwd: elsewhere, env: env() });
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as UnusedCheckReport;
      assert.deepEqual([report.stack, report.unused, report.exitCode], ["s", true, 0]);
      assert.equal(cli.config("s").iamKeysUnusedAt!.value, report.recorded);
      assert.match(result.stderr, /Recorded iamKeysUnusedAt/);
      assertNoSecret(result.stdout + result.stderr, "s");
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe("connectorAuth lwa: delivering the LWA-only block", function () {
  this.timeout(30_000);
  let cli: FakePulumi;
  let dir: string;
  const NEW_SECRET = "amzn1.oa2-cs.v1.11112222333344445555666677778888999900001111222233334444555566667777";

  before(() => {
    cli = FakePulumi.create();
    cli.addStack("l", { config: { connectorAuth: "lwa", lwaClientId: CLIENT_ID }, secrets: { lwaClientSecret: NEW_SECRET, lwaRefreshToken: REFRESH_TOKEN } });
  });
  after(() => cli.cleanup());
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lwa-deliver-"));
    const job = (credentials: object) =>
      JSON.stringify(
        { name: "orders", input: { use: "amazon_selling_partner_api.io#AmazonSPApiInput", endpoint: "https://sellingpartnerapi-eu.amazon.com", credentials } },
        null,
        2,
      );
    // This seller's LWA-only job; this seller's job still on the iam connector; another seller of the same app.
    fs.writeFileSync(path.join(dir, "lwa.json"), job({ client_id: CLIENT_ID, client_secret: OLD_SECRET, refresh_token: REFRESH_TOKEN }));
    fs.writeFileSync(
      path.join(dir, "legacy.hjson"),
      `# still the iam connector\n${job({
        region: "eu-west-1",
        role_arn: "arn:aws:iam::123456789012:role/SellingPartnerAPI",
        aws_access_key_id: "AKIAOLDKEYAAAAAAAAAA",
        aws_secret_access_key: "oldSecretAccessKeyForAcme0000000000000000",
        client_id: CLIENT_ID,
        client_secret: OLD_SECRET,
        refresh_token: REFRESH_TOKEN,
      })}\n`,
    );
    fs.writeFileSync(path.join(dir, "other.json"), job({ client_id: CLIENT_ID, client_secret: OTHER_SELLER_SECRET, refresh_token: OTHER_REFRESH_TOKEN }));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const block = () => blockFromOutputs("l", cli.stack("l").outputs);

  it("reads the stack's block as LWA-only: three fields, no role", () => {
    const b = block();
    assert.deepEqual(b.fields, ["client_id", "client_secret", "refresh_token"]);
    assert.equal(b.roleArn, undefined);
    assert.equal(b.lwaClientId, CLIENT_ID);
  });

  it("--into writes only client_secret, into every object of the app, whatever its refresh token", async () => {
    const lines: string[] = [];
    const before = { other: fs.readFileSync(path.join(dir, "other.json"), "utf8"), legacy: fs.readFileSync(path.join(dir, "legacy.hjson"), "utf8") };
    const report = await deliverBlock(block(), [dir], { dryRun: false, print: (l) => lines.push(l), baseDir: dir });
    const text = lines.join("\n");
    assert.equal(report.exitCode, 0, text);
    assert.deepEqual([report.updated, report.otherCustomers], [3, 0], text);

    const lwaJob = JSON.parse(fs.readFileSync(path.join(dir, "lwa.json"), "utf8")).input.credentials;
    assert.deepEqual(lwaJob, { client_id: CLIENT_ID, client_secret: NEW_SECRET, refresh_token: REFRESH_TOKEN }, "no field added");

    const legacyText = fs.readFileSync(path.join(dir, "legacy.hjson"), "utf8");
    const legacy = Hjson.parse(legacyText).input.credentials;
    const legacyBefore = Hjson.parse(before.legacy).input.credentials;
    assert.equal(legacy.client_secret, NEW_SECRET);
    for (const field of ["region", "role_arn", "aws_access_key_id", "aws_secret_access_key", "client_id", "refresh_token"]) {
      assert.equal(legacy[field], legacyBefore[field], `${field} is not the LWA-only block's to write`);
    }
    assert.ok(legacyText.startsWith("# still the iam connector"), "the HJSON file keeps its comment");

    const other = JSON.parse(fs.readFileSync(path.join(dir, "other.json"), "utf8")).input.credentials;
    assert.deepEqual(other, { ...JSON.parse(before.other).input.credentials, client_secret: NEW_SECRET }, "another seller of the app: its token kept");
    assert.match(text, /other\.json: input\.credentials: updated client_secret$/m);
    assert.match(text, /legacy\.hjson: input\.credentials: updated client_secret$/m);
    for (const secret of [NEW_SECRET, OLD_SECRET, REFRESH_TOKEN, OTHER_REFRESH_TOKEN, OTHER_SELLER_SECRET])
      assert.ok(!text.includes(secret), "a secret in the output");

    const check = await checkTargets(block(), [dir], { print: () => undefined, baseDir: dir });
    assert.deepEqual([check.exitCode, check.current, check.stale], [0, 3, 0], "every object of the app is now current");
  });

  it("npm run credentials -- --format json gives the three fields", async () => {
    const { main } = await import("../commands/credentials/cli");
    const out = path.join(dir, "named.json");
    const result = await runMain(main, ["--stack", "l", "--format", "json", out], cli.env({ INIT_CWD: dir }));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(out, "utf8")), { client_id: CLIENT_ID, client_secret: NEW_SECRET, refresh_token: REFRESH_TOKEN });
  });
});

describe("connectorAuth lwa: status rows", () => {
  const NOW = new Date("2026-11-27T12:00:00Z");
  const facts = (config: Record<string, string>): StackFacts => ({
    name: "l",
    lastUpdate: "2026-11-01T00:00:00Z",
    config: { values: { connectorAuth: "lwa", ...config }, secretKeys: new Set(), provider: {} },
    outputs: { connectorAuth: { value: "lwa", secret: false }, credentials: { value: "[secret]", secret: true } },
  });

  it("a deployed lwa stack is a row with no role and no key, whose next thing is the LWA secret", () => {
    // With jobConfigs, delivery is automated and the rotation starts lwaExpiryWarningDays (30) ahead; without, 7 days
    // ahead (docs/running-unattended.md).
    const row = statusRow(facts({ lwaClientSecretIssuedOn: "2026-06-15", lwaRotation: "true", jobConfigs: '["jobs/l.json"]' }), NOW);
    assert.equal(row.problem, undefined);
    assert.equal(row.connectorAuth, "lwa");
    assert.equal(row.key, undefined);
    assert.equal(row.roleArn, undefined);
    assert.deepEqual(row.lwa, { expiresOn: "2026-12-12", source: "tracked", rotatedBy: "rotate-lwa" });
    assert.deepEqual([row.next?.date, row.next?.urgency], ["2026-11-12", "due"]);
    assert.match(row.next!.what, /npm run rotate-lwa/);
    // Wide enough for every column (at 120, KEY PHASE is among the first left out).
    const table = formatTable([row], false, 200);
    assert.match(table, /^l\s+na\s+none \(LWA only\)\s+no key \(LWA only\)\s+2026-12-12 \(tracked\)/m);
  });

  it("an lwa stack whose secret is not tracked has nothing due, and is no problem", () => {
    const row = statusRow(facts({}), NOW);
    assert.equal(row.problem, undefined);
    assert.equal(row.next, undefined);
  });
});

describe("connectorAuth lwa: npm run status over stacks held by the stand-in CLI", function () {
  this.timeout(30_000);
  it("an lwa stack beside an iam one: its row has no role and no key, and is not a problem (exit 0)", async () => {
    const cli = FakePulumi.create();
    try {
      cli.addStack("iam-stack", { config: { lwaClientId: CLIENT_ID } });
      cli.addStack("lwa-stack", { config: { connectorAuth: "lwa", lwaClientId: CLIENT_ID, lwaClientSecretIssuedOn: addDays(today(), -10) } });
      let stdout = "";
      let stderr = "";
      const code = await statusMain(
        ["--json"],
        cli.env(),
        { write: (t: string) => ((stdout += t), true) } as never,
        { write: (t: string) => ((stderr += t), true) } as never,
      );
      assert.equal(code, 0, stdout + stderr);
      const rows = JSON.parse(stdout) as {
        stack: string;
        connectorAuth?: string;
        key?: unknown;
        roleArn?: string;
        problem?: string;
        next?: { what: string };
      }[];
      const lwaRow = rows.find((r) => r.stack === "lwa-stack")!;
      const iamRow = rows.find((r) => r.stack === "iam-stack")!;
      assert.deepEqual([lwaRow.connectorAuth, lwaRow.key, lwaRow.roleArn, lwaRow.problem], ["lwa", undefined, undefined, undefined]);
      assert.match(lwaRow.next!.what, /rotate the LWA secret/);
      assert.equal(iamRow.connectorAuth, "iam");
      assert.ok(iamRow.key && iamRow.roleArn);
    } finally {
      cli.cleanup();
    }
  });
});

describe("connectorAuth lwa: npm run maintain over an lwa stack", function () {
  this.timeout(60_000);
  const lwa = new FakeLwaRotation();
  const iam = new FakeIam();
  let cli: FakePulumi;
  let work: string;

  before(async () => {
    await iam.start();
    lwa.longPollScale = 0.05;
    await lwa.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "lwa-maintain-"));
    fs.writeFileSync(
      path.join(work, "orders.json"),
      JSON.stringify(
        {
          input: {
            endpoint: "https://sellingpartnerapi-eu.amazon.com",
            credentials: { client_id: CLIENT_ID, client_secret: OLD_SECRET, refresh_token: REFRESH_TOKEN },
          },
        },
        null,
        2,
      ),
    );
    cli = FakePulumi.create();
    cli.addStack("l", {
      config: {
        connectorAuth: "lwa",
        spApiRegion: "eu",
        lwaRotation: true,
        lwaClientId: CLIENT_ID,
        lwaClientSecretIssuedOn: addDays(today(), -170),
        jobConfigs: [path.join(work, "orders.json")],
      },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      provider: { region: REGION },
      account: FAKE_ACCOUNT,
    });
  });
  after(async () => {
    cli.cleanup();
    await lwa.stop();
    await iam.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("rotates the LWA secret, skips the key step (no key), delivers the new secret into the job; IAM is never asked", async () => {
    const { code, stdout, stderr } = await runMaintain(
      ["--stack", "l", "--out-dir", path.join(work, "credentials")],
      cli.env({ ...iam.env(), ...lwa.env(), INIT_CWD: work }),
    );
    assert.equal(code, 0, stdout + stderr);
    assert.equal(lwa.rotations().length, 1);
    const newSecret = lwa.issued[0]!;
    assert.deepEqual(cli.config("l").lwaClientSecret, { value: newSecret, secret: true });
    assert.equal(cli.stack("l").outputs.connectorAuth!.value, "lwa");
    const table = stdout.slice(stdout.lastIndexOf("\nSTACK ") + 1);
    assert.match(table, /lwa: rotated; the old secret stops working at /);
    assert.match(table, /key: no access key: connectorAuth is lwa/);
    assert.match(table, /jobs: updated 1 job credential\(s\) in 1 file\(s\)/);
    const block = Hjson.parse(fs.readFileSync(path.join(work, "credentials", "l.hjson"), "utf8")).credentials;
    assert.deepEqual(block, { client_id: CLIENT_ID, client_secret: newSecret, refresh_token: REFRESH_TOKEN });
    const job = JSON.parse(fs.readFileSync(path.join(work, "orders.json"), "utf8")).input.credentials;
    assert.deepEqual(job, { client_id: CLIENT_ID, client_secret: newSecret, refresh_token: REFRESH_TOKEN });
    assert.deepEqual(iam.seen, []);
    for (const secret of [OLD_SECRET, newSecret, REFRESH_TOKEN, ...lwa.grantlessTokens, ...lwa.accessTokens]) {
      assert.ok(!(stdout + stderr).includes(secret), "a secret in the output");
    }
  });
});
