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
import { runOffline } from "./offline-run";
import { decide as decideRotation, type DecideInput, type IamKey } from "../commands/rotate-key/decide";
import { rotateKey } from "../commands/rotate-key/run";
import { statusRow } from "../commands/status/decide";
import { evaluate, type IamPolicy } from "./iam-simulator";

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
    assert.match(d.reason, /nothing to adopt.*npm run up/);
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

  // The connector page's setup trusts the account root: these runs say yes to its narrowing (--narrow-trust) unless a
  // test says otherwise.
  async function run(opts: { dryRun?: boolean; narrowTrust?: boolean } = {}): Promise<{ report: AdoptReport; text: string }> {
    const lines: string[] = [];
    const stack = await openStack("acme", { env: env() });
    const report = await adopt(stack, { dryRun: opts.dryRun ?? false, narrowTrust: opts.narrowTrust ?? true, env: env(), print: (l) => lines.push(l) });
    const text = `${lines.join("\n")}\n${JSON.stringify(report)}`;
    for (const secret of [OPERATOR.secret, CUSTOMER_SECRET]) assert.ok(!text.includes(secret), "a secret reached the output");
    for (const key of iam.keys) assert.ok(!text.includes(key.id), "the whole key id reached the output");
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
      `managed policy ${POLICY_ARN} attached to the role (deleted too if nothing else attaches it or uses it as a permissions boundary)`,
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
    // Deployments 1 and 2, and the record of the end (phase done), deployed so every machine sees it.
    assert.equal(cli.callsOf("up").length, 3);
  });

  it("records the properties exactly as found (path, description, session duration, tags, boundary), and the role ARN stays", async () => {
    const boundary = `arn:aws:iam::${ACCOUNT_ID}:policy/Boundary`;
    Object.assign(iam.account.roles[ROLE]!, {
      path: "/partners/",
      description: "made by hand",
      maxSessionDuration: 7200,
      permissionsBoundary: boundary,
      tags: { owner: "ops" },
    });
    Object.assign(iam.account.users[USER]!, { path: "/partners/", permissionsBoundary: boundary, tags: { team: "data", "cost center": "42" } });
    const roleArn = `arn:aws:iam::${ACCOUNT_ID}:role/partners/${ROLE}`;
    iam.account.users[USER]!.inline = {
      Assume: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["sts:AssumeRole"], Resource: [roleArn] }] }),
    };
    const { report } = await run();
    assert.equal(report.exitCode, 0, report.reason);
    const record = adoption()!;
    assert.deepEqual(record.user, { path: "/partners/", permissionsBoundary: boundary, tags: { team: "data", "cost center": "42" } });
    assert.deepEqual(
      { ...record.role, assumeRolePolicy: undefined },
      {
        path: "/partners/",
        description: "made by hand",
        maxSessionDuration: 7200,
        permissionsBoundary: boundary,
        tags: { owner: "ops" },
        assumeRolePolicy: undefined,
      },
    );
    assert.equal(cli.stack("acme").outputs.roleArn?.value, roleArn);
    await run();
    assert.equal(cli.stack("acme").outputs.roleArn?.value, roleArn, "deployment 2 keeps the path, so the ARN");
  });

  it("a user granted through a customer-managed STS policy instead: detached, then deleted", async () => {
    const arn = `arn:aws:iam::${ACCOUNT_ID}:policy/AssumeSellingPartnerAPI`;
    iam.account.policies[arn] = {
      arn,
      name: "AssumeSellingPartnerAPI",
      defaultVersion: "v1",
      versions: { v1: iam.account.users[USER]!.inline.AssumeSellingPartnerAPI! },
    };
    iam.account.users[USER]!.inline = {};
    iam.account.users[USER]!.attached = [arn];
    await run();
    assert.deepEqual(
      adoption()!.leftovers.map((l) => l.kind),
      ["role-managed-policy", "user-managed-policy"],
    );
    await run();
    iam.applyKitGrants(USER, ROLE);
    const r = await run();
    assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.deepEqual(iam.account.users[USER]!.attached, []);
    assert.equal(iam.account.policies[arn], undefined);
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

  it("a customer-managed leftover used as a permissions boundary (and attached nowhere else) is detached, never deleted, and reported", async () => {
    // IAM counts the boundary use apart: AttachmentCount is 0 once the role's attachment is gone.
    iam.account.roles.Other = { name: "Other", path: "/", tags: {}, trust: "{}", inline: {}, attached: [], permissionsBoundary: POLICY_ARN };
    await run();
    await run();
    iam.applyKitGrants(USER, ROLE);
    const r = await run();
    assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.equal(adoption()!.phase, "done");
    assert.deepEqual(iam.account.roles[ROLE]!.attached, [], "detached from the adopted role");
    assert.ok(iam.account.policies[POLICY_ARN], "kept: another role uses it as its permissions boundary");
    assert.deepEqual(
      writes().filter((w) => w.action.startsWith("DeletePolicy")),
      [],
      "never asked to delete it",
    );
    assert.deepEqual(r.report.kept, [`kept ${POLICY_ARN}: 1 user(s) or role(s) use it as their permissions boundary; not deleted`]);
    assert.match(r.text, /kept .*SellingPartnerAPI: 1 user\(s\) or role\(s\) use it as their permissions boundary/);
    assert.equal(iam.account.roles.Other.permissionsBoundary, POLICY_ARN, "nothing else is touched");
  });

  it("a trust naming the account root is narrowed only with --narrow-trust; the dry run names what that trust allows", async () => {
    const allows = new RegExp(
      `trust names the account root \\(arn:aws:iam::${ACCOUNT_ID}:root\\): any user or role of account ${ACCOUNT_ID} whose own policies grant sts:AssumeRole on ${ROLE_ARN}`,
    );
    const dry = await run({ dryRun: true, narrowTrust: false });
    assert.match(dry.report.rootTrust ?? "", allows);
    assert.match(dry.text, /^Trust: the role's trust names the account root/m);
    assert.equal((await run({ narrowTrust: false })).report.step, "import", "deployment 1 keeps the trust as found: no word needed");
    const configSets = cli.callsOf("config set").length;

    const dryKit = await run({ dryRun: true, narrowTrust: false });
    assert.equal(dryKit.report.exitCode, 1);
    assert.match(dryKit.report.reason, /deployment 2 waits for the person's word/);
    assert.match(dryKit.report.reason, allows);
    const without = await run({ narrowTrust: false });
    assert.equal(without.report.exitCode, 1);
    assert.equal(without.report.took, false);
    assert.match(without.report.reason, /only with npm run adopt -- --narrow-trust/);
    assert.equal(adoption()!.phase, "import", "not moved on");
    assert.equal(cli.callsOf("config set").length, configSets, "nothing recorded");
    assert.equal(cli.callsOf("up").length, 1, "deployment 2 not run");
    assert.equal(cli.stack("acme").outputs.adoptionDeployed?.value, "as-found");

    const withWord = await run({ narrowTrust: true });
    assert.equal(withWord.report.step, "kit", withWord.report.reason);
    assert.equal(withWord.report.exitCode, 0);
    assert.equal(cli.stack("acme").outputs.adoptionDeployed?.value, "kit");
    assert.equal((await run({ narrowTrust: false })).report.rootTrust, undefined, "after deployment 2 the trust is the kit's");
  });

  it("a trust naming only the user needs no --narrow-trust", async () => {
    iam.account.roles[ROLE]!.trust = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: USER_ARN }, Action: "sts:AssumeRole" }],
    });
    assert.equal((await run({ narrowTrust: false })).report.step, "import");
    const second = await run({ narrowTrust: false });
    assert.equal(second.report.step, "kit", second.report.reason);
    assert.equal(second.report.rootTrust, undefined);
  });

  it("records nothing the program would refuse: a key id outside AKIA + 16 of A-Z2-7 is named (masked) before any write", async () => {
    iam.keys = [{ id: "AKIA0123456789ABCDEF", status: "Active", createDate: "2024-05-01T10:00:00Z" }];
    for (const dryRun of [true, false]) {
      const { report } = await run({ dryRun });
      assert.equal(report.exitCode, 1, `dryRun ${dryRun}`);
      assert.match(report.reason, /fails the program's own checks, so nothing is recorded: sp-api-iam:adoption:/);
      assert.match(report.reason, /The user's key AKIA…CDEF is not an access key id the program accepts/);
    }
    assert.equal(adoption(), undefined);
    assert.deepEqual(cli.callsOf("config set"), []);
    assert.deepEqual(cli.callsOf("up"), []);
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

  it("two runs at once (cron overlapping): the second waits for the first's lock, then takes the next step: each step once", async () => {
    const pair = await Promise.all([run(), run()]);
    for (const r of pair) assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.deepEqual(pair.map((r) => r.report.step).sort(), ["import", "kit"]);
    assert.equal(adoption()!.phase, "kit");
    assert.deepEqual(Object.keys(cli.stack("acme").keys), ["a"], "one new key between them");
    iam.applyKitGrants(USER, ROLE);
    const last = await Promise.all([run(), run()]);
    for (const r of last) assert.equal(r.report.exitCode, 0, r.report.reason);
    assert.deepEqual(last.map((r) => r.report.step).sort(), ["leftovers", "none"]);
    assert.equal(adoption()!.phase, "done");
    assert.equal(iam.account.policies[POLICY_ARN], undefined);
    assert.deepEqual(iam.account.roles[ROLE]!.attached, []);
    assert.deepEqual(Object.keys(iam.account.users[USER]!.inline), []);
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
        "the role has an inline grant under the kit's own name, which the kit's would overwrite",
        () => {
          iam.account.roles[ROLE]!.attached = [];
          iam.account.roles[ROLE]!.inline.SellingPartnerAPI = iam.account.policies[POLICY_ARN]!.versions.v1!;
        },
        /inline policy named SellingPartnerAPI, the name of the kit's own grant/,
      ],
      [
        "the role trusts a service",
        () =>
          (iam.account.roles[ROLE]!.trust = JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
          })),
        /trusted principal \{"Service":"lambda.amazonaws.com"\} that is not an AWS account or user/,
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

  it("refuses on a connectorAuth lwa stack, which declares no IAM to adopt into, before reading IAM", async () => {
    cli.setConfig("acme", "connectorAuth", "lwa");
    const { report } = await run();
    assert.equal(report.exitCode, 1);
    assert.match(report.reason, /connectorAuth lwa, which declares no IAM user or role/);
    assert.deepEqual(iam.seen, []);
    assert.deepEqual(cli.callsOf("config set"), []);
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

  it("an answer that is not IAM's XML is a failure that names the call, not a crash", async () => {
    iam.behaviour.garbage = "GetRole";
    const { report } = await run();
    assert.equal(report.exitCode, 1);
    assert.match(report.reason, /iam:GetRole failed/);
    assert.deepEqual(cli.callsOf("config set"), []);
  });

  it("command line: -s and --stack, usage errors exit 2", async () => {
    assert.deepEqual(parseArgs(["-s", "acme", "--dry-run"]), { kind: "run", stack: "acme", dryRun: true, narrowTrust: false, json: false });
    assert.deepEqual(parseArgs(["--narrow-trust"]), { kind: "run", stack: undefined, dryRun: false, narrowTrust: true, json: false });
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

describe("adopt: the program under mocks", () => {
  const FOUND_TRUST = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` }, Action: "sts:AssumeRole" }],
  });
  const record = (phase: AdoptionRecord["phase"]): AdoptionRecord => ({
    phase,
    user: { path: "/legacy/", permissionsBoundary: `arn:aws:iam::${ACCOUNT_ID}:policy/Boundary`, tags: { owner: "ops" } },
    role: {
      path: "/legacy/",
      description: "SP-API role, made by hand",
      maxSessionDuration: 7200,
      permissionsBoundary: `arn:aws:iam::${ACCOUNT_ID}:policy/Boundary`,
      tags: { owner: "ops", app: "mitto" },
      assumeRolePolicy: FOUND_TRUST,
    },
    accessKeyId: CUSTOMER_KEY,
    leftovers: [{ kind: "role-managed-policy", name: "SellingPartnerAPI", arn: POLICY_ARN }],
  });
  // The stack's own settings, which deployment 1 must not apply and deployment 2 must.
  const stackConfig = { tags: JSON.stringify({ team: "data" }), path: "/" };
  const resource = (run: Awaited<ReturnType<typeof runOffline>>, type: string) => run.cloud.resources.filter((r) => r.type === type);

  it("deployment 1 declares the user and role with import set to their names and inputs equal to what IAM holds, and adds no grant", async () => {
    const run = await runOffline({ ...stackConfig, adoption: JSON.stringify(record("import")) });
    assert.equal(run.error, undefined, run.error?.message);
    const [user] = resource(run, "aws:iam/user:User");
    const [role] = resource(run, "aws:iam/role:Role");
    assert.equal(user!.importId, USER);
    assert.equal(role!.importId, ROLE);
    assert.deepEqual(user!.inputs, { name: USER, path: "/legacy/", permissionsBoundary: `arn:aws:iam::${ACCOUNT_ID}:policy/Boundary`, tags: { owner: "ops" } });
    assert.deepEqual(role!.inputs, {
      name: ROLE,
      path: "/legacy/",
      description: "SP-API role, made by hand",
      maxSessionDuration: 7200,
      permissionsBoundary: `arn:aws:iam::${ACCOUNT_ID}:policy/Boundary`,
      tags: { owner: "ops", app: "mitto" },
      assumeRolePolicy: FOUND_TRUST,
    });
    assert.deepEqual(resource(run, "aws:iam/rolePolicy:RolePolicy"), [], "the kit's grant waits for deployment 2");
    const created = run.cloud.resources
      .filter((r) => r.custom && r.type.startsWith("aws:") && !r.importId)
      .map((r) => r.name)
      .sort();
    assert.deepEqual(created, ["sp-api-assume", "sp-api-group", "sp-api-key-a", "sp-api-membership"], "only what the kit adds is created");
    assert.equal(await run.outputs!.adoptionDeployed, "as-found");
    assert.equal(await new Promise((r) => run.outputs!.roleArn!.apply(r)), `arn:aws:iam::${ACCOUNT_ID}:role/legacy/${ROLE}`);
  });

  for (const phase of ["kit", "done"] as const) {
    it(`phase ${phase} declares the kit's own properties, as a fresh stack does, except the path found (the role ARN stays)`, async () => {
      const adopted = await runOffline({ ...stackConfig, adoption: JSON.stringify(record(phase)) });
      const fresh = await runOffline({ ...stackConfig, path: "/legacy/" });
      assert.equal(adopted.error, undefined, adopted.error?.message);
      // (The StackReference's id is the stack it reads, not an import: only the cloud resources count.)
      for (const r of adopted.cloud.resources.filter((x) => x.type.startsWith("aws:"))) assert.equal(r.importId, undefined, `${r.name} is not imported again`);
      for (const type of [
        "aws:iam/user:User",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/groupPolicy:GroupPolicy",
        "aws:iam/groupMembership:GroupMembership",
      ]) {
        assert.deepEqual(resource(adopted, type)[0]?.inputs, resource(fresh, type)[0]?.inputs, type);
      }
      const trust = JSON.parse(resource(adopted, "aws:iam/role:Role")[0]!.inputs.assumeRolePolicy);
      assert.deepEqual(trust.Statement[0].Principal, { AWS: `arn:aws:iam::${ACCOUNT_ID}:user/legacy/${USER}` });
      assert.deepEqual(resource(adopted, "aws:iam/user:User")[0]!.inputs.tags, { team: "data" });
      assert.equal(adopted.outputs!.adoptionDeployed, "kit");
    });
  }
});

describe("adopt: the IAM evaluator, the adopted account against a fresh one", function () {
  this.timeout(60_000);
  const ROLE_SESSION = `arn:aws:sts::${ACCOUNT_ID}:assumed-role/${ROLE}/connector`;
  const OTHER_USER = `arn:aws:iam::${ACCOUNT_ID}:user/someone-else`;
  const SP_API = "437568002678";
  const call = (awsRegion: string) => `arn:aws:execute-api:${awsRegion}:${SP_API}:abcde12345/prod/GET/sellers/v1/marketplaceParticipations`;
  const GATEWAY: IamPolicy = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: "*", Action: "execute-api:Invoke", Resource: `arn:aws:execute-api:*:${SP_API}:*` }],
  };
  const ASSUME_ANY: IamPolicy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }] };

  interface Setup {
    userPolicies: Record<string, IamPolicy>;
    trust: IamPolicy;
    rolePolicies: Record<string, IamPolicy>;
  }

  /** The verdicts that matter: who may assume the role, and what its session may invoke. */
  async function verdicts(s: Setup): Promise<Record<string, string>> {
    const assume = (principal: string, identityPolicies: Record<string, IamPolicy>) =>
      evaluate({ principal, action: "sts:AssumeRole", resource: ROLE_ARN, resourceAccount: ACCOUNT_ID, identityPolicies, resourcePolicy: s.trust });
    const invoke = (awsRegion: string, action = "execute-api:Invoke") =>
      evaluate({
        principal: ROLE_SESSION,
        action,
        resource: call(awsRegion),
        resourceAccount: SP_API,
        identityPolicies: s.rolePolicies,
        resourcePolicy: GATEWAY,
      });
    return {
      "the user assumes the role": (await assume(USER_ARN, s.userPolicies)).result,
      "another principal with sts:AssumeRole on * assumes it": (await assume(OTHER_USER, { any: ASSUME_ANY })).result,
      "the session invokes SP-API na": (await invoke("us-east-1")).result,
      "the session invokes SP-API eu (not served)": (await invoke("eu-west-1")).result,
      "the session invalidates a cache": (await invoke("us-east-1", "execute-api:InvalidateCache")).result,
    };
  }

  /** What IAM holds, as the fake has it: the user's policies (inline, managed, through groups), the role's trust and grants. */
  function held(iam: FakeIam): Setup {
    const a = iam.account;
    const doc = (text: string) => JSON.parse(text) as IamPolicy;
    const managed = (arns: string[]) => Object.fromEntries(arns.map((arn) => [arn, doc(a.policies[arn]!.versions[a.policies[arn]!.defaultVersion]!)]));
    const user = a.users[USER]!;
    const role = a.roles[ROLE]!;
    const groupPolicies = Object.fromEntries(user.groups.flatMap((g) => Object.entries(a.groups[g]?.inline ?? {}).map(([n, d]) => [`${g}/${n}`, doc(d)])));
    return {
      userPolicies: { ...Object.fromEntries(Object.entries(user.inline).map(([n, d]) => [n, doc(d)])), ...managed(user.attached), ...groupPolicies },
      trust: doc(role.trust!),
      rolePolicies: { ...Object.fromEntries(Object.entries(role.inline).map(([n, d]) => [n, doc(d)])), ...managed(role.attached) },
    };
  }

  it("after the last step the adopted account decides every request as a fresh stack does; before it, it does not", async () => {
    const fresh = await runOffline({});
    const declared = (type: string, input: string) => JSON.parse(fresh.cloud.resources.find((r) => r.type === type)!.inputs[input]) as IamPolicy;
    const freshSetup: Setup = {
      userPolicies: { group: declared("aws:iam/groupPolicy:GroupPolicy", "policy") },
      trust: declared("aws:iam/role:Role", "assumeRolePolicy"),
      rolePolicies: { kit: declared("aws:iam/rolePolicy:RolePolicy", "policy") },
    };
    const expected = await verdicts(freshSetup);
    assert.equal(expected["the user assumes the role"], "Allowed");
    assert.equal(expected["another principal with sts:AssumeRole on * assumes it"], "ImplicitlyDenied");

    const iam = new FakeIam();
    await iam.start();
    const cli = FakePulumi.create();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-sim-"));
    try {
      iam.account = manualSetup(USER, ROLE);
      iam.keys = [{ id: CUSTOMER_KEY, status: "Active", createDate: "2024-05-01T10:00:00Z" }];
      cli.addStack("acme", { deployed: false, selected: true });
      const env = cli.env({ ...iam.env(), INIT_CWD: dir });
      const step = async () => (await adopt(await openStack("acme", { env }), { dryRun: false, narrowTrust: true, env, print: () => undefined })).exitCode;

      const manual = await verdicts(held(iam));
      assert.notDeepEqual(manual, expected, "the manual setup lets any principal of the account with an AssumeRole grant in");
      assert.equal(await step(), 0);
      assert.equal(await step(), 0);
      iam.applyKitGrants(USER, ROLE);
      assert.notDeepEqual(await verdicts(held(iam)), expected, "with the leftovers still there, the session may invoke every region");
      assert.equal(await step(), 0);
      assert.deepEqual(await verdicts(held(iam)), expected);
    } finally {
      cli.cleanup();
      await iam.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("rotate-key and the adopted key", () => {
  const NOW = new Date("2026-11-27T06:00:00Z");
  const NEW_ID = "AKIANEWKITKEYSLOTA01";
  const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const used = (h: number) => ({ lastUsedDate: hoursAgo(h), lastUsedService: "sts", lastUsedRegion: "us-east-1" });
  const kitKey = (extra: Partial<IamKey> = {}): IamKey => ({ id: NEW_ID, status: "Active", createDate: hoursAgo(72), ...extra });
  const customerKey = (extra: Partial<IamKey> = {}): IamKey => ({ id: CUSTOMER_KEY, status: "Active", createDate: "2024-05-01T10:00:00Z", ...extra });
  const record = (extra: Partial<AdoptionRecord> = {}): AdoptionRecord => ({
    phase: "done",
    user: { path: "/", tags: {} },
    role: { path: "/", maxSessionDuration: 3600, tags: {}, assumeRolePolicy: "{}" },
    accessKeyId: CUSTOMER_KEY,
    leftovers: [],
    ...extra,
  });
  /** `null`: no adoption record. */
  const run = (iam: IamKey[], adoption: AdoptionRecord | null = record()) =>
    decideRotation({
      now: NOW,
      ifDue: true,
      deployed: { slots: [{ slot: "a", generation: 1, status: "Active", pgpKey: null }], accessKeyId: NEW_ID },
      iam,
      config: {
        accessKeyGeneration: 1,
        previousAccessKey: "active",
        maxAccessKeyAgeDays: 90,
        keyRotationLeadDays: 14,
        keyQuietHours: 48,
        keyInactiveDays: 7,
        adoption: adoption ?? undefined,
      },
    } satisfies DecideInput);

  it("without the record, the customer's key is a stray key and rotate-key refuses; with it, it is the previous key", () => {
    assert.equal(run([kitKey(used(1)), customerKey(used(49))], null).refused, true);
    const d = run([kitKey(used(1)), customerKey(used(49))]);
    assert.equal(d.refused, false);
    assert.equal(d.phase, "handover");
    assert.deepEqual(
      d.evidence.map((k) => [k.id, k.role, k.adopted ?? false]),
      [
        [NEW_ID, "current", false],
        [CUSTOMER_KEY, "previous", true],
      ],
    );
  });

  it("waits while no job has the new block, or while the customer's key was used within keyQuietHours", () => {
    const unused = run([kitKey(), customerKey(used(60))]);
    assert.equal(unused.step, "none");
    assert.match(unused.reason, /new key AKIA…TA01 has never been used/);
    const busy = run([kitKey(used(1)), customerKey(used(47))]);
    assert.equal(busy.step, "none");
    assert.match(busy.reason, /old key AKIA…MANU was last used .* within keyQuietHours \(48\)/);
    assert.equal(busy.viaIam, undefined, "nothing to record");
  });

  it("deactivates it through IAM on evidence, the record of the day written first", () => {
    const d = run([kitKey(used(1)), customerKey(used(49))]);
    assert.equal(d.step, "deactivate");
    assert.deepEqual(d.changes, [], "no config of the key slots changes: the key is not in state");
    assert.equal(d.viaIam?.keyId, CUSTOMER_KEY);
    assert.equal(d.viaIam?.adoption?.accessKeyInactiveSince, "2026-11-27");
  });

  it("a deactivation recorded by a killed run is finished while the evidence holds, and its record dropped when it no longer does", () => {
    const resumed = run([kitKey(used(1)), customerKey(used(49))], record({ accessKeyInactiveSince: "2026-11-27" }));
    assert.equal(resumed.step, "deactivate");
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.viaIam?.adoption, undefined, "already recorded");
    const undone = run([kitKey(used(1)), customerKey(used(2))], record({ accessKeyInactiveSince: "2026-11-27" }));
    assert.equal(undone.step, "none");
    assert.equal(undone.viaIam?.adoption?.accessKeyInactiveSince, undefined);
  });

  it("deletes it keyInactiveDays after, if the new key is still in use; not before", () => {
    const early = run([kitKey(used(1)), customerKey({ status: "Inactive" })], record({ accessKeyInactiveSince: "2026-11-22" }));
    assert.equal(early.step, "none");
    assert.equal(early.nextDate, "2026-11-29");
    const due = run([kitKey(used(1)), customerKey({ status: "Inactive" })], record({ accessKeyInactiveSince: "2026-11-20" }));
    assert.equal(due.step, "delete");
    assert.equal(due.viaIam?.keyId, CUSTOMER_KEY);
    const idle = run([kitKey(used(24 * 8)), customerKey({ status: "Inactive" })], record({ accessKeyInactiveSince: "2026-11-20" }));
    assert.equal(idle.step, "none", "the new key unused since: the jobs may not run");
  });

  it("a third key refuses; once IAM no longer lists the customer's key, rotations are as usual", () => {
    assert.equal(run([kitKey(used(1)), customerKey(used(49)), { id: "AKIATHIRDKEYBYHAND01", status: "Active", createDate: hoursAgo(1) }]).refused, true);
    const after = run([kitKey(used(1))]);
    assert.equal(after.refused, false);
    assert.equal(after.phase, "steady");
  });

  describe("through IAM, with the real client", function () {
    this.timeout(60_000);
    const iam = new FakeIam();
    let cli: FakePulumi;
    let dir: string;
    before(() => iam.start());
    after(() => iam.stop());
    beforeEach(() => {
      iam.reset();
      cli = FakePulumi.create();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-key-"));
      cli.addStack("acme", { config: { adoption: JSON.stringify(record()) }, selected: true });
      const kit = Object.values(cli.stack("acme").keys)[0]!;
      const recent = (h: number) => ({
        date: new Date(Date.now() - h * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
        service: "sts",
        region: "us-east-1",
      });
      iam.keys = [
        { id: kit.id, status: "Active", createDate: kit.createDate, lastUsed: recent(1) },
        { id: CUSTOMER_KEY, status: "Active", createDate: "2024-05-01T10:00:00Z", lastUsed: recent(49) },
      ];
    });
    afterEach(() => {
      cli.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const go = async (dryRun: boolean) => {
      const env = cli.env({ ...iam.env(), INIT_CWD: dir });
      const lines: string[] = [];
      const report = await rotateKey(await openStack("acme", { env }), { ifDue: true, dryRun, out: "block.hjson", env, print: (l) => lines.push(l) });
      return { report, text: lines.join("\n") };
    };

    it("--dry-run changes nothing", async () => {
      const { report } = await go(true);
      assert.equal(report.step, "deactivate");
      assert.deepEqual(
        iam.seen.filter((r) => IAM_WRITES.includes(r.action)),
        [],
      );
      assert.deepEqual(cli.callsOf("config set"), []);
    });

    it("deletes it with DeleteAccessKey keyInactiveDays later, then drops it from the record", async () => {
      const since = new Date(Date.now() - 8 * 24 * 3_600_000).toISOString().slice(0, 10);
      cli.setConfig("acme", "adoption", JSON.stringify(record({ accessKeyInactiveSince: since })));
      iam.keys[1]!.status = "Inactive";
      const { report } = await go(false);
      assert.equal(report.exitCode, 0, report.reason);
      assert.equal(report.step, "delete");
      assert.deepEqual(
        iam.seen.filter((r) => IAM_WRITES.includes(r.action)).map((w) => [w.action, w.form.AccessKeyId]),
        [["DeleteAccessKey", CUSTOMER_KEY]],
      );
      assert.deepEqual(iam.keys.length, 1);
      const saved = JSON.parse(cli.config("acme").adoption!.value) as AdoptionRecord;
      assert.equal(saved.accessKeyId, undefined);
      assert.equal(saved.accessKeyInactiveSince, undefined);
      assert.equal(saved.phase, "done");
      // The next run is an ordinary one: one key, steady.
      const next = await go(true);
      assert.equal(next.report.phase, "steady");
    });

    it("deactivates the customer's key with UpdateAccessKey, records the day, and runs no pulumi up", async () => {
      const dayBefore = new Date().toISOString().slice(0, 10);
      const { report, text } = await go(false);
      const dayAfter = new Date().toISOString().slice(0, 10);
      assert.equal(report.exitCode, 0, report.reason);
      assert.equal(report.took, true);
      assert.match(text, /the adopted key, through IAM \(aws iam update-access-key --status Inactive\)/);
      const write = iam.seen.filter((r) => IAM_WRITES.includes(r.action));
      assert.deepEqual(
        write.map((w) => [w.action, w.form.AccessKeyId, w.form.Status, w.form.UserName]),
        [["UpdateAccessKey", CUSTOMER_KEY, "Inactive", USER]],
      );
      assert.equal(iam.keys[1]!.status, "Inactive");
      const saved = JSON.parse(cli.config("acme").adoption!.value) as AdoptionRecord;
      assert.ok([dayBefore, dayAfter].includes(saved.accessKeyInactiveSince!), `recorded ${saved.accessKeyInactiveSince}, the run's day`);
      assert.deepEqual(cli.callsOf("up"), []);
      assert.ok(!text.includes(CUSTOMER_KEY));
    });
  });
});

describe("status of an adopted stack", () => {
  const NOW = new Date("2026-11-27T06:00:00Z");
  const facts = (adoption: object) => ({
    name: "acme",
    config: { values: { adoption: JSON.stringify(adoption) }, secretKeys: new Set<string>(), provider: {} },
    outputs: {
      accessKeySlots: { value: [{ slot: "a", generation: 1, status: "Active", pgpKey: null }], secret: false },
      accessKeyCreatedAt: { value: "2026-11-25T06:00:00Z", secret: false },
    },
  });
  const base = { user: { path: "/", tags: {} }, role: { path: "/", maxSessionDuration: 3600, tags: {}, assumeRolePolicy: "{}" }, leftovers: [] };

  it("an unfinished adoption is the next thing", () => {
    assert.match(statusRow(facts({ ...base, phase: "kit", accessKeyId: CUSTOMER_KEY }), NOW).next!.what, /finish the adoption \(phase kit\): npm run adopt/);
  });

  it("then the customer's key: retired, then deleted keyInactiveDays after; then ordinary rotations", () => {
    assert.match(statusRow(facts({ ...base, phase: "done", accessKeyId: CUSTOMER_KEY }), NOW).next!.what, /retire the customer's adopted key/);
    const inactive = statusRow(facts({ ...base, phase: "done", accessKeyId: CUSTOMER_KEY, accessKeyInactiveSince: "2026-11-26" }), NOW).next!;
    assert.match(inactive.what, /delete the customer's inactive adopted key/);
    assert.equal(inactive.date, "2026-12-03");
    assert.match(statusRow(facts({ ...base, phase: "done" }), NOW).next!.what, /^rotate the access key/);
  });
});
