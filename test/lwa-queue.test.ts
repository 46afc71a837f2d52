/**
 * The queue Amazon delivers a rotated LWA client secret to (config lwaRotation): its policy document exactly,
 * what the document means through the IAM evaluator, and the queue and its policy in the program under mocks.
 *
 * The setting for the evaluator (customer account A = 123456789012):
 *   queue Q   arn:aws:sqs:eu-west-1:123456789012:sp-api-lwa-secrets-abc1234, resource policy lwaNotificationQueuePolicy(Q)
 *   Amazon    arn:aws:iam::437568002678:root, the account SP-API notifications come from (no identity policy of ours)
 *   user U    the connector's user, with its real identity policy (the group's assumeRolePolicy)
 *   session   the connector's role session, with its real identity policy (sellingPartnerApiInvokePolicy)
 */
import assert from "node:assert/strict";
import type { EvaluationResult } from "@cloud-copilot/iam-simulate";
import { assumeRolePolicy, sellingPartnerApiInvokePolicy } from "../policies/documents";
import { AMAZON_NOTIFICATION_PRINCIPAL, lwaNotificationQueuePolicy, toQueuePolicyJson } from "../policies/queue";
import { COMPONENT_TYPE, LWA_QUEUE_RETENTION_SECONDS, LWA_QUEUE_VISIBILITY_SECONDS, SellingPartnerApiAccess } from "../src/component";
import { deniedBy, evaluate, grantedBy, type IamPolicy, type SimulatedRequest } from "./iam-simulator";
import { isSecret, runOffline, value } from "./offline-run";

const ACCOUNT = "123456789012";
const QUEUE = `arn:aws:sqs:eu-west-1:${ACCOUNT}:sp-api-lwa-secrets-abc1234`;
const OTHER_QUEUE = `arn:aws:sqs:eu-west-1:${ACCOUNT}:orders`;
/**
 * A sender inside Amazon's notification account. Its own account's policies are not ours to test: it is modelled as
 * holding sqs:* everywhere, so each cross-account verdict below turns on the queue policy alone.
 */
const AMAZON = "arn:aws:iam::437568002678:role/sp-api-notifications";
const USER = `arn:aws:iam::${ACCOUNT}:user/sp-api-connector`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/SellingPartnerAPI`;
const ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/SellingPartnerAPI/sess`;
const OPERATOR = `arn:aws:iam::${ACCOUNT}:user/operator`;
const FOREIGN = "arn:aws:iam::999999999999:root";
const TLS = { "aws:SecureTransport": "true" };
const NO_TLS = { "aws:SecureTransport": "false" };
/** The operator's own grant (what rotate-lwa runs with): identity policies of the account reach its queues. */
const OPERATOR_SQS: IamPolicy = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"], Resource: QUEUE }],
};
/** Something another account might hold: every SQS action everywhere. */
const SQS_EVERYTHING: IamPolicy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sqs:*", Resource: "*" }] };

describe("LWA notification queue policy: exact content", () => {
  it("Amazon's account may send and read attributes on this queue; no TLS, no request", () => {
    assert.deepEqual(lwaNotificationQueuePolicy(QUEUE), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "AmazonDeliversLwaSecretNotifications",
          Effect: "Allow",
          Principal: { AWS: "arn:aws:iam::437568002678:root" },
          Action: ["sqs:SendMessage", "sqs:GetQueueAttributes"],
          Resource: QUEUE,
        },
        {
          Sid: "DenyWithoutTls",
          Effect: "Deny",
          Principal: "*",
          Action: "sqs:*",
          Resource: QUEUE,
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ],
    });
    assert.equal(AMAZON_NOTIFICATION_PRINCIPAL, "arn:aws:iam::437568002678:root");
  });

  it("refuses anything but an SQS queue ARN", () => {
    for (const bad of ["*", `arn:aws:sqs:eu-west-1:${ACCOUNT}:*`, ROLE, `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/q`]) {
      assert.throws(() => lwaNotificationQueuePolicy(bad), /expected an SQS queue ARN/, bad);
    }
  });

  it("serialises stably", () => {
    const json = toQueuePolicyJson(lwaNotificationQueuePolicy(QUEUE));
    assert.deepEqual(JSON.parse(json), lwaNotificationQueuePolicy(QUEUE));
    assert.equal(toQueuePolicyJson(JSON.parse(json)), json);
  });
});

