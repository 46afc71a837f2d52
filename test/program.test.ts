/**
 * The whole program under Pulumi's mocks: the exact resource set, parenting, names, paths, boundary, tags,
 * every output, secrecy, and bad input stopping it before anything is declared.
 */
import assert from "node:assert/strict";
import * as Hjson from "hjson";
import { COMPONENT_TYPE, SellingPartnerApiAccess } from "../src/component";
import { fakeAccessKeyId, isSecret, runOffline, value } from "./offline-run";

const KEY_SECRET = '9/+=#|:{}"\\wJalrXUtnFEMI/K7MDENG+bPxRfiCY'; // a leading digit and every HJSON-hostile character
const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
const CLIENT_SECRET = "amzn1.oa2-cs.v1.3f2a9c0e5b7d41e8a6c2f0b9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9";
const REFRESH_TOKEN = "Atzr|IwEBIA-refresh/token+with=odd#chars:{}|\\end";

const keyFor = (slot: string) => ({ id: fakeAccessKeyId(`slot-${slot}`), secret: KEY_SECRET, createDate: new Date().toISOString() });

function byType(run: Awaited<ReturnType<typeof runOffline>>) {
  const map = new Map<string, any[]>();
  for (const r of run.cloud.resources) map.set(r.type, [...(map.get(r.type) ?? []), r]);
  return map;
}

