/**
 * connectorAuth lwa (docs/lwa-only.md): under the mock runtime the program declares no IAM resource and renders the
 * LWA-only block; the switch of a deployed iam stack is refused without the kit's own evidence that the key has gone
 * unused; npm run plan shows the difference.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { runPlanCommand } from "../commands/plan/cli";
import { parseCredentialsBlock } from "../commands/verify/block";
import { validateConfig } from "../src/config";
import { LWA_ONLY_FIELDS, renderLwaOnlyCredentials } from "../src/credentials";
import { IAM_UNUSED_RECORD_HOURS, keyUnusedFor, lwaSwitchRefusal } from "../src/lifecycle";
import { isSecret, runOffline, value } from "./offline-run";

const ROOT = path.resolve(__dirname, "..");
const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
const CLIENT_SECRET = "amzn1.oa2-cs.v1.3f2a9c0e5b7d41e8a6c2f0b9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9";
const REFRESH_TOKEN = "Atzr|IwEBIA-refresh/token+with=odd#chars:{}|\\end 'q' \"dq\" $& ";
const LWA = { connectorAuth: "lwa", lwaClientId: CLIENT_ID, lwaClientSecret: CLIENT_SECRET, lwaRefreshToken: REFRESH_TOKEN };
const SECRET_KEYS = ["lwaClientSecret", "lwaRefreshToken"];

const HOUR_MS = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const hoursAgo = (h: number) => iso(Date.now() - h * HOUR_MS);

/** What an iam stack's last deployment recorded, as the program reads it through its self-reference. */
const deployedIam = (createdHoursAgo = 24 * 30) => ({
  accessKeySlots: [{ slot: "a", generation: 1, status: "Active", pgpKey: null }],
  userName: "sp-api-connector",
  accessKeyCreatedAt: hoursAgo(createdHoursAgo),
  roleArn: "arn:aws:iam::123456789012:role/SellingPartnerAPI",
});

function hjsonGo(): string | undefined {
  return spawnSync("hjson-cli", ["-h"]).error ? undefined : "hjson-cli";
}

const cloudTypes = (run: Awaited<ReturnType<typeof runOffline>>) =>
  run.cloud.resources.filter((r) => r.custom && !r.type.startsWith("pulumi:")).map((r) => r.type);

describe("connectorAuth lwa: the program under mocks", () => {
  it("declares no IAM resource: only the component (and the read of its last outputs)", async () => {
    const run = await runOffline(LWA, SECRET_KEYS);
    assert.equal(run.error, undefined, run.error?.message);
    assert.deepEqual(cloudTypes(run), []);
    assert.ok(!run.cloud.resources.some((r) => r.type.startsWith("aws:iam/")), "no aws:iam/ resource of any kind");
    assert.deepEqual(run.cloud.resources.map((r) => r.type).sort(), ["pulumi:pulumi:StackReference", "sp-api-iam:index:SellingPartnerApiAccess"]);
  });

  it("with lwaRotation declares the queue and its policy, still nothing of IAM", async () => {
    const run = await runOffline({ ...LWA, lwaRotation: "true" }, SECRET_KEYS);
    assert.equal(run.error, undefined, run.error?.message);
    assert.deepEqual(cloudTypes(run).sort(), ["aws:sqs/queue:Queue", "aws:sqs/queuePolicy:QueuePolicy"]);
    assert.match(await value(run.outputs!.lwaNotificationQueueArn), /^arn:aws:sqs:us-east-1:123456789012:/);
  });

  it("exports connectorAuth lwa and the block as a secret; the IAM outputs are absent", async () => {
    const run = await runOffline(LWA, SECRET_KEYS);
    const o = run.outputs!;
    assert.equal(o.connectorAuth, "lwa");
    for (const name of [
      "roleArn",
      "userArn",
      "userName",
      "accessKeyId",
      "accessKeyCreatedAt",
      "accessKeyRotateBy",
      "accessKeySlots",
      "encryptedSecretAccessKey",
    ]) {
      assert.ok(!(name in o), `${name} is absent`);
    }
    assert.equal(await isSecret(o.credentials), true);
  });

  it("an iam stack says connectorAuth iam", async () => {
    const run = await runOffline({}, []);
    assert.equal(run.outputs!.connectorAuth, "iam");
  });

  it("the block holds exactly client_id, client_secret and refresh_token, byte for byte, in the hjson package", async () => {
    const run = await runOffline(LWA, SECRET_KEYS);
    const text = await value(run.outputs!.credentials);
    assert.deepEqual(Hjson.parse(text), { credentials: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN } });
    assert.deepEqual(Object.keys(Hjson.parse(text).credentials), [...LWA_ONLY_FIELDS]);
    assert.doesNotMatch(text, /role_arn|aws_access_key_id|aws_secret_access_key|\n\s*region:/);
  });

  it("without LWA values the block holds the three placeholders", async () => {
    const run = await runOffline({ connectorAuth: "lwa" }, []);
    assert.deepEqual(Hjson.parse(await value(run.outputs!.credentials)).credentials, {
      client_id: "<your-client-id>",
      client_secret: "<your-client-secret>",
      refresh_token: "<your-refresh-token>",
    });
  });

  it("the block parses back exactly in Debian's hjson-go (hjson-cli), hostile values included", function () {
    const cli = hjsonGo();
    if (!cli) {
      if (process.env.REQUIRE_HJSON_GO === "1") assert.fail("hjson-cli is required here (apt-get install hjson-go)");
      this.skip();
    }
    const cases = [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN },
      { client_id: CLIENT_ID, client_secret: "0123456789", refresh_token: "true" },
      { client_id: CLIENT_ID, client_secret: "# not a comment // nor this", refresh_token: "'''\n\u2028ünï {[]}, " },
    ];
    for (const values of cases) {
      const json: string = execFileSync(cli!, ["-c"], { input: renderLwaOnlyCredentials(values, "eu"), encoding: "utf8" });
      assert.deepEqual(JSON.parse(json), { credentials: values });
    }
  });

  it("refuses a connectorAuth that is neither iam nor lwa, naming the key, the value, what is allowed and the fix", async () => {
    const run = await runOffline({ connectorAuth: "LWA-only" }, []);
    assert.ok(run.error);
    for (const part of [/connectorAuth/, /"LWA-only"/, /iam \(/, /lwa \(/, /pulumi config set connectorAuth lwa/]) assert.match(run.error.message, part);
    assert.deepEqual(cloudTypes(run), []);
  });

  it("defaults to iam", () => {
    assert.equal(validateConfig({ values: {}, secretKeys: new Set() }).config.connectorAuth, "iam");
  });
});

