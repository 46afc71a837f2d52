/**
 * Delivery to `runner:<url>`: the connector product's jobs, changed through its REST API (lib/runner.ts,
 * commands/credentials/runner.ts), against the loopback fake test/fake-runner.ts (the shapes of the vendor's SDK).
 * The jobs: the stack's NA and EU jobs holding the old LWA secret (what an LWA rotation's block leaves behind), a job
 * naming a stored credential, another app's job, a job that is no SP-API job. And maintain over a stack whose jobs
 * all live in the product: it rotates 30 days ahead (automated delivery) and delivers.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { main } from "../commands/credentials/cli";
import { credentialsRule, differingPaths } from "../commands/credentials/runner";
import { blockValues } from "../commands/credentials/block";
import { deliveryCell, main as statusMain } from "../commands/status/cli";
import { maskedUrl, parseRunnerTarget } from "../lib/runner";
import { validateConfig } from "../src/config";
import { addDays } from "../src/lifecycle";
import { FakePulumi, FAKE_ACCOUNT } from "./fake-pulumi";
import { FakeRunner, RUNNER_KEY, seedJobs } from "./fake-runner";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakeIam } from "./fake-iam";
import type { SlotRecord } from "../src/lifecycle";
import { runMaintain } from "./in-process";

const NEW_SECRET = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const GLOBEX = {
  region: "us-east-1",
  role_arn: "arn:aws:iam::999999999999:role/SellingPartnerAPI",
  aws_access_key_id: "AKIAGLOBEXAAAAAAAAAA",
  aws_secret_access_key: "globexSecretAccessKey00000000000000000000",
  client_id: "amzn1.application-oa2-client.fedcba9876543210fedcba9876543210",
  client_secret: "amzn1.oa2-cs.v1.610be7610be7610be7610be7610be7610be7610be7610be7",
  refresh_token: "Atzr|IwEBIGlobexRefreshToken",
};
/** The env the tests run with: short timeouts and waits, so a misbehaving peer costs little. */
const QUICK = { SP_API_RUNNER_TIMEOUT_MS: "800", SP_API_RUNNER_RETRY_BUDGET_MS: "300", SP_API_RUNNER_RETRY_BASE_MS: "50" };