describe("program under mocks: defaults", () => {
  let run: Awaited<ReturnType<typeof runOffline>>;
  before(async () => {
    run = await runOffline({}, [], { keyFor });
    assert.equal(run.error, undefined, run.error?.message);
  });

  it("declares exactly the component and its seven children, plus the read of the stack's last outputs", () => {
    const declared = run.cloud.resources.map((r) => `${r.type} ${r.name}`).sort();
    assert.deepEqual(declared, [
      "aws:iam/accessKey:AccessKey sp-api-key-a",
      "aws:iam/group:Group sp-api-group",
      "aws:iam/groupMembership:GroupMembership sp-api-membership",
      "aws:iam/groupPolicy:GroupPolicy sp-api-assume",
      "aws:iam/role:Role sp-api-role",
      "aws:iam/rolePolicy:RolePolicy sp-api-invoke",
      "aws:iam/user:User sp-api-user",
      "pulumi:pulumi:StackReference last-deployment",
      `${COMPONENT_TYPE} sp-api`,
    ]);
  });

  it("parents every cloud resource to the component (their URNs carry its type)", async () => {
    // The mocks are not told parents; a URN is, so check the URNs of a component built the program's way.
    const probe = new SellingPartnerApiAccess("probe", { spApiRegion: "na", accessKeyGeneration: 2 });
    const children = [probe.user, probe.role, probe.group, probe.invokePolicy, probe.assumePolicy, probe.membership, ...Object.values(probe.accessKeys)];
    assert.equal(children.length, 8);
    for (const child of children) {
      const urn = await value(child!.urn);
      assert.match(urn, new RegExp(`::${COMPONENT_TYPE.replace(/[$]/g, "\\$")}\\$aws:iam/`), urn);
    }
  });

  it("names the role SellingPartnerAPI and the user sp-api-connector, on path /, with no boundary and no tags", () => {
    const types = byType(run);
    const user = types.get("aws:iam/user:User")![0];
    const role = types.get("aws:iam/role:Role")![0];
    const group = types.get("aws:iam/group:Group")![0];
    assert.equal(user.inputs.name, "sp-api-connector");
    assert.equal(role.inputs.name, "SellingPartnerAPI");
    assert.equal(group.inputs.name, "SellingPartnerAPI-assumers");
    for (const r of [user, role, group]) assert.equal(r.inputs.path, "/");
    assert.equal(user.inputs.permissionsBoundary, undefined);
    assert.equal(role.inputs.permissionsBoundary, undefined);
    assert.deepEqual(user.inputs.tags, {});
    assert.equal(user.inputs.loginProfile, undefined, "programmatic only: no console password");
    assert.ok(!types.has("aws:iam/userLoginProfile:UserLoginProfile"));
    assert.ok(!types.has("aws:iam/userPolicy:UserPolicy"), "no policy on the user (Security Hub IAM.2)");
    assert.ok(!types.has("aws:iam/userPolicyAttachment:UserPolicyAttachment"));
  });

  it("wires the documents to each other: trust names the user's ARN, the group may assume the role's ARN", () => {
    const types = byType(run);
    const trust = JSON.parse(types.get("aws:iam/role:Role")![0].inputs.assumeRolePolicy);
    assert.deepEqual(
      trust.Statement.map((s: any) => s.Principal),
      [{ AWS: "arn:aws:iam::123456789012:user/sp-api-connector" }],
    );
    const assume = JSON.parse(types.get("aws:iam/groupPolicy:GroupPolicy")![0].inputs.policy);
    assert.deepEqual(
      assume.Statement.map((s: any) => s.Resource),
      ["arn:aws:iam::123456789012:role/SellingPartnerAPI"],
    );
    const invoke = JSON.parse(types.get("aws:iam/rolePolicy:RolePolicy")![0].inputs.policy);
    assert.deepEqual(
      invoke.Statement.map((s: any) => s.Resource),
      ["arn:aws:execute-api:us-east-1:*:*"],
    );
    const membership = types.get("aws:iam/groupMembership:GroupMembership")![0];
    assert.deepEqual(membership.inputs.users, ["sp-api-connector"]);
    assert.equal(membership.inputs.group, "SellingPartnerAPI-assumers");
  });

  it("exports the ARNs, the user name and the key id in plain sight, and the credentials as a secret", async () => {
    const o = run.outputs!;
    assert.equal(await value(o.roleArn), "arn:aws:iam::123456789012:role/SellingPartnerAPI");
    assert.equal(await value(o.userArn), "arn:aws:iam::123456789012:user/sp-api-connector");
    assert.equal(await value(o.userName), "sp-api-connector");
    assert.equal(await value(o.accessKeyId), keyFor("a").id);
    for (const name of ["roleArn", "userArn", "userName", "accessKeyId"] as const) {
      assert.equal(await isSecret(o[name]), false, name);
    }
    assert.equal(await isSecret(o.credentials), true);
  });

  it("no output but credentials carries the key secret", async () => {
    const o = run.outputs!;
    for (const [name, output] of Object.entries(o)) {
      const shown = typeof output === "object" && output && "apply" in output ? await value(output as any) : output;
      if (name === "credentials") continue;
      assert.ok(!JSON.stringify(shown).includes("wJalrXUtnFEMI"), `${name} leaks the key secret`);
    }
  });

  it("the credentials block parses back with every value byte for byte, LWA values as placeholders", async () => {
    const parsed = Hjson.parse(await value(run.outputs!.credentials));
    assert.deepEqual(parsed, {
      credentials: {
        region: "us-east-1",
        role_arn: "arn:aws:iam::123456789012:role/SellingPartnerAPI",
        aws_access_key_id: keyFor("a").id,
        aws_secret_access_key: KEY_SECRET,
        client_id: "<your-client-id>",
        client_secret: "<your-client-secret>",
        refresh_token: "<your-refresh-token>",
      },
    });
  });
});

