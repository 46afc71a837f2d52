/**
 * `npm run adopt`: a manual connector setup, exactly as the connector's page and the console make it, held by the
 * IAM fake on 127.0.0.1 and read through the real @aws-sdk/client-iam; the stand-in Pulumi CLI for the stack. The
 * steps in order, a dry run that changes nothing, the refusals, killed runs, and the leftovers removed only once
 * IAM holds the kit's grants.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adopt, type AdoptReport } from "../commands/adopt/run";
import { decide, normaliseTrust, parsePolicyDocument } from "../commands/adopt/decide";
import { main, parseArgs } from "../commands/adopt/cli";
import { openStack } from "../lib/pulumi";
import type { AdoptionRecord } from "../src/config";
import { ACCOUNT_ID, FakeIam, IAM_WRITES, manualSetup, OPERATOR } from "./fake-iam";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const USER = "sp-api-connector";
const ROLE = "SellingPartnerAPI";
const ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/${ROLE}`;
const USER_ARN = `arn:aws:iam::${ACCOUNT_ID}:user/${USER}`;
const POLICY_ARN = `arn:aws:iam::${ACCOUNT_ID}:policy/SellingPartnerAPI`;
const CUSTOMER_KEY = "AKIACUSTOMERKEY2MANU";
const CUSTOMER_SECRET = "cUsToMeR/sEcReT+kEy/0123456789abcdefABCD";

describe("adopt: the decision (pure)", () => {
  it("reads URL-encoded documents, and drops only the console's empty Condition from the trust", () => {
    const trust = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "sts:AssumeRole", Condition: {} }],
    };
    const doc = parsePolicyDocument(encodeURIComponent(JSON.stringify(trust)))!;
    assert.deepEqual(doc, trust);
    assert.deepEqual(JSON.parse(normaliseTrust(doc)), {
      ...trust,
      Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "sts:AssumeRole" }],
    });
    const conditioned = { ...trust, Statement: [{ ...trust.Statement[0], Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } } }] };
    assert.deepEqual(JSON.parse(normaliseTrust(conditioned)), conditioned, "a real condition is kept");
  });

  it("without a user or role there is nothing to adopt, and it says how to start fresh", () => {
    const d = decide({ config: { userName: USER, roleName: ROLE, path: "/" }, deployed: {}, found: {} });
    assert.equal(d.refused, true);
    assert.match(d.reason, /nothing to adopt.*pulumi up/);
  });
});

describe("npm run adopt", function () {
  this.timeout(60_000);
  const iam = new FakeIam();
  let cli: FakePulumi;
  let dir: string;

  before(() => iam.start());
  after(() => iam.stop());
  beforeEach(() => {
    iam.reset();
    iam.account = manualSetup(USER, ROLE);
    iam.keys = [
      {
        id: CUSTOMER_KEY,
        status: "Active",
        createDate: "2024-05-01T10:00:00Z",
        lastUsed: { date: "2026-11-30T08:00:00Z", service: "sts", region: "us-east-1" },
      },
    ];
    cli = FakePulumi.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-"));
    cli.addStack("acme", { config: { spApiRegion: "na" }, deployed: false, selected: true });
  });
  afterEach(() => {
    cli.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: NodeJS.ProcessEnv = {}) => cli.env({ ...iam.env(), SP_API_AWS_TIMEOUT_MS: "1500", INIT_CWD: dir, ...extra });
  const writes = () => iam.seen.filter((r) => IAM_WRITES.includes(r.action));
  const adoption = (): AdoptionRecord | undefined => {
    const entry = cli.config("acme").adoption;
    return entry ? (JSON.parse(entry.value) as AdoptionRecord) : undefined;
  };

  async function run(opts: { dryRun?: boolean } = {}): Promise<{ report: AdoptReport; text: string }> {
    const lines: string[] = [];
    const stack = await openStack("acme", { env: env() });
    const report = await adopt(stack, { dryRun: opts.dryRun ?? false, env: env(), print: (l) => lines.push(l) });
    const text = `${lines.join("\n")}\n${JSON.stringify(report)}`;
    for (const secret of [OPERATOR.secret, CUSTOMER_SECRET]) assert.ok(!text.includes(secret), "a secret reached the output");
    assert.ok(!text.includes(CUSTOMER_KEY), "the whole key id reached the output");
    for (const key of Object.values(cli.stack("acme").keys)) assert.ok(!text.includes(key!.secret), "the new key's secret reached the output");
    return { report, text };
  }

  it("--dry-run reports found beside kit, lists the leftovers, and changes nothing: no IAM write, no config write, no up", async () => {
    const { report, text } = await run({ dryRun: true });
    assert.equal(report.exitCode, 0, report.reason);
    assert.equal(report.step, "import");
    assert.equal(report.took, false);
    assert.deepEqual(writes(), []);
    assert.deepEqual(cli.callsOf("config set"), []);
    assert.deepEqual(cli.callsOf("config rm"), []);
    assert.deepEqual(cli.callsOf("up"), []);
    assert.equal(adoption(), undefined);
    const trust = report.comparison.find((r) => r.what === "role trust")!;
    assert.equal(trust.found, `arn:aws:iam::${ACCOUNT_ID}:root`);
    assert.equal(trust.kit, USER_ARN);
    assert.deepEqual(report.leftovers, [
      `managed policy ${POLICY_ARN} attached to the role (deleted too if nothing else uses it)`,
      "inline policy AssumeSellingPartnerAPI on the user",
    ]);
    assert.equal(report.adoptedKey, "AKIA…MANU");
    assert.match(text, /Dry run: nothing was changed/);
    // Every read went through the real client, signed as the operator.
    assert.ok(iam.seen.length > 0);
    for (const r of iam.seen) assert.deepEqual(r.problems, [], `${r.action}: ${r.problems.join("; ")}`);
    for (const action of [
      "GetUser",
      "GetRole",
      "ListRolePolicies",
      "ListAttachedRolePolicies",
      "ListUserPolicies",
      "GetUserPolicy",
      "ListAttachedUserPolicies",
      "ListGroupsForUser",
      "ListAccessKeys",
      "GetPolicy",
      "GetPolicyVersion",
    ]) {
      assert.ok(
        iam.seen.some((r) => r.action === action),
        `read ${action}`,
      );
    }
  });

  it("takes the steps in order: deployment 1 as found, deployment 2 the kit's, then the leftovers once the kit's grants exist", async () => {
    // Step 1: the record, then deployment 1.
    const first = await run();
    assert.equal(first.report.exitCode, 0, first.report.reason);
    assert.equal(first.report.step, "import");
    const record = adoption()!;
    assert.equal(record.phase, "import");
    assert.deepEqual(record.user, { path: "/", tags: {} });
    assert.deepEqual(record.role, {
      path: "/",
      maxSessionDuration: 3600,
      tags: {},
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` }, Action: "sts:AssumeRole" }],
      }),
    });
    assert.equal(record.accessKeyId, CUSTOMER_KEY);
    assert.equal(cli.callsOf("up").length, 1);
    assert.equal(cli.stack("acme").outputs.adoptionDeployed?.value, "as-found");
    assert.equal(cli.stack("acme").outputs.roleArn?.value, ROLE_ARN, "the role ARN is the one registered with Amazon");
    assert.deepEqual(writes(), [], "deployment 1 touches nothing through IAM");

    // Step 2: deployment 2.
    const second = await run();
    assert.equal(second.report.step, "kit", second.report.reason);
    assert.equal(adoption()!.phase, "kit");
    assert.equal(cli.callsOf("up").length, 2);
    assert.equal(cli.stack("acme").outputs.adoptionDeployed?.value, "kit");

    // Step 3 before IAM shows the kit's grants: refused, and the leftovers stay.
    const early = await run();
    assert.equal(early.report.exitCode, 1);
    assert.match(early.report.reason, /does not hold the kit's grants.*trust names arn:aws:iam::123456789012:root/);
    assert.deepEqual(writes(), []);
    assert.deepEqual(iam.account.roles[ROLE]!.attached, [POLICY_ARN]);

    // What the real engine's deployment 2 leaves in IAM; then the leftovers go, and nothing else.
    iam.applyKitGrants(USER, ROLE);
    const third = await run();
    assert.equal(third.report.step, "leftovers", third.report.reason);
    assert.equal(third.report.exitCode, 0, third.report.reason);
    assert.deepEqual(iam.account.roles[ROLE]!.attached, []);
    assert.deepEqual(Object.keys(iam.account.roles[ROLE]!.inline), ["SellingPartnerAPI"], "the kit's own grant stays");
    assert.deepEqual(Object.keys(iam.account.users[USER]!.inline), []);
    assert.equal(iam.account.policies[POLICY_ARN], undefined, "the customer-managed policy nothing else used is deleted");
    assert.deepEqual(
      iam.keys.map((k) => k.id),
      [CUSTOMER_KEY],
      "the customer's key is rotate-key's, not adopt's",
    );
    assert.deepEqual(
      writes()
        .map((w) => w.action)
        .sort(),
      ["DeletePolicy", "DeleteUserPolicy", "DetachRolePolicy"],
    );
    assert.equal(adoption()!.phase, "done");

    // Step 4: nothing left.
    const fourth = await run();
    assert.equal(fourth.report.step, "none");
    assert.equal(fourth.report.exitCode, 0);
    assert.equal(cli.callsOf("up").length, 2);
  });

  it("a customer-managed leftover with older versions: the non-default versions are deleted first, then the policy", async () => {
    const policy = iam.account.policies[POLICY_ARN]!;
    policy.versions = {
      v1: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "execute-api:*", Resource: "*" }] }),
      v2: policy.versions.v1!,
    };
    policy.defaultVersion = "v2";
    await run();
    await run();
    iam.applyKitGrants(USER, ROLE);
    const r = await run();
    assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.equal(iam.account.policies[POLICY_ARN], undefined);
    const order = writes().map((w) => `${w.action}${w.form.VersionId ? ` ${w.form.VersionId}` : ""}`);
    assert.deepEqual(
      order.filter((a) => a.startsWith("DeletePolicy")),
      ["DeletePolicyVersion v1", "DeletePolicy"],
    );
  });

  it("a customer-managed leftover that something else uses is detached but kept", async () => {
    iam.account.roles.Other = { name: "Other", path: "/", tags: {}, trust: "{}", inline: {}, attached: [POLICY_ARN] };
    await run();
    await run();
    iam.applyKitGrants(USER, ROLE);
    const r = await run();
    assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.ok(iam.account.policies[POLICY_ARN], "kept while another role uses it");
    assert.match(r.text, /kept .*SellingPartnerAPI: 1 other attachment/);
    assert.deepEqual(iam.account.roles.Other.attached, [POLICY_ARN], "nothing else is touched");
  });

  it("a run killed after the record and before deployment 1 is finished by the next run", async () => {
    cli.failNext("acme", "up", { stderr: "error: the process was killed (injected)" });
    const killed = await run();
    assert.equal(killed.report.exitCode, 1);
    assert.match(killed.report.reason, /run npm run adopt again/);
    assert.equal(adoption()!.phase, "import", "the record stays: it says which step to finish");
    const again = await run();
    assert.equal(again.report.step, "import");
    assert.equal(again.report.resumed, true);
    assert.equal(cli.stack("acme").outputs.adoptionDeployed?.value, "as-found");
    assert.equal((await run()).report.step, "kit");
  });

  it("a leftovers step killed part way is finished by the next run, from what IAM still lists", async () => {
    await run();
    await run();
    iam.applyKitGrants(USER, ROLE);
    // As if killed after the detach: the policy is unattached but still exists, the user's inline one still there.
    iam.account.roles[ROLE]!.attached = [];
    const r = await run();
    assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.equal(iam.account.policies[POLICY_ARN], undefined);
    assert.deepEqual(Object.keys(iam.account.users[USER]!.inline), []);
    assert.deepEqual(
      writes()
        .map((w) => w.action)
        .sort(),
      ["DeletePolicy", "DeleteUserPolicy"],
    );
  });

  describe("refuses, naming what it found, when the names do not look like a connector setup", () => {
    const refusals: [string, () => void, RegExp][] = [
      [
        "the user has another inline policy",
        () =>
          (iam.account.users[USER]!.inline.S3 = JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }],
          })),
        /user sp-api-connector has the inline policy S3, which grants more than sts:AssumeRole/,
      ],
      ["the user is in a group", () => iam.account.users[USER]!.groups.push("Developers"), /member of Developers/],
      [
        "the role trusts another account",
        () =>
          (iam.account.roles[ROLE]!.trust = JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              { Effect: "Allow", Principal: { AWS: ["arn:aws:iam::123456789012:root", "arn:aws:iam::999999999999:root"] }, Action: "sts:AssumeRole" },
            ],
          })),
        /trusts arn:aws:iam::999999999999:root/,
      ],
      [
        "the role has another managed policy",
        () => {
          const arn = "arn:aws:iam::aws:policy/AdministratorAccess";
          iam.account.policies[arn] = {
            arn,
            name: "AdministratorAccess",
            defaultVersion: "v1",
            versions: { v1: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }) },
          };
          iam.account.roles[ROLE]!.attached.push(arn);
        },
        /managed policy arn:aws:iam::aws:policy\/AdministratorAccess, which grants more than execute-api:Invoke/,
      ],
      [
        "the user has two keys and neither is recorded",
        () => iam.keys.push({ id: "AKIASECONDKEY7MANUAL", status: "Inactive", createDate: "2025-01-01T00:00:00Z" }),
        /two access keys \(AKIA…MANU Active.*AKIA…NUAL Inactive.*neither is recorded/,
      ],
    ];
    for (const [what, change, reason] of refusals) {
      it(what, async () => {
        change();
        const { report } = await run();
        assert.equal(report.exitCode, 1);
        assert.match(report.reason, reason);
        assert.deepEqual(writes(), []);
        assert.deepEqual(cli.callsOf("config set"), []);
        assert.deepEqual(cli.callsOf("up"), []);
      });
    }
  });

  it("names the permission IAM refused, and changes nothing", async () => {
    iam.behaviour.deny = ["GetRole"];
    const { report } = await run();
    assert.equal(report.exitCode, 1);
    assert.match(report.reason, /IAM refused iam:GetRole/);
    assert.deepEqual(cli.callsOf("config set"), []);
  });

  it("a stalled IAM is cut off at SP_API_AWS_TIMEOUT_MS", async () => {
    iam.behaviour.stall = "ListAccessKeys";
    const { report } = await run();
    assert.equal(report.exitCode, 1);
    assert.match(report.reason, /did not answer iam:ListAccessKeys within 1500 ms/);
  });

  it("command line: -s and --stack, usage errors exit 2", async () => {
    assert.deepEqual(parseArgs(["-s", "acme", "--dry-run"]), { kind: "run", stack: "acme", dryRun: true, json: false });
    assert.equal(parseArgs(["--force"]).kind, "error");
    assert.equal(await main(["--nope"], env()), 2);
  });

  it("through the user's door: npm run adopt -- --dry-run --json from another directory", async () => {
    const result = await runThroughNpm("adopt", ["--dry-run", "--json"], { cwd: dir, env: env() });
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as AdoptReport;
    assert.equal(report.stack, "acme");
    assert.equal(report.step, "import");
    assert.equal(report.dryRun, true);
    assert.deepEqual(writes(), []);
    assert.deepEqual(cli.callsOf("config set"), []);
    assert.ok(!`${result.stdout}${result.stderr}`.includes(CUSTOMER_KEY));
  });
});
