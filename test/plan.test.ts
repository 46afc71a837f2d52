/**
 * npm run plan: the real program under the mock runtime, printed for review. Checked for the example stack
 * of each SP-API region (na, eu, fe): resources, documents, key slots, dates and the block; then the ways
 * a user names the stack, and stack files that are broken or not stack files at all.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { parsePlanArgs, renderPlan, runPlanCommand } from "../commands/plan/cli";
import { parseStackFile } from "../commands/plan/stack-file";
import { runThroughNpm } from "./through-npm";

const ROOT = path.resolve(__dirname, "..");

function invokeResources(plan: string): string[] {
  return [...plan.matchAll(/"(arn:aws:execute-api:[a-z0-9-]+:\*:\*)"/g)].map((m) => m[1]!);
}

/** Runs the command in this process, as if the user ran it in userDir; returns exit code and output. */
async function plan(args: string[], userDir = ROOT) {
  let stdout = "";
  let stderr = "";
  const code = await runPlanCommand(args, {
    env: { INIT_CWD: userDir },
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
}

function block(plan: string) {
  return Hjson.parse(plan.slice(plan.indexOf("\ncredentials: {") + 1)).credentials;
}

describe("npm run plan", () => {
  const cases = [
    {
      file: "Pulumi.dev.yaml",
      region: "us-east-1",
      invoke: ["arn:aws:execute-api:us-east-1:*:*"],
      slots: ["slot a: generation 1, Active, newest"],
      expiry: "<not tracked: set lwaClientSecretIssuedOn to track it>",
    },
    {
      file: "examples/Pulumi.acme-eu.yaml",
      region: "eu-west-1",
      invoke: ["arn:aws:execute-api:us-east-1:*:*", "arn:aws:execute-api:eu-west-1:*:*", "arn:aws:execute-api:us-west-2:*:*"],
      slots: ["slot b: generation 2, Active, newest", "slot a: generation 1, Inactive, previous"],
      expiry: "2027-03-30", // lwaClientSecretIssuedOn 2026-10-01 + 180 days
    },
    {
      file: "examples/Pulumi.acme-fe.yaml",
      region: "us-west-2",
      invoke: ["arn:aws:execute-api:us-west-2:*:*"],
      slots: ["slot a: generation 1, Active, newest, in credentials, secret PGP-encrypted"],
      expiry: "<not tracked: set lwaClientSecretIssuedOn to track it>",
    },
  ];

  for (const c of cases) {
    it(`${c.file}: every resource, the full documents, the slots, the dates and the block (${c.region})`, async () => {
      const plan = await renderPlan(path.join(ROOT, c.file));
      for (const type of ["User", "Role", "Group", "GroupPolicy", "GroupMembership", "RolePolicy", "AccessKey"]) {
        assert.match(plan, new RegExp(`\\+ aws:iam/\\w+:${type}  sp-api-`), type);
      }
      assert.match(plan, /"Principal": \{\n\s+"AWS": "arn:aws:iam::123456789012:user\//, "the trust document is printed in full");
      assert.match(plan, /"Action": "sts:AssumeRole",\n\s+"Resource": "arn:aws:iam::123456789012:role\//);
      assert.deepEqual(invokeResources(plan), c.invoke);
      for (const slot of c.slots) assert.ok(plan.includes(slot), slot);
      assert.match(plan, /accessKeyRotateBy: \d{4}-\d{2}-\d{2}/);
      assert.equal(/^ {2}lwaClientSecretExpiresOn: (.*)$/m.exec(plan)?.[1], c.expiry);
      const credentials = block(plan);
      assert.equal(credentials.region, c.region);
      assert.match(credentials.aws_access_key_id, /^<access key id, slot [ab]: known after pulumi up>$/);
    });
  }

  it("with lwaRotation (acme-eu): the queue, its policy in full, the queue outputs and the Developer Console step", async () => {
    const plan = await renderPlan(path.join(ROOT, "examples/Pulumi.acme-eu.yaml"));
    assert.match(plan, /\+ aws:sqs\/queue:Queue {2}sp-api-lwa-secrets\n(\s+\w+: .*\n)*?\s+sqsManagedSseEnabled: true/);
    assert.match(plan, /messageRetentionSeconds: 1209600/);
    assert.match(plan, /\+ aws:sqs\/queuePolicy:QueuePolicy {2}sp-api-lwa-secrets-policy/);
    assert.match(plan, /"AWS": "arn:aws:iam::437568002678:root"\n\s+\},\n\s+"Action": \[\n\s+"sqs:SendMessage",\n\s+"sqs:GetQueueAttributes"\n\s+\]/);
    assert.match(plan, /"aws:SecureTransport": "false"/);
    const arn = /lwaNotificationQueueArn: (arn:aws:sqs:eu-west-1:123456789012:\S+)/.exec(plan)?.[1];
    assert.ok(arn, "the queue ARN output, in the stack's aws:region");
    assert.match(plan, /lwaNotificationQueueUrl: https:\/\/sqs\./);
    assert.match(plan, /Notification Preferences/);
    assert.ok(plan.includes('"Application Client New Secret" and "Application Client Secret Expiry"'));
    assert.ok(plan.includes(`(SQS ARN)\n  ${arn} `), "the step names the queue's ARN");
    const dev = await renderPlan(path.join(ROOT, "Pulumi.dev.yaml"));
    assert.ok(!dev.includes("aws:sqs/") && !dev.includes("Notification Preferences"), "no queue without lwaRotation");
  });

  it("never prints an encrypted value, and says it is set", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
    const file = path.join(dir, "Pulumi.enc.yaml");
    fs.writeFileSync(file, "config:\n  sp-api-iam:lwaClientSecret:\n    secure: v1:c2VjcmV0Y2lwaGVydGV4dA==\n");
    const plan = await renderPlan(file);
    assert.ok(!plan.includes("c2VjcmV0Y2lwaGVydGV4dA"));
    assert.match(plan, /lwaClientSecret = \[encrypted/);
    fs.rmSync(dir, { recursive: true });
  });

  it("says it reads no state and shows a first deployment", async () => {
    const plan = await renderPlan(path.join(ROOT, "Pulumi.dev.yaml"));
    assert.match(plan, /No state is read: this is the stack's first deployment/);
  });

  it("never prints a value encrypted inside a list or map, and says the key is set", async () => {
    const dir = tempDir();
    const file = path.join(dir, "Pulumi.enc.yaml");
    fs.writeFileSync(file, "config:\n  sp-api-iam:tags:\n    team:\n      secure: v1:bmVzdGVkY2lwaGVydGV4dA==\n");
    const plan = await renderPlan(file);
    fs.rmSync(dir, { recursive: true });
    assert.ok(!plan.includes("bmVzdGVkY2lwaGVydGV4dA"));
    assert.match(plan, /tags = \[encrypted/);
  });

  it("as `npm run plan -- <file>` from another directory: reads the file there, exits 1 with the program's message for a config it refuses, prints no plan", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "Pulumi.bad.yaml"), "config:\n  sp-api-iam:spApiRegion: jp\n");
    const result = await runThroughNpm("plan", ["Pulumi.bad.yaml"], { cwd: dir, env: process.env });
    fs.rmSync(dir, { recursive: true });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /sp-api-iam:spApiRegion: .*given "jp".*Allowed: one of na, eu, fe/);
    assert.equal(result.stdout, "");
  });
});

describe("npm run plan: which stack", () => {
  const user = "/home/u/work";
  const project = "/repo";
  const accepted: [string[], string][] = [
    [[], "/repo/Pulumi.dev.yaml"],
    [["examples/Pulumi.acme-eu.yaml"], "/home/u/work/examples/Pulumi.acme-eu.yaml"],
    [["/abs/Pulumi.x.yaml"], "/abs/Pulumi.x.yaml"],
    [["--config", "Pulumi.x.yaml"], "/home/u/work/Pulumi.x.yaml"],
    [["--config=../Pulumi.x.yaml"], "/home/u/Pulumi.x.yaml"],
    [["--stack", "acme-eu"], "/repo/Pulumi.acme-eu.yaml"],
    [["--stack=acme-eu"], "/repo/Pulumi.acme-eu.yaml"],
    [["-s", "acme-eu"], "/repo/Pulumi.acme-eu.yaml"],
  ];
  for (const [args, file] of accepted) {
    it(`takes ${JSON.stringify(args)} as ${file}`, () => assert.deepEqual(parsePlanArgs(args, user, project), { file }));
  }

  const refused: [string[], RegExp][] = [
    [["--config"], /--config needs a value/],
    [["--config="], /--config needs a value/],
    [["--stack"], /--stack needs a value/],
    [["--stack", "--config"], /--stack needs a value/],
    [["--stack", "../etc/x"], /not a stack name/],
    [["--verbose"], /unknown option --verbose/],
    [["-c", "Pulumi.x.yaml"], /unknown option -c/],
    [["a.yaml", "b.yaml"], /one stack file or one stack, not several/],
    [["--stack", "a", "--config", "b.yaml"], /not several/],
  ];
  for (const [args, reason] of refused) {
    it(`refuses ${JSON.stringify(args)}`, () => {
      const parsed = parsePlanArgs(args, user, project);
      assert.ok("usageError" in parsed, JSON.stringify(parsed));
      assert.match(parsed.usageError, reason);
    });
  }

  it("plans the stack it is given, in each form, and no other", async () => {
    for (const args of [["examples/Pulumi.acme-eu.yaml"], ["--config=examples/Pulumi.acme-eu.yaml"], ["--config", "examples/Pulumi.acme-eu.yaml"]]) {
      const result = await plan(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^sp-api-iam plan for stack "acme-eu" \(.*examples\/Pulumi\.acme-eu\.yaml\)/, args.join(" "));
      assert.equal(block(result.stdout).region, "eu-west-1", args.join(" "));
    }
  });

  it("exits 2 with the usage for an argument it does not take, or a stack file that does not exist, and plans nothing", async () => {
    for (const args of [["--verbose"], ["--stack", "acme-eu"], ["acme-eu"]]) {
      const result = await plan(args);
      assert.equal(result.code, 2, args.join(" "));
      assert.equal(result.stdout, "");
      // The one wording of a usage error: what is wrong, the usage line, where the help is; not the whole help.
      assert.match(result.stderr, /^plan: error: .*\nUsage: npm run plan -- .*\nMore: npm run plan -- --help\n$/);
    }
    assert.match((await plan(["--stack", "acme-eu"])).stderr, /no stack file \/.*\/Pulumi\.acme-eu\.yaml/);
    assert.match((await plan(["acme-eu"])).stderr, /a stack by its name: --stack acme-eu/);
  });
});

describe("npm run plan: stack files", () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const SECRET = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef";
  const TOKEN = "Atzr|IwEBIPlainTextRefreshToken0123456789";

  it("a YAML error: exit 1, '<file> line N: <reason>' and nothing else of the file, no plan", async () => {
    const file = path.join(dir, "Pulumi.broken.yaml");
    fs.writeFileSync(
      file,
      `config:\n  sp-api-iam:lwaClientSecret: ${SECRET}\n  sp-api-iam:spApiRegion: eu\n   sp-api-iam:tags: x\n  sp-api-iam:lwaRefreshToken: ${TOKEN}\n`,
    );
    const result = await plan([file]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `plan: error: ${file} line 4: bad indentation of a mapping entry\n`);
    assert.equal(result.stdout, "");
    for (const secret of [SECRET, TOKEN, "hunter", "IwEB", "sp-api-iam:spApiRegion"]) assert.ok(!(result.stdout + result.stderr).includes(secret), secret);
  });

  it("a YAML error that js-yaml would describe by quoting the file (an alias): the quote is left out", async () => {
    const file = path.join(dir, "Pulumi.alias.yaml");
    fs.writeFileSync(file, `config:\n  sp-api-iam:lwaRefreshToken: *${TOKEN.replace("|", "")}\n`);
    const result = await plan([file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /line 2: unidentified alias/);
    assert.ok(!result.stderr.includes("IwEB"), result.stderr);
  });

  const notStackFiles: [string, string, RegExp][] = [
    ["a list", "- sp-api-iam:spApiRegion: eu\n", /not a stack file: its top level is a list/],
    ["a single value", "sp-api-iam:spApiRegion\n", /not a stack file: its top level is a single value/],
    ["a project file", "name: sp-api-iam\nruntime: nodejs\n", /unknown top-level keys "name", "runtime"/],
    ["config: a list", "config:\n  - sp-api-iam:spApiRegion: eu\n", /"config:" is a list; it must be a map/],
    ["config: a single value", "config: eu\n", /"config:" is a single value/],
    [
      "keys without the prefix",
      "config:\n  spApiRegion: eu\n  tags:\n    team: x\n",
      /"spApiRegion", "tags" are neither this project's keys.*"sp-api-iam:tags"/,
    ],
    ["another project's prefix", "config:\n  sp-api:spApiRegion: eu\n", /"sp-api:spApiRegion" is neither this project's keys/],
  ];
  for (const [name, text, reason] of notStackFiles) {
    it(`refuses a file that is not a stack file (${name}) with exit 1, and plans nothing`, async () => {
      const file = path.join(dir, "Pulumi.x.yaml");
      fs.writeFileSync(file, text);
      const result = await plan([file]);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, reason);
      assert.ok(result.stderr.startsWith(`plan: error: ${file}`), result.stderr);
      assert.equal(result.stdout, "");
    });
  }

  it("says what it cannot read: values of the ESC environments a stack file imports", async () => {
    const file = path.join(dir, "Pulumi.esc.yaml");
    fs.writeFileSync(file, "environment:\n  - acme/prod\nconfig:\n  sp-api-iam:spApiRegion: eu\n");
    const result = await plan([file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /not shown: values of the ESC environments .* imports/);
  });

  it("refuses a directory given as the stack file with exit 1", async () => {
    const result = await plan(["--config", dir]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /a directory, not a stack file/);
  });

  it("reads values as the Pulumi CLI hands them to the program: a scalar as its text, a list or map as JSON", () => {
    const { values, providerValues } = parseStackFile(
      [
        "config:",
        "  aws:region: eu-central-1",
        "  sp-api-iam:lwaClientSecretIssuedOn: 2026-10-01",
        "  sp-api-iam:accessKeyGeneration: 2",
        "  sp-api-iam:lwaRotation: true",
        "  sp-api-iam:keyQuietHours: 0048",
        "  sp-api-iam:lwaClientId:",
        "  sp-api-iam:tags: {cost-center: 42, billable: true, since: 2026-10-01, on: yes, ratio: 1.50}",
        "  sp-api-iam:spApiRegions: [na, 'fe']",
      ].join("\n"),
      "Pulumi.x.yaml",
    );
    assert.deepEqual(values, {
      lwaClientSecretIssuedOn: "2026-10-01",
      accessKeyGeneration: "2",
      lwaRotation: "true",
      keyQuietHours: "0048",
      lwaClientId: "",
      tags: '{"cost-center":42,"billable":true,"since":"2026-10-01","on":"yes","ratio":1.5}',
      spApiRegions: '["na","fe"]',
    });
    assert.deepEqual(providerValues, { "aws:region": "eu-central-1" });
  });

  it("plans an unquoted issue date as pulumi up takes it: the exact expiry date", async () => {
    const file = path.join(dir, "Pulumi.date.yaml");
    fs.writeFileSync(file, "config:\n  sp-api-iam:lwaClientSecretIssuedOn: 2026-10-01\n  sp-api-iam:tags:\n    cost-center: 42\n");
    const result = await plan([file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(/^ {2}lwaClientSecretExpiresOn: (.*)$/m.exec(result.stdout)?.[1], "2027-03-30");
    assert.match(result.stdout, /tags: \{"cost-center":"42"\}/);
  });

  it("refuses a provider region outside the aws partition, as pulumi up would", async () => {
    const file = path.join(dir, "Pulumi.cn.yaml");
    fs.writeFileSync(file, "config:\n  aws:region: cn-north-1\n");
    const result = await plan([file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /aws:region: "cn-north-1" is outside the aws partition/);
  });

  it("plans the defaults for an empty stack file, as pulumi up would", async () => {
    const file = path.join(dir, "Pulumi.empty.yaml");
    fs.writeFileSync(file, "# nothing set yet\n");
    const result = await plan([file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(block(result.stdout).region, "us-east-1");
  });
});