describe("runner: targets", () => {
  it("https, or http on loopback only; no user, password, query or fragment; port 7127 has no /api prefix", () => {
    const ok = (t: string) => {
      const p = parseRunnerTarget(t);
      assert.ok(p.ok, t);
      return p.target;
    };
    assert.deepEqual(ok("runner:https://connector.example.com/"), {
      display: "runner:https://connector.example.com",
      apiRoot: "https://connector.example.com/api",
      inContainer: false,
    });
    assert.equal(ok("runner:http://127.0.0.1:8080").apiRoot, "http://127.0.0.1:8080/api");
    assert.equal(ok("runner:http://localhost:7127").apiRoot, "http://localhost:7127");
    assert.equal(ok("runner:http://localhost:7127").inContainer, true);
    for (const [bad, why] of [
      ["runner:http://connector.example.com", /plain http:\/\/ to another machine/],
      ["runner:ftp://connector.example.com", /not an https:\/\/ URL/],
      ["runner:connector", /not followed by a URL/],
      ["runner:https://me:pw@connector.example.com", /user name or password/],
      ["runner:https://connector.example.com/?API_KEY=sekret-key-123", /holds a query or fragment/],
    ] as const) {
      const p = parseRunnerTarget(bad);
      assert.ok(!p.ok, bad);
      assert.match(p.problem, why);
      assert.ok(!p.problem.includes("sekret") && !p.problem.includes(":pw@"), p.problem);
    }
    assert.equal(maskedUrl("https://h/api/v2/jobs/1?API_KEY=sekret&x=1"), "https://h/api/v2/jobs/1?API_KEY=***&x=1");
    assert.equal(maskedUrl("https://h/?api_key=sekret"), "https://h/?api_key=***");
  });

  it("the field rule on one parsed credentials object: the app's secret only; another app's object untouched; read-back paths name fields only", () => {
    const values = { ...GLOBEX, client_secret: NEW_SECRET };
    const block = { hjson: "", values, roleArn: GLOBEX.role_arn, lwaClientId: GLOBEX.client_id };
    const identity = { roleArn: GLOBEX.role_arn, lwaClientId: GLOBEX.client_id, keyIds: [GLOBEX.aws_access_key_id] };
    const ours = credentialsRule({ ...GLOBEX }, block, identity);
    assert.deepEqual(ours.shares, ["app", "key"]);
    assert.deepEqual(
      ours.changes.map((c) => c.field),
      ["client_secret"],
    );
    assert.deepEqual(
      ours.stale.map((s) => s.field),
      ["client_secret"],
    );
    // The same app with another seller's token and region (another authorization): the app's secret, nothing else.
    const eu = credentialsRule({ ...GLOBEX, region: "eu-west-1", refresh_token: "Atzr|IwEBI-the-EU-token-0000" }, block, identity);
    assert.deepEqual(
      eu.changes.map((c) => c.field),
      ["client_secret"],
    );
    const theirs = credentialsRule(
      {
        ...GLOBEX,
        role_arn: "arn:aws:iam::1:role/X",
        client_id: "amzn1.application-oa2-client.x",
        aws_access_key_id: "AKIAOTHERAAAAAAAAAAA",
        refresh_token: "Atzr|other-0000",
      },
      block,
      identity,
    );
    assert.deepEqual(theirs.shares, []);
    assert.deepEqual(differingPaths({ a: { b: 1, c: "s" } }, { a: { b: 1, c: "t" } }), ["a.c"]);
  });

  it("runnerApiKey is a secret: a plain-text value is refused, naming the key, never the value", () => {
    const raw = { values: { runnerApiKey: "plain-text-api-key-0000" }, secretKeys: new Set<string>() };
    assert.throws(
      () => validateConfig(raw),
      (e: Error) => /runnerApiKey: stored in plain text; a secret must be encrypted/.test(e.message) && !e.message.includes("plain-text-api-key-0000"),
    );
    assert.doesNotThrow(() => validateConfig({ values: { runnerApiKey: "a-secret-api-key-0000" }, secretKeys: new Set(["runnerApiKey"]) }));
  });
});