describe("program under mocks: every setting", () => {
  const config = {
    spApiRegion: "eu",
    spApiRegions: JSON.stringify(["fe", "na"]),
    roleName: "SpApiRole.prod",
    userName: "connector@acme",
    path: "/integrations/sp-api/",
    permissionsBoundary: "arn:aws:iam::123456789012:policy/DataPipelineBoundary",
    tags: JSON.stringify({ team: "data-eng", "cost-center": "42" }),
    lwaClientId: CLIENT_ID,
    lwaClientSecret: CLIENT_SECRET,
    lwaRefreshToken: REFRESH_TOKEN,
  };
  let run: Awaited<ReturnType<typeof runOffline>>;
  before(async () => {
    run = await runOffline(config, ["lwaClientSecret", "lwaRefreshToken"], { keyFor });
    assert.equal(run.error, undefined, run.error?.message);
  });

  it("applies names, path, boundary and tags where IAM takes them", () => {
    const types = byType(run);
    const user = types.get("aws:iam/user:User")![0];
    const role = types.get("aws:iam/role:Role")![0];
    const group = types.get("aws:iam/group:Group")![0];
    assert.equal(user.inputs.name, "connector@acme");
    assert.equal(role.inputs.name, "SpApiRole.prod");
    assert.equal(group.inputs.name, "SpApiRole.prod-assumers");
    for (const r of [user, role, group]) assert.equal(r.inputs.path, "/integrations/sp-api/");
    for (const r of [user, role]) {
      assert.equal(r.inputs.permissionsBoundary, config.permissionsBoundary);
      assert.deepEqual(r.inputs.tags, { team: "data-eng", "cost-center": "42" });
    }
  });

  it("lets the role invoke in every served region and no other", () => {
    const invoke = JSON.parse(byType(run).get("aws:iam/rolePolicy:RolePolicy")![0].inputs.policy);
    assert.deepEqual(invoke.Statement[0].Resource, [
      "arn:aws:execute-api:us-east-1:*:*",
      "arn:aws:execute-api:eu-west-1:*:*",
      "arn:aws:execute-api:us-west-2:*:*",
    ]);
  });

  it("fills the block with the LWA values and the primary region's AWS region", async () => {
    const parsed = Hjson.parse(await value(run.outputs!.credentials)).credentials;
    assert.equal(parsed.region, "eu-west-1");
    assert.equal(parsed.role_arn, "arn:aws:iam::123456789012:role/integrations/sp-api/SpApiRole.prod");
    assert.equal(parsed.client_id, CLIENT_ID);
    assert.equal(parsed.client_secret, CLIENT_SECRET);
    assert.equal(parsed.refresh_token, REFRESH_TOKEN);
    assert.equal(await isSecret(run.outputs!.credentials), true);
  });

  it("no resource input carries an LWA secret (they live only in the secret credentials output)", () => {
    const everything = JSON.stringify(run.cloud.resources);
    assert.ok(!everything.includes(CLIENT_SECRET));
    assert.ok(!everything.includes(REFRESH_TOKEN));
  });
});