describe("connectorAuth lwa: npm run verify", () => {
  it("says plainly that it checks the seven-field block, not an LWA-only one, without echoing a secret", () => {
    const parsed = parseCredentialsBlock(renderLwaOnlyCredentials({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN }, "na"));
    assert.equal(parsed.ok, false);
    const problems = (parsed as { problems: string[] }).problems;
    assert.deepEqual(problems.length, 1);
    assert.match(problems[0]!, /LWA-only block .*cannot check this one/);
    assert.ok(!problems[0]!.includes(CLIENT_SECRET) && !problems[0]!.includes(REFRESH_TOKEN));
  });
});

describe("connectorAuth lwa: switching a deployed iam stack", () => {
  it("is refused without evidence, before any cloud resource is declared; the message names the key and the command", async () => {
    const run = await runOffline(LWA, SECRET_KEYS, { lastOutputs: deployedIam() });
    assert.ok(run.error, "refused");
    assert.match(run.error.message, /sp-api-iam:connectorAuth: "lwa" given/);
    assert.match(run.error.message, /IAM user sp-api-connector/);
    assert.match(run.error.message, /iamKeysUnusedAt is unset/);
    assert.match(run.error.message, /npm run rotate-key -- --check-unused/);
    assert.match(run.error.message, /npm run pulumi -- config set connectorAuth iam/);
    assert.deepEqual(cloudTypes(run), []);
  });

  it("is allowed with a fresh record of --check-unused made after the newest key: nothing of IAM is declared", async () => {
    const run = await runOffline({ ...LWA, iamKeysUnusedAt: hoursAgo(1) }, SECRET_KEYS, { lastOutputs: deployedIam() });
    assert.equal(run.error, undefined, run.error?.message);
    assert.ok(!run.cloud.resources.some((r) => r.type.startsWith("aws:iam/")));
  });

  it("is refused with a record older than the record's lifetime, one from before the newest key, or one in the future", async () => {
    const cases = [
      { at: hoursAgo(IAM_UNUSED_RECORD_HOURS + 1), created: 24 * 30, why: /older than 24 hours/ },
      { at: hoursAgo(2), created: 1, why: /predates the newest key/ },
      { at: iso(Date.now() + 2 * HOUR_MS), created: 24 * 30, why: /lies in the future/ },
    ];
    for (const c of cases) {
      const run = await runOffline({ ...LWA, iamKeysUnusedAt: c.at }, SECRET_KEYS, { lastOutputs: deployedIam(c.created) });
      assert.ok(run.error, c.at);
      assert.match(run.error.message, c.why);
      assert.match(run.error.message, /npm run rotate-key -- --check-unused/);
    }
  });

  it("an unreadable last deployment counts as one holding IAM: refused without a record, allowed with one", async () => {
    const refused = await runOffline(LWA, SECRET_KEYS, { lastOutputs: "unreadable" });
    assert.ok(refused.error, "refused");
    assert.match(refused.error.message, /the last deployment could not be read \(.*the backend did not answer/);
    assert.deepEqual(cloudTypes(refused), []);
    const allowed = await runOffline({ ...LWA, iamKeysUnusedAt: hoursAgo(1) }, SECRET_KEYS, { lastOutputs: "unreadable" });
    assert.equal(allowed.error, undefined, allowed.error?.message);
  });

  it("needs no evidence on a new stack or one already on lwa", async () => {
    for (const lastOutputs of [{}, { connectorAuth: "lwa", credentials: "credentials: {}" }]) {
      const run = await runOffline(LWA, SECRET_KEYS, { lastOutputs });
      assert.equal(run.error, undefined, run.error?.message);
    }
  });

  it("going back from lwa to iam needs no evidence (it only creates)", async () => {
    const run = await runOffline({}, [], { lastOutputs: { connectorAuth: "lwa" } });
    assert.equal(run.error, undefined, run.error?.message);
    assert.ok(run.cloud.resources.some((r) => r.type === "aws:iam/user:User"));
  });

  it("the rule, pure: an unreadable last deployment counts as one that holds IAM", () => {
    const now = new Date("2026-12-01T12:00:00Z");
    const unreadable = { readable: false as const, why: "backend unreachable" };
    assert.match(lwaSwitchRefusal({ deployed: unreadable, now })!, /could not be read \(backend unreachable\)/);
    assert.equal(lwaSwitchRefusal({ deployed: unreadable, unusedAt: "2026-12-01T11:00:00Z", now }), undefined);
    assert.equal(lwaSwitchRefusal({ deployed: { readable: true, holdsIam: false }, now }), undefined);
    const deployed = { readable: true as const, holdsIam: true, userName: "u", accessKeyCreatedAt: "2026-11-01T00:00:00Z" };
    assert.equal(lwaSwitchRefusal({ deployed, unusedAt: "2026-11-30T12:00:00Z", now }), undefined, "exactly 24 hours old still stands");
    assert.ok(lwaSwitchRefusal({ deployed, unusedAt: "2026-11-30T11:59:59Z", now }));
  });

  it("the unused rule rotate-key shares: no recorded use, or the last one keyQuietHours or more ago", () => {
    const now = new Date("2026-12-01T12:00:00Z");
    assert.equal(keyUnusedFor(undefined, 48, now), true);
    assert.equal(keyUnusedFor("2026-11-29T12:00:00Z", 48, now), true);
    assert.equal(keyUnusedFor("2026-11-29T12:00:01Z", 48, now), false);
  });
});

describe("connectorAuth lwa: npm run plan shows the difference", () => {
  async function plan(file: string) {
    let stdout = "";
    let stderr = "";
    const code = await runPlanCommand([file], { env: { INIT_CWD: ROOT }, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
  }

  it("lists no IAM resource, says so, and prints the LWA-only block", async () => {
    const { code, stdout, stderr } = await plan("examples/Pulumi.acme-lwa.yaml");
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout, /aws:iam\//);
    assert.doesNotMatch(stdout, /Access key slots/);
    assert.match(stdout, /Resources pulumi up would create \(4\):/); // component, self-reference, queue, queue policy
    assert.match(stdout, /\+ aws:sqs\/queue:Queue/);
    assert.match(stdout, /connectorAuth lwa: no IAM user, role, group, policy or access key/);
    assert.match(stdout, /connectorAuth: lwa/);
    assert.match(stdout, /roleArn, userArn, userName, accessKeyId, accessKeyCreatedAt, accessKeyRotateBy, accessKeySlots: absent/);
    const block = Hjson.parse(stdout.slice(stdout.indexOf("\ncredentials: {") + 1)).credentials;
    assert.deepEqual(block, { client_id: CLIENT_ID, client_secret: "<your-client-secret>", refresh_token: "<your-refresh-token>" });
  });

  it("the same stack on iam lists the user, role and key", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-lwa-"));
    const file = path.join(dir, "Pulumi.acme-iam.yaml");
    fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, "examples/Pulumi.acme-lwa.yaml"), "utf8").replace("connectorAuth: lwa", "connectorAuth: iam"));
    const { code, stdout } = await plan(file).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
    assert.equal(code, 0);
    assert.match(stdout, /\+ aws:iam\/user:User/);
    assert.match(stdout, /Access key slots/);
    assert.match(stdout, /connectorAuth: iam/);
    assert.ok("role_arn" in Hjson.parse(stdout.slice(stdout.indexOf("\ncredentials: {") + 1)).credentials);
  });
});