interface Case {
  title: string;
  request: SimulatedRequest;
  expect: EvaluationResult;
  deniedBy?: string[];
  grantedBy?: string[];
}

function onQueue(principal: string, action: string, extra: Partial<SimulatedRequest> = {}): SimulatedRequest {
  return {
    principal,
    action,
    resource: QUEUE,
    resourceAccount: ACCOUNT,
    resourcePolicy: lwaNotificationQueuePolicy(QUEUE),
    contextVariables: TLS,
    ...(principal === AMAZON ? { identityPolicies: { "amazon-side": SQS_EVERYTHING } } : {}),
    ...extra,
  };
}

describe("LWA notification queue policy: meaning, through the IAM evaluator", () => {
  const cases: Case[] = [
    { title: "Amazon's account may SendMessage", request: onQueue(AMAZON, "sqs:SendMessage"), expect: "Allowed", grantedBy: ["resource"] },
    {
      title: "Amazon's account may GetQueueAttributes",
      request: onQueue(AMAZON, "sqs:GetQueueAttributes"),
      expect: "Allowed",
      grantedBy: ["resource"],
    },
    ...["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SetQueueAttributes", "sqs:PurgeQueue"].map((action): Case => ({
      title: `Amazon's account may not ${action}`,
      request: onQueue(AMAZON, action),
      expect: "ImplicitlyDenied",
      deniedBy: ["resource"],
    })),
    {
      title: "Amazon's account may not send to another queue of the account",
      request: { ...onQueue(AMAZON, "sqs:SendMessage"), resource: OTHER_QUEUE },
      expect: "ImplicitlyDenied",
      deniedBy: ["resource"],
    },
    {
      title: "another account, even holding sqs:* everywhere, may not SendMessage",
      request: onQueue(FOREIGN, "sqs:SendMessage", { identityPolicies: { everything: SQS_EVERYTHING } }),
      expect: "ImplicitlyDenied",
      deniedBy: ["resource"],
    },
    {
      title: "Amazon's account is denied without TLS",
      request: onQueue(AMAZON, "sqs:SendMessage", { contextVariables: NO_TLS }),
      expect: "ExplicitlyDenied",
      deniedBy: ["resource"],
    },
    {
      title: "the operator (same account, own grant) may ReceiveMessage over TLS: rotate-lwa's own access",
      request: onQueue(OPERATOR, "sqs:ReceiveMessage", { identityPolicies: { operator: OPERATOR_SQS } }),
      expect: "Allowed",
      grantedBy: ["identity:operator"],
    },
    {
      title: "the operator is denied without TLS, whatever its own grant",
      request: onQueue(OPERATOR, "sqs:ReceiveMessage", { identityPolicies: { operator: OPERATOR_SQS }, contextVariables: NO_TLS }),
      expect: "ExplicitlyDenied",
      deniedBy: ["resource"],
    },
  ];
  for (const action of ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "sqs:GetQueueAttributes"]) {
    cases.push({
      title: `the connector's user, with its real identity policy, may not ${action}`,
      request: onQueue(USER, action, { identityPolicies: { "group-assume-role": assumeRolePolicy(ROLE) } }),
      expect: "ImplicitlyDenied",
    });
    cases.push({
      title: `the connector's role session, with its real identity policy, may not ${action}`,
      request: onQueue(ROLE_SESSION, action, { identityPolicies: { "role-invoke": sellingPartnerApiInvokePolicy(["na", "eu", "fe"]) } }),
      expect: "ImplicitlyDenied",
    });
  }

  for (const c of cases) {
    it(c.title, async () => {
      const evaluation = await evaluate(c.request);
      const why = `${c.title}: got ${evaluation.result}, denied by [${deniedBy(evaluation)}], granted by [${grantedBy(evaluation)}]`;
      assert.equal(evaluation.result, c.expect, why);
      if (c.deniedBy) assert.deepEqual(deniedBy(evaluation), c.deniedBy, why);
      for (const grant of c.grantedBy ?? []) assert.ok(grantedBy(evaluation).includes(grant), `${why}; expected grant ${grant}`);
    });
  }

  it("contrast: without the TLS statement, a plain-HTTP send by Amazon would be allowed (the deny is what stops it)", async () => {
    const allowOnly = { ...lwaNotificationQueuePolicy(QUEUE), Statement: lwaNotificationQueuePolicy(QUEUE).Statement.slice(0, 1) };
    const evaluation = await evaluate(onQueue(AMAZON, "sqs:SendMessage", { resourcePolicy: allowOnly, contextVariables: NO_TLS }));
    assert.equal(evaluation.result, "Allowed");
  });
});