describe("program under mocks: bad input stops it before anything is declared", () => {
  const cases: { name: string; values: Record<string, string>; secret?: string[]; provider?: Record<string, string>; expect: RegExp[]; hidden?: string }[] = [
    { name: "unknown region", values: { spApiRegion: "us" }, expect: [/spApiRegion/, /"us"/, /na, eu, fe/, /pulumi config set spApiRegion/] },
    { name: "unknown further region", values: { spApiRegions: '["na","jp"]' }, expect: [/spApiRegions/, /na, eu, fe/] },
    { name: "role name IAM rejects", values: { roleName: "Selling Partner API" }, expect: [/roleName/, /"Selling Partner API"/, /1 to 64/] },
    { name: "role name over 64", values: { roleName: "R".repeat(65) }, expect: [/roleName/, /1 to 64/] },
    { name: "user name IAM rejects", values: { userName: "sp/api" }, expect: [/userName/, /pulumi config set userName/] },
    { name: "user name over 64", values: { userName: "u".repeat(65) }, expect: [/userName/] },
    { name: "path without slashes", values: { path: "sp-api" }, expect: [/path/, /"sp-api"/, /IAM path/, /pulumi config set path/] },
    { name: "path without trailing slash", values: { path: "/sp-api" }, expect: [/path/] },
    { name: "boundary not a policy ARN", values: { permissionsBoundary: "arn:aws:iam::123456789012:role/X" }, expect: [/permissionsBoundary/, /policy ARN/] },
    { name: "client id malformed", values: { lwaClientId: "amzn1.application-oa2-client.XYZ" }, expect: [/lwaClientId/, /32 lowercase hex/] },
    {
      name: "refresh token without Atzr|",
      values: { lwaRefreshToken: "Atza|not-a-refresh-token-0123456789" },
      secret: ["lwaRefreshToken"],
      expect: [/lwaRefreshToken/, /Atzr\|/, /hidden/],
      hidden: "Atza|not-a-refresh-token-0123456789",
    },
    {
      name: "LWA secret in plain text",
      values: { lwaClientSecret: CLIENT_SECRET },
      expect: [/lwaClientSecret/, /plain text/, /pulumi config set --secret lwaClientSecret/],
      hidden: CLIENT_SECRET,
    },
    {
      name: "refresh token in plain text",
      values: { lwaRefreshToken: REFRESH_TOKEN },
      expect: [/lwaRefreshToken/, /plain text/, /pulumi config set --secret lwaRefreshToken/],
      hidden: REFRESH_TOKEN,
    },
    {
      name: "malformed LWA secret",
      values: { lwaClientSecret: "hunter2-is-not-a-secret" },
      secret: ["lwaClientSecret"],
      expect: [/lwaClientSecret/, /not an LWA client secret/],
      hidden: "hunter2",
    },
    { name: "issued-on not a date", values: { lwaClientSecretIssuedOn: "2026-02-30" }, expect: [/lwaClientSecretIssuedOn/, /real calendar date/] },
    { name: "issued-on in the future", values: { lwaClientSecretIssuedOn: "2999-01-01" }, expect: [/lwaClientSecretIssuedOn/, /future/] },
    { name: "generation zero", values: { accessKeyGeneration: "0" }, expect: [/accessKeyGeneration/] },
    { name: "previous key state unknown", values: { previousAccessKey: "deleted" }, expect: [/previousAccessKey/, /active, inactive, removed/] },
    { name: "tags not a map", values: { tags: "team=data" }, expect: [/tags/] },
    { name: "reserved tag key", values: { tags: '{"aws:owner":"x"}' }, expect: [/tags/, /reserved/] },
    { name: "reserved tag key, upper case", values: { tags: '{"AWS:owner":"x"}' }, expect: [/tags/, /"AWS:owner" is reserved/] },
    {
      name: "tag key with a character IAM refuses (!)",
      values: { tags: '{"x!y":"1"}' },
      expect: [/tags/, /tag key "x!y" has a character IAM refuses/, /_ \. : \/ = \+ - @/],
    },
    {
      name: "tag value with a character IAM refuses (#)",
      values: { tags: '{"team":"a#b"}' },
      expect: [/tags/, /tag "team" has a value with a character IAM refuses/],
    },
    { name: "tag key with an emoji", values: { tags: JSON.stringify({ "team\u{1F680}": "x" }) }, expect: [/tags/, /character IAM refuses/] },
    { name: "tag keys differing only in case", values: { tags: '{"Team":"a","team":"b"}' }, expect: [/tags/, /"Team" and "team" differ only in case/] },
    {
      name: "more than 50 tags",
      values: { tags: JSON.stringify(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]))) },
      expect: [/tags/, /51 tags; IAM takes at most 50/],
    },
    { name: "tag key over 128 characters", values: { tags: JSON.stringify({ ["k".repeat(129)]: "v" }) }, expect: [/tags/, /not 1 to 128 characters/] },
    { name: "empty tag key", values: { tags: '{"":"v"}' }, expect: [/tags/, /tag key "" is not 1 to 128 characters/] },
    {
      name: "tag value over 256 characters",
      values: { tags: JSON.stringify({ k: "v".repeat(257) }) },
      expect: [/tags/, /tag "k" has a value longer than 256/],
    },
    {
      name: "tag value that is not text",
      values: { tags: '{"k":null,"l":{"m":"n"}}' },
      expect: [/tags/, /tag "k" has a value that is not text \(null\)/, /tag "l" .*not text/],
    },
    {
      name: "boundary in the aws-cn partition",
      values: { permissionsBoundary: "arn:aws-cn:iam::123456789012:policy/Boundary" },
      expect: [/sp-api-iam:permissionsBoundary: in the aws-cn partition, where SP-API does not exist/, /"arn:aws-cn:iam::123456789012:policy\/Boundary"/],
    },
    {
      name: "boundary in the aws-us-gov partition",
      values: { permissionsBoundary: "arn:aws-us-gov:iam::123456789012:policy/Boundary" },
      expect: [/sp-api-iam:permissionsBoundary: in the aws-us-gov partition/, /Allowed: an IAM policy ARN of the aws partition/],
    },
    {
      name: "provider region in China (aws-cn)",
      values: {},
      provider: { "aws:region": "cn-north-1" },
      expect: [/aws:region: "cn-north-1" is outside the aws partition/, /SP-API exists only in aws/, /Fix: pulumi config set aws:region us-east-1/],
    },
    {
      name: "provider region in GovCloud",
      values: {},
      provider: { "aws:region": "us-gov-west-1" },
      expect: [/aws:region: "us-gov-west-1" is outside the aws partition/],
    },
    { name: "unknown key (typo)", values: { spApiRegoin: "eu" }, expect: [/spApiRegoin/, /not a key of this program/] },
  ];

  for (const c of cases) {
    it(`${c.name}: rejected, key named, nothing declared`, async () => {
      const run = await runOffline(c.values, c.secret ?? [], { keyFor }, c.provider);
      assert.ok(run.error, "the program should have stopped");
      assert.equal(run.error!.name === "RunError" || run.error!.constructor.name === "RunError", true, run.error!.stack);
      for (const pattern of c.expect) assert.match(run.error!.message, pattern);
      assert.match(run.error!.message, /nothing was created/);
      if (c.hidden) assert.ok(!run.error!.message.includes(c.hidden), "the message repeats a secret");
      // Only the read of the last deployment (its operational state) precedes the refusal: nothing is created.
      assert.deepEqual(
        run.cloud.resources.map((r) => r.type),
        ["pulumi:pulumi:StackReference"],
        "a resource was declared",
      );
    });
  }

  it("reports every bad key at once", async () => {
    const run = await runOffline({ spApiRegion: "xx", roleName: "a b", path: "x" });
    for (const key of ["spApiRegion", "roleName", "path"]) assert.match(run.error!.message, new RegExp(`sp-api-iam:${key}:`));
  });
});

