/**
 * npm run plan: the real program under the mock runtime, printed for review. Checked for the example stack
 * of each SP-API region (na, eu, fe): resources, documents, key slots, dates and the block.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { renderPlan } from "../scripts/plan";

const ROOT = path.resolve(__dirname, "..");

function invokeResources(plan: string): string[] {
  return [...plan.matchAll(/"(arn:aws:execute-api:[a-z0-9-]+:\*:\*)"/g)].map((m) => m[1]!);
}

function block(plan: string) {
  return Hjson.parse(plan.slice(plan.indexOf("\ncredentials: {") + 1)).credentials;
}

describe("npm run plan", () => {
  const cases = [
    { file: "Pulumi.dev.yaml", region: "us-east-1", invoke: ["arn:aws:execute-api:us-east-1:*:*"], slots: ["slot a: generation 1, Active, newest"] },
    {
      file: "examples/Pulumi.acme-eu.yaml",
      region: "eu-west-1",
      invoke: ["arn:aws:execute-api:us-east-1:*:*", "arn:aws:execute-api:eu-west-1:*:*", "arn:aws:execute-api:us-west-2:*:*"],
      slots: ["slot b: generation 2, Active, newest", "slot a: generation 1, Inactive, previous"],
    },
    {
      file: "examples/Pulumi.acme-fe.yaml",
      region: "us-west-2",
      invoke: ["arn:aws:execute-api:us-west-2:*:*"],
      slots: ["slot a: generation 1, Active, newest, in credentials, secret PGP-encrypted"],
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
      assert.match(plan, /lwaClientSecretExpiresOn: /);
      const credentials = block(plan);
      assert.equal(credentials.region, c.region);
      assert.match(credentials.aws_access_key_id, /^<access key id, slot [ab]: known after pulumi up>$/);
    });
  }

  it("shows the LWA secret's expiry date when the issue date is set", async () => {
    const plan = await renderPlan(path.join(ROOT, "examples/Pulumi.acme-eu.yaml"));
    assert.match(plan, /lwaClientSecretExpiresOn: 2027-03-30/);
  });

  it("with lwaRotation (acme-eu): the queue, its policy in full, the queue outputs and the Developer Console step", async () => {
    const plan = await renderPlan(path.join(ROOT, "examples/Pulumi.acme-eu.yaml"));
    assert.match(plan, /\+ aws:sqs\/queue:Queue {2}sp-api-lwa-secrets\n(\s+\w+: .*\n)*?\s+sqsManagedSseEnabled: true/);
    assert.match(plan, /messageRetentionSeconds: 1209600/);
    assert.match(plan, /\+ aws:sqs\/queuePolicy:QueuePolicy {2}sp-api-lwa-secrets-policy/);
    assert.match(plan, /"AWS": "arn:aws:iam::437568002678:root"\n\s+\},\n\s+"Action": \[\n\s+"sqs:SendMessage",\n\s+"sqs:GetQueueAttributes"\n\s+\]/);
    assert.match(plan, /"aws:SecureTransport": "false"/);
    const arn = /lwaNotificationQueueArn: (arn:aws:sqs:\S+)/.exec(plan)?.[1];
    assert.ok(arn, "the queue ARN output");
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

  it("the command exits 1 with the program's message for a config it refuses, and prints no plan", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
    const file = path.join(dir, "Pulumi.bad.yaml");
    fs.writeFileSync(file, "config:\n  sp-api-iam:spApiRegion: jp\n");
    const result = spawnSync(process.execPath, ["-r", "./scripts/register.js", "scripts/plan.ts", "--config", file], { cwd: ROOT, encoding: "utf8" });
    fs.rmSync(dir, { recursive: true });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /sp-api-iam:spApiRegion: .*given "jp".*Allowed: one of na, eu, fe/);
    assert.equal(result.stdout, "");
  });
});
