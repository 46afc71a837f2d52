/**
 * One LWA app, many authorizations (issue 21): jobs of one app delivered to by `npm run maintain --all` with the real
 * steps, over the stand-in Pulumi CLI and the loopback fakes of LWA, the Application Management API, SQS and IAM.
 *
 * The seller's stack serves North America (default authorization) and Europe (authorizations.eu). Its job configs
 * hold: the seller's NA job and EU job (the seller's key, each its own token and region), another seller's job of the
 * same app (the classic setup: one IAM user and role serve every seller of the app, so it holds the same key, with its
 * own token), another app's job, and a job naming a stored credential. A due LWA rotation must change only
 * client_secret in the first three; a key rotation only the key pair; the other two stay byte for byte.
 * What the files hold is read back with the hjson package and, where installed, Debian's hjson-go.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { addDays, type SlotRecord } from "../src/lifecycle";
import { FakeIam, type FakeKey as IamKey } from "./fake-iam";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, OTHER_CLIENT_ID, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { FakePulumi, FAKE_ACCOUNT } from "./fake-pulumi";
import { outcomesOf } from "./maintain-summary";
import { runMaintain } from "./in-process";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EU_TOKEN = "Atzr|IwEBI-the-seller's-EU-authorization/+=0123456789";
const GLOBEX_TOKEN = "Atzr|IwEBI-globex-authorized-the-same-app/+=0123456789";
const OTHER_APP = {
  region: "us-west-2",
  role_arn: "arn:aws:iam::999999999999:role/OtherAppRole",
  aws_access_key_id: "AKIAOTHERAPPKEYZZZZZ",
  aws_secret_access_key: "otherAppSecretAccessKey00000000000000000",
  client_id: OTHER_CLIENT_ID,
  client_secret: "amzn1.oa2-cs.v1.0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
  refresh_token: "Atzr|IwEBI-another-app's-seller-0123456789",
};
const isoAgo = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function hjsonGo(): string | undefined {
  if (!spawnSync("hjson-cli", ["-h"]).error) return "hjson-cli";
  if (process.env.REQUIRE_HJSON_GO === "1") assert.fail("hjson-cli is required here (apt-get install hjson-go)");
  return undefined;
}

describe("one app, many authorizations: maintain --all delivers only what it rotated", function () {
  this.timeout(60_000);
  const iam = new FakeIam();
  const lwa = new FakeLwaRotation();
  let cli: FakePulumi;
  let work: string;
  let jobs: string;
  let outDir: string;

  /** The seller's key pair as the stack holds it now (the newest key). */
  const sellerKey = () => {
    const state = cli.stack("seller");
    const id = state.outputs.accessKeyId!.value as string;
    return { id, secret: Object.values(state.keys).find((k) => k!.id === id)!.secret };
  };

  /** IAM as the seller's keys make it; `ageDays` back-dates the newest key (as if created then), `use` in hours. */
  function mirror(use: { current?: number; previous?: number }): void {
    const state = cli.stack("seller");
    const slots = state.outputs.accessKeySlots!.value as SlotRecord[];
    const newest = Math.max(...slots.map((s) => s.generation));
    iam.users = new Map([
      [
        "sp-api-seller",
        slots.map((s): IamKey => {
          const key = state.keys[s.slot]!;
          const hours = s.generation === newest ? use.current : use.previous;
          return {
            id: key.id,
            status: s.status ?? "Active",
            createDate: key.createDate,
            ...(hours === undefined ? {} : { lastUsed: { date: isoAgo(hours * HOUR), service: "sts", region: "us-east-1" } }),
          };
        }),
      ],
    ]);
  }

  const FILES = ["na.hjson", "eu.json", "globex.hjson", "other-app.json", "named.json"] as const;
  const credentialsOf = (file: string) => {
    const text = fs.readFileSync(path.join(jobs, file), "utf8");
    return (file.endsWith(".json") ? JSON.parse(text) : Hjson.parse(text)).input.credentials as Record<string, string> | string;
  };
  const bytes = () => Object.fromEntries(FILES.map((f) => [f, fs.readFileSync(path.join(jobs, f), "utf8")]));
  const parsedAll = () => Object.fromEntries(FILES.map((f) => [f, credentialsOf(f)]));

  async function maintain(args: string[]): Promise<{ code: number; stdout: string; stderr: string; table: string }> {
    const { code, stdout, stderr } = await runMaintain([...args, "--out-dir", outDir], cli.env({ ...iam.env(), ...lwa.env(), INIT_CWD: work }));
    return { code, stdout, stderr, table: stdout.slice(stdout.lastIndexOf("\nSTACK ") + 1) };
  }

  before(async () => {
    await iam.start();
    lwa.longPollScale = 0.05;
    await lwa.start();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "field-delivery-"));
    jobs = path.join(work, "jobs");
    outDir = path.join(work, "credentials");
    fs.mkdirSync(jobs);
    cli = FakePulumi.create();
    // The secret issued 175 days ago: due, and within its last 7 days, as a stack with a named credential must wait for.
    cli.setNow(new Date(Date.now() - DAY).toISOString());
    cli.addStack("seller", {
      config: {
        userName: "sp-api-seller",
        spApiRegion: "na",
        lwaRotation: true,
        lwaClientId: CLIENT_ID,
        lwaClientSecretIssuedOn: addDays(new Date().toISOString().slice(0, 10), -175),
        jobConfigs: [jobs],
      },
      secrets: {
        lwaClientSecret: OLD_SECRET,
        lwaRefreshToken: REFRESH_TOKEN,
        authorizations: JSON.stringify({ eu: { spApiRegion: "eu", refreshToken: EU_TOKEN } }),
      },
      provider: { region: REGION },
      account: FAKE_ACCOUNT,
    });
    cli.setNow(new Date().toISOString());
    mirror({ current: 2 });

    const state = cli.stack("seller");
    const role = state.outputs.roleArn!.value as string;
    const key = sellerKey();
    const seller = (region: string, token: string) => ({
      region,
      role_arn: role,
      aws_access_key_id: key.id,
      aws_secret_access_key: key.secret,
      client_id: CLIENT_ID,
      client_secret: OLD_SECRET,
      refresh_token: token,
    });
    const job = (name: string, endpoint: string, credentials: unknown) => ({
      name,
      input: { use: "amazon_selling_partner_api.io#AmazonSPApiInput", endpoint, credentials },
    });
    const hjsonJob = (name: string, endpoint: string, values: Record<string, string>, comment: string) =>
      [
        `# ${comment}`,
        `name: ${name}`,
        "input: {",
        "  use: amazon_selling_partner_api.io#AmazonSPApiInput",
        `  endpoint: ${endpoint}`,
        "  credentials: {",
        ...Object.entries(values).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}  // ${k}`),
        "  }",
        "}",
        "",
      ].join("\n");
    fs.writeFileSync(
      path.join(jobs, "na.hjson"),
      hjsonJob("seller-orders-na", "https://sellingpartnerapi-na.amazon.com", seller("us-east-1", REFRESH_TOKEN), "the seller, North America"),
    );
    fs.writeFileSync(
      path.join(jobs, "eu.json"),
      `${JSON.stringify(job("seller-orders-eu", "https://sellingpartnerapi-eu.amazon.com", seller("eu-west-1", EU_TOKEN)), null, 2)}\n`,
    );
    fs.writeFileSync(
      path.join(jobs, "globex.hjson"),
      hjsonJob("globex-orders", "https://sellingpartnerapi-na.amazon.com", seller("us-east-1", GLOBEX_TOKEN), "another seller of the same app"),
    );
    fs.writeFileSync(
      path.join(jobs, "other-app.json"),
      `${JSON.stringify(job("other-app-orders", "https://sellingpartnerapi-fe.amazon.com", OTHER_APP), null, 2)}\n`,
    );
    fs.writeFileSync(
      path.join(jobs, "named.json"),
      `${JSON.stringify(job("seller-returns", "https://sellingpartnerapi-na.amazon.com", "seller-sp-api"), null, 2)}\n`,
    );
    // Amazon's expiry notice: the current secret ends in 5 days.
    lwa.send(lwa.expiryBody(new Date(Date.now() + 5 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z")));
  });
  after(async () => {
    cli.cleanup();
    await iam.stop();
    await lwa.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("after a due LWA rotation: only client_secret changed in the NA, EU and other seller's jobs; another app's and the named one byte for byte, the named one reported", async () => {
    const before = { bytes: bytes(), parsed: parsedAll() };
    const { code, stdout, stderr, table } = await maintain(["--all"]);
    assert.equal(lwa.rotations().length, 1, stdout + stderr);
    const newSecret = lwa.issued[0]!;
    // The named credential keeps the round from being all done: it is reported, not failed.
    assert.equal(code, 0, stdout + stderr);
    const outcomes = outcomesOf(table, "seller");
    assert.match(outcomes.done, /lwa: rotated; the old secret stops working at /);
    assert.match(outcomes.waiting, /jobs: 1 job\(s\) use a named credential: update it in the product/);

    const after = parsedAll();
    for (const file of ["na.hjson", "eu.json", "globex.hjson"]) {
      assert.deepEqual(after[file], { ...(before.parsed[file] as object), client_secret: newSecret }, `${file}: only client_secret changed`);
    }
    assert.equal((after["eu.json"] as Record<string, string>).refresh_token, EU_TOKEN, "the EU job keeps the EU token");
    assert.equal((after["eu.json"] as Record<string, string>).region, "eu-west-1", "and its region");
    assert.equal((after["globex.hjson"] as Record<string, string>).refresh_token, GLOBEX_TOKEN, "the other seller keeps its own token");
    const now = bytes();
    for (const file of ["other-app.json", "named.json"]) assert.equal(now[file], before.bytes[file], `${file}: byte for byte`);
    for (const file of ["na.hjson", "globex.hjson"]) assert.ok(now[file]!.includes("// refresh_token"), `${file} keeps its comments`);
    const cli2 = hjsonGo();
    if (cli2) {
      for (const file of ["na.hjson", "globex.hjson"]) {
        const readBack: unknown = JSON.parse(execFileSync(cli2, ["-c", path.join(jobs, file)], { encoding: "utf8" })).input.credentials;
        assert.deepEqual(readBack, after[file], `${file} reads the same in hjson-go`);
      }
    }
    // The log names each file's change, and no secret or token.
    assert.match(stdout, /globex\.hjson: input\.credentials: updated client_secret/);
    assert.match(stdout, /named\.json: input\.credentials: named credential "seller-sp-api"/);
    for (const secret of [newSecret, OLD_SECRET, REFRESH_TOKEN, EU_TOKEN, GLOBEX_TOKEN, OTHER_APP.client_secret, sellerKey().secret]) {
      assert.ok(!stdout.includes(secret) && !stderr.includes(secret), "no secret printed");
    }
  });

  it("a key rotation over the same set: only the key pair changed in the three jobs of the seller's key; the other two byte for byte", async () => {
    // The key made 80 days ago (due with 14 days' lead), as IAM and the outputs show it.
    const created = isoAgo(80 * DAY);
    cli.update("seller", (s) => {
      for (const key of Object.values(s.keys)) key!.createDate = created;
      s.outputs.accessKeyCreatedAt = { value: created, secret: false };
    });
    mirror({ current: 2 });
    const before = { bytes: bytes(), parsed: parsedAll() };
    const oldKeyId = sellerKey().id;
    const { code, stdout, stderr, table } = await maintain(["--all"]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(outcomesOf(table, "seller").done, /key: start: /);
    const key = sellerKey();
    assert.notEqual(key.id, oldKeyId, "a new key");
    const after = parsedAll();
    for (const file of ["na.hjson", "eu.json", "globex.hjson"]) {
      assert.deepEqual(
        after[file],
        { ...(before.parsed[file] as object), aws_access_key_id: key.id, aws_secret_access_key: key.secret },
        `${file}: only the key pair changed`,
      );
    }
    const now = bytes();
    for (const file of ["other-app.json", "named.json"]) assert.equal(now[file], before.bytes[file], `${file}: byte for byte`);
    // --check over them: every object of the seller current; the other app's left alone.
    const { checkTargets } = await import("../commands/credentials/run");
    const { blockFromOutputs } = await import("../commands/credentials/block");
    const lines: string[] = [];
    const report = await checkTargets(blockFromOutputs("seller", cli.stack("seller").outputs), [jobs], { print: (l) => lines.push(l), baseDir: work });
    assert.deepEqual([report.current, report.stale, report.otherCustomers, report.named], [3, 0, 1, 1], lines.join("\n"));
  });
});