describe("program under mocks: tags and regions IAM takes", () => {
  it("takes numeric and boolean tag values (as `pulumi config set --path` stores them) as their text, and letters and digits of any script", async () => {
    const tags = { "cost-center": 42, billable: true, Équipe: "données", "team name": "data eng 2", "a_b.c:d/e=f+g-h@i": "", 部署: "営業" };
    const run = await runOffline({ tags: JSON.stringify(tags) }, [], { keyFor });
    assert.equal(run.error, undefined, run.error?.message);
    const expected = { "cost-center": "42", billable: "true", Équipe: "données", "team name": "data eng 2", "a_b.c:d/e=f+g-h@i": "", 部署: "営業" };
    for (const type of ["aws:iam/user:User", "aws:iam/role:Role"]) assert.deepEqual(byType(run).get(type)![0].inputs.tags, expected, type);
  });

  it("takes exactly 50 tags, a key of 128 characters and a value of 256, in any script", async () => {
    const tags: Record<string, string> = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`k${i}`, "v"]));
    tags["é".repeat(128)] = "v";
    tags.long = "日".repeat(256);
    const run = await runOffline({ tags: JSON.stringify(tags) }, [], { keyFor });
    assert.equal(run.error, undefined, run.error?.message);
    assert.equal(Object.keys(byType(run).get("aws:iam/user:User")![0].inputs.tags).length, 50);
  });

  it("takes a provider region of the aws partition", async () => {
    const run = await runOffline({}, [], { keyFor }, { "aws:region": "ap-northeast-1" });
    assert.equal(run.error, undefined, run.error?.message);
  });
});