describe("npm run credentials -- --into runner:<url>", function () {
  this.timeout(30_000);
  let cli: FakePulumi;
  let runner: FakeRunner;
  let work: string;
  let backups: string;
  /** Every stream a run printed, for the no-key check at the end. */
  const printed: string[] = [];

  beforeEach(async () => {
    cli = FakePulumi.create();
    cli.addStack("acme", {
      config: { lwaClientId: CLIENT_ID },
      secrets: { lwaClientSecret: NEW_SECRET, lwaRefreshToken: REFRESH_TOKEN, runnerApiKey: RUNNER_KEY },
      account: "111111111111",
      selected: true,
    });
    const values = blockValues(cli.stack("acme").outputs.credentials!.value as string) as Record<string, string>;
    runner = new FakeRunner(RUNNER_KEY);
    // The stack's jobs hold its block as it was before the LWA rotation: the old secret.
    runner.jobs = seedJobs({ ...values, client_secret: OLD_SECRET }, GLOBEX);
    await runner.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "runner-"));
    backups = path.join(work, "backups");
  });
  afterEach(async () => {
    await runner.stop();
    cli.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });
  after(() => {
    // No run printed the key (or a URL holding it), whatever it did.
    const all = printed.join("\n");
    assert.ok(!all.includes(RUNNER_KEY), "the API key was printed");
  });

  async function run(argv: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const log = console.log;
    const error = console.error;
    console.log = (line: string) => lines.push(line);
    console.error = (line: string) => lines.push(line);
    try {
      const code = await main(argv, cli.env({ INIT_CWD: work, SP_API_RUNNER_BACKUP_DIR: backups, ...QUICK, ...extraEnv }));
      const out = lines.join("\n");
      printed.push(out);
      return { code, out };
    } finally {
      console.log = log;
      console.error = error;
    }
  }

  /** No key in the output, in any argument the stand-in CLI got, or anywhere in a request but API_KEY. */
  function assertNoKey(out: string): void {
    assert.ok(!out.includes(RUNNER_KEY), "the API key in the output");
    for (const call of cli.calls()) assert.ok(!call.argv.join(" ").includes(RUNNER_KEY), "the API key in a process's arguments");
    assert.ok(!process.argv.join(" ").includes(RUNNER_KEY));
    for (const r of runner.requests) {
      assert.ok(!JSON.stringify(r.body ?? "").includes(RUNNER_KEY), "the API key in a request body");
      assert.equal(r.rawUrl.split(RUNNER_KEY).length - 1, r.keyOk ? 1 : 0, "the key once, as API_KEY");
    }
    assert.ok(
      !out.includes(NEW_SECRET) && !out.includes(OLD_SECRET) && !out.includes(REFRESH_TOKEN) && !out.includes(GLOBEX.client_secret),
      "a secret in the output",
    );
  }

  it("--dry-run: reads every page and every job, says what it would change, sends no PATCH", async () => {
    const before = runner.jobs.map((j) => j.conf);
    const { code, out } = await run(["--into", `runner:${runner.url}`, "--dry-run"]);
    assert.equal(code, 0, out);
    assert.equal(runner.patches().length, 0);
    assert.deepEqual(
      runner.jobs.map((j) => j.conf),
      before,
    );
    // Pages of 2: offsets 0, 2, 4; each job read once.
    assert.deepEqual(
      runner.requests.filter((r) => r.path.endsWith("/search")).map((r) => r.query.offset),
      ["0", "2", "4"],
    );
    assert.equal(runner.requests.filter((r) => r.method === "GET").length, 5);
    assert.match(out, /job 1 "amazon-orders-na": input\.credentials: would update client_secret \(secret\)/);
    assert.match(out, /job 2 "amazon-orders-eu": input\.credentials: would update client_secret \(secret\)/);
    assert.match(out, /job 3 "amazon-orders-named": input\.credentials: named credential "acme-sp-api"/);
    assert.match(out, /job 4 "globex-orders": input\.credentials: another customer's credentials, left as they are/);
    assert.doesNotMatch(out, /job 5/);
    assert.match(out, /^Summary: 5 runner jobs read; objects: 2 to update, 0 current, 0 stale, 1 another customer's; 1 named credential\.$/m);
    assert.ok(!fs.existsSync(backups), "nothing saved in a dry run");
    assertNoKey(out);
  });

  it("a real run PATCHes only the two jobs; read back, only client_secret differs; each conf saved first (600, in a 0700 directory)", async () => {
    const before = new Map(runner.jobs.map((j) => [j.id, { text: j.conf, parsed: runner.conf(j.id) }]));
    const { code, out } = await run(["--into", `runner:${runner.url}`]);
    assert.equal(code, 0, out);
    assert.deepEqual(
      runner.patches().map((p) => p.path),
      ["/api/v2/jobs/1", "/api/v2/jobs/2"],
    );
    // The body: the job as read, conf as the changed object (the SDK's example).
    const body = runner.patches()[0]!.body as { id: number; name: string; conf: Record<string, { credentials: Record<string, string> }> };
    assert.equal(body.name, "amazon-orders-na");
    assert.equal(typeof body.conf, "object");
    for (const id of [1, 2]) {
      assert.deepEqual(differingPaths(before.get(id)!.parsed, runner.conf(id)), ["input.credentials.client_secret"], `job ${id}`);
      assert.equal((runner.conf(id).input as { credentials: Record<string, string> }).credentials.client_secret, NEW_SECRET);
    }
    for (const id of [3, 4, 5]) assert.equal(runner.job(id).conf, before.get(id)!.text, `job ${id} untouched`);
    assert.match(out, /job 1 "amazon-orders-na": input\.credentials: updated client_secret$/m);
    assert.match(out, /job 1 "amazon-orders-na": read back: the change is kept/);
    // The confs as read, saved before the first PATCH, where the report says.
    const [dir] = fs.readdirSync(backups).map((d) => path.join(backups, d));
    assert.ok(out.includes(dir!), out);
    assert.equal(fs.statSync(dir!).mode & 0o777, 0o700);
    const saved = fs.readdirSync(dir!).sort();
    assert.equal(saved.length, 2);
    for (const [i, file] of saved.entries()) {
      assert.equal(fs.statSync(path.join(dir!, file)).mode & 0o777, 0o600);
      assert.equal(fs.readFileSync(path.join(dir!, file), "utf8"), before.get(i + 1)!.text);
    }
    assertNoKey(out);

    // Run again: current, nothing sent. --check agrees.
    const again = await run(["--into", `runner:${runner.url}`]);
    assert.equal(again.code, 0, again.out);
    assert.equal(runner.patches().length, 2);
    assert.match(again.out, /objects: 0 updated, 2 current/);
    const check = await run(["--check", `runner:${runner.url}`]);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /job 2 "amazon-orders-eu": input\.credentials: current/);
  });

  it("--check (and --check --json) before delivery: the two jobs stale (client_secret), exit 1; nothing sent", async () => {
    const { code, out } = await run(["--check", `runner:${runner.url}`]);
    assert.equal(code, 1, out);
    assert.match(out, /job 1 "amazon-orders-na": input\.credentials: stale: client_secret \(a different LWA client secret\)/);
    assert.equal(runner.patches().length, 0);
    assertNoKey(out);
    const json = await run(["--check", `runner:${runner.url}`, "--json"]);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.out) as { stale: number; jobsRead: number; findings: string[] };
    assert.equal(report.stale, 2);
    assert.equal(report.jobsRead, 5);
    assertNoKey(json.out);
  });

  it("a PATCH answered 2xx and not kept: each job named, exit 1", async () => {
    runner.dropPatches = true;
    const { code, out } = await run(["--into", `runner:${runner.url}`]);
    assert.equal(code, 1, out);
    assert.equal(runner.patches().length, 2);
    assert.match(
      out,
      /job 1 "amazon-orders-na": the server answered the PATCH with 2xx but did not keep the change: read back, input\.credentials\.client_secret differs from what was sent \(its conf before: .*\); left as it is/,
    );
    assert.match(out, /job 2 "amazon-orders-eu": the server answered the PATCH with 2xx but did not keep the change/);
    assert.match(out, /job 1 "amazon-orders-na": input\.credentials: not updated: client_secret$/m);
    assert.match(out, /objects: 0 updated, 0 current, 2 stale/);
    assert.match(out, /2 targets or jobs not processed/);
    assertNoKey(out);
  });

  it("a wrong key: one line saying the key was refused; exit 1; no key in the output", async () => {
    cli.removeConfig("acme", "runnerApiKey");
    const { code, out } = await run(["--into", `runner:${runner.url}`], { RUNNER_API_KEY: "the-wrong-key-00000000" });
    assert.equal(code, 1, out);
    const refused = out.split("\n").filter((l) => /refused/.test(l));
    assert.equal(refused.length, 1, out);
    assert.match(
      refused[0]!,
      /^runner:http:\/\/127\.0\.0\.1:\d+: the API key was refused \(HTTP 401\); set a valid key: pulumi config set --secret runnerApiKey, or RUNNER_API_KEY$/,
    );
    assert.ok(!out.includes("the-wrong-key-00000000"));
    assert.equal(runner.requests.length, 1, "nothing more is tried with a refused key");
    assertNoKey(out);
  });

  it("a target that is not a usable URL: refused before any request, its password and query never shown", async () => {
    const { code, out } = await run(["--into", "runner:https://me:pa55word@connector.example.com/?API_KEY=pasted-key-0000", "runner:http://192.0.2.1"]);
    assert.equal(code, 1, out);
    assert.match(out, /^runner:https:\/\/\*\*\*:\*\*\*@connector\.example\.com\/\?API_KEY=\*\*\*: holds a user name or password/m);
    assert.match(out, /runner:http:\/\/192\.0\.2\.1\/: plain http:\/\/ to another machine/);
    assert.match(out, /2 targets or jobs not processed/);
    assert.ok(!out.includes("pa55word") && !out.includes("pasted-key-0000"), out);
    assert.equal(runner.requests.length, 0);
  });

  it("no key at all: says where to set it; a plain-text runnerApiKey is refused", async () => {
    cli.removeConfig("acme", "runnerApiKey");
    const none = await run(["--into", `runner:${runner.url}`], { RUNNER_API_KEY: "" });
    assert.equal(none.code, 1);
    assert.match(none.out, /no API key: set it with pulumi config set --secret runnerApiKey, or in RUNNER_API_KEY/);
    assert.equal(runner.requests.length, 0);
    cli.setConfig("acme", "runnerApiKey", "plain-text-api-key-0000");
    const plain = await run(["--into", `runner:${runner.url}`]);
    assert.equal(plain.code, 1);
    assert.match(plain.out, /runnerApiKey: stored in plain text/);
    assert.ok(!plain.out.includes("plain-text-api-key-0000"));
  });

  it("a job whose conf is not HJSON is one failed job; the others are delivered", async () => {
    runner.job(2).conf = "{ input: { use: amazon_selling_partner_api.io#X, credentials: { client_secret: ";
    const { code, out } = await run(["--into", `runner:${runner.url}`]);
    assert.equal(code, 1, out);
    assert.match(out, /job 2 "amazon-orders-eu": its conf is not HJSON; left as it is/);
    assert.deepEqual(
      runner.patches().map((p) => p.path),
      ["/api/v2/jobs/1"],
    );
  });

  it("plain http through a proxy is refused (the proxy would see the key), and goes direct with NO_PROXY; a listing that repeats itself stops", async () => {
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    try {
      process.env.HTTP_PROXY = "http://127.0.0.1:9";
      delete process.env.NO_PROXY;
      const proxied = await run(["--into", `runner:${runner.url}`, "--dry-run"]);
      assert.equal(proxied.code, 1, proxied.out);
      assert.match(
        proxied.out,
        /plain http:\/\/ would go through the proxy http:\/\/127\.0\.0\.1:9\/, which would see the API key; add 127\.0\.0\.1 to NO_PROXY/,
      );
      assert.equal(runner.requests.length, 0);
      process.env.NO_PROXY = "127.0.0.1";
      assert.equal((await run(["--into", `runner:${runner.url}`, "--dry-run"])).code, 0);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    runner.ignoreOffset = true;
    const looping = await run(["--into", `runner:${runner.url}`, "--dry-run"]);
    assert.equal(looping.code, 1, looping.out);
    assert.match(looping.out, /says there are more pages but repeats jobs already listed; stopped; left as it is/);
    assert.equal(runner.patches().length, 0);
  });

  it("429 and 503 are waited out; a stalled, trickling or garbage peer fails in bounded time, saying so", async () => {
    runner.failNext = [429, 503];
    const retried = await run(["--into", `runner:${runner.url}`, "--dry-run"]);
    assert.equal(retried.code, 0, retried.out);
    assert.match(retried.out, /HTTP 429; trying again in \d+ ms/);
    for (const kind of ["stall", "trickle", "garbage"] as const) {
      runner.misbehaviour = { on: "search", kind };
      const started = Date.now();
      const { code, out } = await run(["--into", `runner:${runner.url}`, "--dry-run"]);
      assert.equal(code, 1, out);
      assert.ok(Date.now() - started < 10_000, `${kind}: ${Date.now() - started} ms`);
      assert.match(
        out,
        kind === "garbage" ? /answered a body \(application\/json\) that is not JSON/ : /no complete answer within 800 ms; left as it is/,
        kind,
      );
      assert.ok(!out.includes("\u001b"), "no terminal escape from the peer");
      assertNoKey(out);
    }
  });
});