describe("program under mocks: lwaRotation", () => {
  it("off (the default): no queue, no queue policy, no queue outputs", async () => {
    const run = await runOffline({});
    assert.equal(run.error, undefined, run.error?.message);
    assert.ok(!run.cloud.resources.some((r) => r.type.startsWith("aws:sqs/")));
    assert.ok(!("lwaNotificationQueueArn" in run.outputs!) && !("lwaNotificationQueueUrl" in run.outputs!));
  });

  it("on: a standard SSE-SQS queue, 14 days' retention, 60 s visibility, tagged, and its policy for that queue's ARN", async () => {
    const run = await runOffline({ lwaRotation: "true", tags: '{"customer":"acme"}' });
    assert.equal(run.error, undefined, run.error?.message);
    const queues = run.cloud.resources.filter((r) => r.type === "aws:sqs/queue:Queue");
    const policies = run.cloud.resources.filter((r) => r.type === "aws:sqs/queuePolicy:QueuePolicy");
    assert.equal(queues.length, 1);
    assert.equal(policies.length, 1);
    const queue = queues[0]!;
    assert.equal(queue.name, "sp-api-lwa-secrets");
    assert.equal(queue.inputs.sqsManagedSseEnabled, true);
    assert.equal(queue.inputs.kmsMasterKeyId, undefined, "SSE-SQS, not a KMS key Amazon would need a grant on");
    assert.equal(queue.inputs.fifoQueue, undefined, "a standard queue: Amazon delivers to standard queues only");
    assert.equal(queue.inputs.messageRetentionSeconds, LWA_QUEUE_RETENTION_SECONDS);
    assert.equal(LWA_QUEUE_RETENTION_SECONDS, 1209600);
    assert.ok(LWA_QUEUE_RETENTION_SECONDS >= 7 * 24 * 3600, "outlives the 7 days the old secret keeps working");
    assert.equal(queue.inputs.visibilityTimeoutSeconds, LWA_QUEUE_VISIBILITY_SECONDS);
    assert.deepEqual(queue.inputs.tags, { customer: "acme" });

    const arn = await value(run.outputs!.lwaNotificationQueueArn);
    const url = await value(run.outputs!.lwaNotificationQueueUrl);
    assert.match(arn, /^arn:aws:sqs:[a-z0-9-]+:123456789012:sp-api-lwa-secrets-/);
    assert.equal(url.split("/").pop(), arn.split(":").pop());
    assert.equal(await isSecret(run.outputs!.lwaNotificationQueueArn), false);
    assert.equal(await isSecret(run.outputs!.lwaNotificationQueueUrl), false);
    assert.equal(policies[0]!.inputs.queueUrl, url);
    assert.deepEqual(JSON.parse(policies[0]!.inputs.policy), lwaNotificationQueuePolicy(arn));
  });

  it("on: the connector's user and role get nothing new (their documents are the same as without the queue)", async () => {
    const docs = (run: Awaited<ReturnType<typeof runOffline>>) =>
      run.cloud.resources
        .filter((r) => r.type.startsWith("aws:iam/"))
        .map((r) => `${r.type} ${r.name} ${JSON.stringify(r.inputs)}`)
        .sort();
    const [off, on] = [await runOffline({}), await runOffline({ lwaRotation: "true" })];
    assert.deepEqual(docs(on), docs(off));
    assert.ok(!docs(on).join("\n").includes("sqs:"));
  });

  it("parents the queue and its policy to the component", async () => {
    const probe = new SellingPartnerApiAccess("probe-q", { spApiRegion: "na", lwaRotation: true });
    for (const child of [probe.lwaNotificationQueue!, probe.lwaNotificationQueuePolicy!]) {
      const urn = await value(child.urn);
      assert.match(urn, new RegExp(`::${COMPONENT_TYPE.replace(/[$]/g, "\\$")}\\$aws:sqs/`), urn);
    }
  });

  it("refuses a lwaRotation that is not a boolean, naming the key", async () => {
    const run = await runOffline({ lwaRotation: "yes" });
    assert.match(run.error?.message ?? "", /sp-api-iam:lwaRotation: .*given "yes"/);
    assert.ok(!run.cloud.resources.some((r) => r.type.startsWith("aws:sqs/")));
  });
});