describe("config: the LWA secret's issue date and time zones", () => {
  it("accepts the seller's local today even where it is already tomorrow in UTC terms (up to UTC+14)", async () => {
    const { validateConfig } = await import("../src/config");
    const lateEvening = new Date("2026-11-26T20:00:00Z"); // 2026-11-27 10:00 in UTC+14
    assert.doesNotThrow(() => validateConfig({ values: { lwaClientSecretIssuedOn: "2026-11-27" }, secretKeys: new Set() }, lateEvening));
    assert.throws(
      () => validateConfig({ values: { lwaClientSecretIssuedOn: "2026-11-28" }, secretKeys: new Set() }, lateEvening),
      /in the future \(today is 2026-11-26 UTC\)/,
    );
    const morning = new Date("2026-11-26T05:00:00Z"); // 2026-11-26 19:00 in UTC+14: the 27th is still ahead everywhere
    assert.throws(() => validateConfig({ values: { lwaClientSecretIssuedOn: "2026-11-27" }, secretKeys: new Set() }, morning), /future/);
  });
});

describe("program under mocks: the operational state (issue 20)", () => {
  const OLD_SECRET = "amzn1.oa2-cs.v1.0000000000000000000000000000000000000000000000000000000000000001";
  const NEW_SECRET = "amzn1.oa2-cs.v1.0000000000000000000000000000000000000000000000000000000000000002";
  const committed = { lwaClientId: CLIENT_ID, lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN };
  const secretKeys = ["lwaClientSecret", "lwaRefreshToken"];
  /** What the last deployment left, as a reference to the stack reads it back: a command rotated both secrets. */
  let last: Record<string, unknown>;

  before(async () => {
    const first = await runOffline({ ...committed }, secretKeys, { keyFor });
    assert.equal(first.error, undefined, first.error?.message);
    // A command's write (stateRevision one past the deployed 0) and its `up`: generation 2 and the new LWA secret.
    const rotated = await runOffline(
      { ...committed, lwaClientSecret: NEW_SECRET, accessKeyGeneration: "2", lwaClientSecretIssuedAt: "2026-12-01T10:00:00Z", stateRevision: "1" },
      secretKeys,
      { keyFor, lastOutputs: { accessKeySlots: first.outputs!.accessKeySlots, operationalState: first.outputs!.operationalState } },
    );
    assert.equal(rotated.error, undefined, rotated.error?.message);
    last = {
      accessKeySlots: rotated.outputs!.accessKeySlots,
      userName: await value(rotated.outputs!.userName),
      operationalState: rotated.outputs!.operationalState,
      operationalSecrets: await value(rotated.outputs!.operationalSecrets),
    };
  });

  afterEach(() => delete process.env.SP_API_IAM_STATE_BASE);

  it("exports the state's revision and non-secret keys in plain sight, the secret keys only in the secret output", async () => {
    const state = last.operationalState as { revision: number; values: Record<string, string>; secretKeys: string[] };
    assert.deepEqual(state, {
      revision: 1,
      values: { accessKeyGeneration: "2", lwaClientSecretIssuedAt: "2026-12-01T10:00:00Z" },
      secretKeys: ["lwaClientSecret"],
    });
    assert.deepEqual(last.operationalSecrets, { lwaClientSecret: NEW_SECRET });
    const run = await runOffline({ ...committed, stateRevision: "0" }, secretKeys, { keyFor, lastOutputs: last });
    assert.equal(run.error, undefined, run.error?.message);
    assert.equal(await isSecret(run.outputs!.operationalSecrets), true);
    for (const [name, output] of Object.entries(run.outputs!)) {
      if (name === "credentials" || name === "operationalSecrets") continue;
      const shown = typeof output === "object" && output && "apply" in output ? await value(output as any) : output;
      for (const secret of [NEW_SECRET, OLD_SECRET, REFRESH_TOKEN]) assert.ok(!JSON.stringify(shown ?? "").includes(secret), `${name} holds a secret`);
    }
  });

  it("a stale working copy (a fresh clone) deploys the deployed secret and key generation, and warns naming the keys, never a value", async () => {
    const run = await runOffline({ ...committed }, secretKeys, { keyFor, lastOutputs: last });
    assert.equal(run.error, undefined, run.error?.message);
    const block = Hjson.parse(await value(run.outputs!.credentials)).credentials;
    assert.equal(block.client_secret, NEW_SECRET, "the new secret, not the committed one");
    assert.equal(run.outputs!.accessKeySlots!.find((s) => s.status === "Active" && s.generation === 2)?.generation, 2, "generation 2 stays");
    assert.equal(run.outputs!.operationalState.revision, 1);
    const warning = run.warnings.find((w) => /older than the last deployment's/.test(w));
    assert.ok(warning, run.warnings.join("\n"));
    assert.match(warning!, /lwaClientSecret/);
    assert.ok(!warning!.includes(OLD_SECRET) && !warning!.includes(NEW_SECRET));
  });

  it("a person's own setting in that stale working copy is kept beside the deployed state", async () => {
    const run = await runOffline({ ...committed, roleName: "MyOwnRole", spApiRegion: "eu" }, secretKeys, { keyFor, lastOutputs: last });
    assert.equal(run.error, undefined, run.error?.message);
    assert.equal(byType(run).get("aws:iam/role:Role")![0].inputs.name, "MyOwnRole");
    const block = Hjson.parse(await value(run.outputs!.credentials)).credentials;
    assert.equal(block.region, "eu-west-1");
    assert.equal(block.client_secret, NEW_SECRET);
  });

  it("a command's up whose base is no longer the deployed revision is refused before anything is declared, naming the fix", async () => {
    process.env.SP_API_IAM_STATE_BASE = "0";
    const run = await runOffline({ ...committed, stateRevision: "1", accessKeyGeneration: "3" }, secretKeys, { keyFor, lastOutputs: last });
    assert.ok(run.error);
    assert.equal(run.error!.constructor.name, "RunError");
    assert.match(run.error!.message, /another run changed this stack's state/);
    assert.match(run.error!.message, /Fix: run the command again/);
    assert.deepEqual(
      run.cloud.resources.map((r) => r.type),
      ["pulumi:pulumi:StackReference"],
    );
  });

  it("a command's up from the deployed revision goes ahead with its write (L = D + 1)", async () => {
    process.env.SP_API_IAM_STATE_BASE = "1";
    const run = await runOffline(
      { ...committed, lwaClientSecret: NEW_SECRET, stateRevision: "2", accessKeyGeneration: "2", lwaRotationRequestedAt: "2026-12-02T10:00:00Z" },
      secretKeys,
      { keyFor, lastOutputs: last },
    );
    assert.equal(run.error, undefined, run.error?.message);
    assert.equal(run.outputs!.operationalState.revision, 2);
    assert.equal(run.outputs!.operationalState.values.lwaRotationRequestedAt, "2026-12-02T10:00:00Z");
    assert.equal(run.outputs!.operationalState.values.lwaClientSecretIssuedAt, undefined, "removed by the write");
  });

  it("a base that is not a whole number is refused, naming SP_API_IAM_STATE_BASE", async () => {
    process.env.SP_API_IAM_STATE_BASE = "latest";
    const run = await runOffline({ ...committed }, secretKeys, { keyFor, lastOutputs: last });
    assert.match(run.error!.message, /SP_API_IAM_STATE_BASE: "latest" is not a whole number/);
  });
});

describe("program under mocks: authorizations (one app, several marketplaces)", () => {
  const EU_TOKEN = "Atzr|IwEBI-the-EU-authorization/token+0123456789";
  let run: Awaited<ReturnType<typeof runOffline>>;
  before(async () => {
    run = await runOffline(
      {
        spApiRegion: "na",
        lwaClientId: CLIENT_ID,
        lwaClientSecret: CLIENT_SECRET,
        lwaRefreshToken: REFRESH_TOKEN,
        authorizations: JSON.stringify({ eu: { spApiRegion: "eu", refreshToken: EU_TOKEN } }),
      },
      ["lwaClientSecret", "lwaRefreshToken", "authorizations"],
      { keyFor },
    );
    assert.equal(run.error, undefined, run.error?.message);
  });

  it("a secret EU block with eu-west-1 and the EU token; the NA block kept as credentials", async () => {
    const o = run.outputs!;
    assert.equal(await isSecret(o.authorizationCredentials), true);
    const blocks = await value(o.authorizationCredentials);
    assert.deepEqual(Object.keys(blocks), ["eu"]);
    const eu = Hjson.parse(blocks.eu!).credentials;
    const na = Hjson.parse(await value(o.credentials)).credentials;
    assert.equal(eu.region, "eu-west-1");
    assert.equal(eu.refresh_token, EU_TOKEN);
    assert.equal(na.region, "us-east-1");
    assert.equal(na.refresh_token, REFRESH_TOKEN);
    // The same app, role and key pair in both.
    for (const field of ["role_arn", "aws_access_key_id", "aws_secret_access_key", "client_id", "client_secret"]) assert.equal(eu[field], na[field], field);
    assert.deepEqual(o.authorizations, { eu: "eu" }, "the regions by name, in plain sight");
    assert.ok(!JSON.stringify(o.authorizations).includes("Atzr|"));
  });

  it("the role may invoke every authorization's region", () => {
    const invoke = JSON.parse(byType(run).get("aws:iam/rolePolicy:RolePolicy")![0].inputs.policy);
    assert.deepEqual(invoke.Statement.map((s: any) => s.Resource).flat(), ["arn:aws:execute-api:us-east-1:*:*", "arn:aws:execute-api:eu-west-1:*:*"]);
  });

  it("refuses a refresh token in plain text, an unknown region and a bad name, naming each, never the token", async () => {
    const plain = await runOffline({ authorizations: JSON.stringify({ eu: { spApiRegion: "eu", refreshToken: EU_TOKEN } }) }, [], { keyFor });
    assert.match(
      plain.error!.message,
      /sp-api-iam:authorizations: authorizations\.eu\.refreshToken stored in plain text; a secret must be encrypted\. Fix: pulumi config rm --path 'authorizations\.eu\.refreshToken' && pulumi config set --secret --path 'authorizations\.eu\.refreshToken'/,
    );
    const bad = await runOffline(
      { authorizations: JSON.stringify({ eu: { spApiRegion: "europe", refreshToken: EU_TOKEN }, "Bad Name": { spApiRegion: "na" } }) },
      ["authorizations"],
      { keyFor },
    );
    assert.match(
      bad.error!.message,
      /sp-api-iam:authorizations: not an SP-API region \(at authorizations\.eu\.spApiRegion\); given \{"eu":\{"spApiRegion":"europe","refreshToken":"\(hidden: a secret\)"\}/,
    );
    assert.match(bad.error!.message, /Allowed: further authorizations of the app/);
    assert.match(bad.error!.message, /sp-api-iam:authorizations: a name that is not 1 to 32 of a-z 0-9 - _ \(at authorizations\.Bad Name\)/);
    for (const run of [plain, bad]) assert.ok(!run.error!.message.includes(EU_TOKEN), "the token is never shown");
  });
});
