/**
 * The policy of the SQS queue Amazon delivers a rotated LWA client secret to (config `lwaRotation`), as a pure
 * function of the queue's ARN. What Amazon's side needs is documented by Amazon: its notification account may
 * send to the queue and read its attributes. Nobody else is named: the operator reaches the queue through
 * their own identity policies (same account), and the connector's user and role have none that cover it.
 */

/** The AWS account SP-API sends notifications from (Amazon's docs: "set up credential rotation notifications"). */
export const AMAZON_NOTIFICATION_ACCOUNT = "437568002678";
export const AMAZON_NOTIFICATION_PRINCIPAL = `arn:aws:iam::${AMAZON_NOTIFICATION_ACCOUNT}:root`;

const SQS_QUEUE_ARN = /^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[\w-]{1,80}$/;

export interface QueuePolicyStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Principal: { AWS: string } | "*";
  Action: string | string[];
  Resource: string;
  Condition?: Record<string, Record<string, string>>;
}

export interface QueuePolicyDocument {
  Version: "2012-10-17";
  Statement: QueuePolicyStatement[];
}

/**
 * Amazon's notification account may SendMessage and GetQueueAttributes (it checks the queue when the destination
 * is registered) on this queue only; every request without TLS is denied, whoever makes it.
 */
export function lwaNotificationQueuePolicy(queueArn: string): QueuePolicyDocument {
  if (!SQS_QUEUE_ARN.test(queueArn)) throw new Error(`lwaNotificationQueuePolicy: expected an SQS queue ARN, got ${queueArn}`);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AmazonDeliversLwaSecretNotifications",
        Effect: "Allow",
        Principal: { AWS: AMAZON_NOTIFICATION_PRINCIPAL },
        Action: ["sqs:SendMessage", "sqs:GetQueueAttributes"],
        Resource: queueArn,
      },
      {
        // The queue carries a live client secret: nothing may read or write it over plain HTTP.
        Sid: "DenyWithoutTls",
        Effect: "Deny",
        Principal: "*",
        Action: "sqs:*",
        Resource: queueArn,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

/** The JSON SQS takes, in a stable form (so a re-run diffs clean). */
export function toQueuePolicyJson(document: QueuePolicyDocument): string {
  return JSON.stringify(document);
}