describe("npm run maintain over a stack whose jobs live in the product (runner:)", function () {
  this.timeout(60_000);
  const DAY = 86_400_000;
  const lwa = new FakeLwaRotation();
  const iam = new FakeIam();
  let runner: FakeRunner;
  let cli: FakePulumi;
  let work: string;

  before(async () => {
    lwa.longPollScale = 0.05;
    await lwa.start();
    await iam.start();
    runner = new FakeRunner(RUNNER_KEY);
    await runner.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "runner-maintain-"));
    cli = FakePulumi.create();
    cli.setNow(new Date(Date.now() - DAY).toISOString());
    cli.addStack("acme", {
      config: {
        spApiRegion: "eu",
        lwaRotation: true,
        lwaClientId: CLIENT_ID,
        lwaClientSecretIssuedOn: addDays(new Date().toISOString().slice(0, 10), -170),
        jobConfigs: [`runner:${runner.url}`],
      },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN, runnerApiKey: RUNNER_KEY },
      provider: { region: REGION },
      account: FAKE_ACCOUNT,
    });
    cli.setNow(new Date().toISOString());
    // IAM as the stack's key makes it: young, used an hour ago (no key step due).
    const state = cli.stack("acme");
    iam.keys = (state.outputs.accessKeySlots!.value as SlotRecord[]).map((slot) => ({
      id: state.keys[slot.slot]!.id,
      status: "Active" as const,
      createDate: state.keys[slot.slot]!.createDate,
      lastUsed: { date: new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"), service: "sts", region: "us-east-1" },
    }));
    const values = blockValues(cli.stack("acme").outputs.credentials!.value as string) as Record<string, string>;
    runner.jobs = seedJobs(values, GLOBEX).filter((j) => j.id !== 3); // no named credential: every job is reachable
    // Amazon's expiry in 10 days: inside the 30-day lead of a stack whose delivery is automated, outside the 7 days
    // a person's delivery would leave.
    lwa.send(lwa.expiryBody(new Date(Date.now() + 10 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z")));
  });
  after(async () => {
    cli.cleanup();
    await lwa.stop();
    await iam.stop();
    await runner.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function maintain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runMaintain(
      [...args, "--out-dir", path.join(work, "credentials")],
      cli.env({ ...iam.env(), ...lwa.env(), SP_API_RUNNER_BACKUP_DIR: path.join(work, "backups"), INIT_CWD: work, ...QUICK }),
    );
  }

  it("a job naming a stored credential is delivery a person must do: the dry run holds the rotation back to the last 7 days", async () => {
    const named = seedJobs({}, GLOBEX).find((j) => j.id === 3)!;
    runner.jobs.push(named);
    try {
      const { code, stdout, stderr } = await maintain(["--all", "--dry-run"]);
      assert.equal(code, 0, stdout + stderr);
      assert.match(stdout, /not due: .*--if-due rotates from 7 days before \(1 job\(s\) in jobConfigs name a stored credential/);
      assert.match(stdout, /1 job\(s\) in jobConfigs name a stored credential/);
      assert.doesNotMatch(stdout, /lwa: .*would rotate/);
      assert.equal(lwa.rotations().length, 0);
      assert.equal(runner.patches().length, 0);
    } finally {
      runner.jobs = runner.jobs.filter((j) => j.id !== 3);
    }
  });

  it("rotates 30 days ahead (its jobs are all reachable) and delivers the new secret into them, read back; status shows the target", async () => {
    const { code, stdout, stderr } = await maintain(["--all"]);
    assert.equal(code, 0, stdout + stderr);
    assert.equal(lwa.rotations().length, 1, stdout);
    const newSecret = lwa.issued[0]!;
    assert.match(stdout, /lwa: rotated/);
    assert.match(stdout, /jobs: updated 2 job credential\(s\) in 4 runner job\(s\) read/);
    assert.deepEqual(
      runner.patches().map((p) => p.path),
      ["/api/v2/jobs/1", "/api/v2/jobs/2"],
    );
    for (const id of [1, 2]) assert.equal((runner.conf(id).input as { credentials: Record<string, string> }).credentials.client_secret, newSecret);
    assert.equal((runner.conf(4).input as { credentials: Record<string, string> }).credentials.client_secret, GLOBEX.client_secret);
    const all = stdout + stderr;
    for (const secret of [RUNNER_KEY, newSecret, OLD_SECRET, REFRESH_TOKEN]) assert.ok(!all.includes(secret), `${secret.slice(0, 4)}… in the output`);
    for (const call of cli.calls()) assert.ok(!call.argv.join(" ").includes(RUNNER_KEY), "the key in a process's arguments");
    assert.ok(Hjson.parse(fs.readFileSync(path.join(work, "credentials", "acme.hjson"), "utf8")));

    let json = "";
    const sink = { write: (t: string) => ((json += t), true) } as unknown as NodeJS.WritableStream;
    await statusMain(["--json"], cli.env({}), sink, sink);
    assert.deepEqual((JSON.parse(json) as { delivery: string[] }[])[0]!.delivery, [`runner:${runner.url}`]);
    assert.equal(deliveryCell([`runner:${runner.url}`, "jobs/a.json"]), `runner:${runner.url} + 1 file`);
    assert.equal(deliveryCell([]), "by hand");
  });
});
