/**
 * The notification queue, through @aws-sdk/client-sqs with the operator's credentials (lib/aws.ts). Each call is
 * bounded: the SDK's timeouts for connecting and for a silent socket, and an abort signal for the whole call that
 * leaves room for the long poll's own wait. SQS errors leave here as QueueError: the error's code and what it means,
 * never the SDK's message (which may quote a request).
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { awsClientConfig } from "../../lib/net";
import type { StackConfigView } from "../../lib/pulumi";

/** SQS's longest long poll. */
export const MAX_POLL_SECONDS = 20;

export interface Received {
  id: string;
  receipt: string;
  body: string;
}

export class QueueError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "QueueError";
  }
}

function codeOf(error: unknown): { code: string; answered: boolean } {
  const e = (error ?? {}) as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const answered = e.$metadata?.httpStatusCode !== undefined;
  const code = e.Code ?? e.name ?? e.code ?? "UnknownError";
  return { code: /^[\w.-]{1,64}$/.test(code) ? code : "UnknownError", answered };
}

export class NotificationQueue {
  private readonly client: SQSClient;
  private readonly timeoutMs: number;

  constructor(
    readonly url: string,
    readonly arn: string,
    region: string,
    view: StackConfigView,
    env: NodeJS.ProcessEnv,
  ) {
    const settings = awsClientConfig(view, env, { service: "SQS", region });
    this.timeoutMs = settings.requestHandler.requestTimeout;
    this.client = new SQSClient({
      ...settings,
      // A long poll keeps the socket silent for up to 20 s: the idle bound must outlast it. The whole call is
      // bounded by the abort signal in `call`.
      requestHandler: { ...settings.requestHandler, requestTimeout: this.timeoutMs + MAX_POLL_SECONDS * 1000 },
      // The queue's region is the client's; the URL must not redirect the client elsewhere (AWS_ENDPOINT_URL_SQS wins).
      useQueueUrlAsEndpoint: false,
    });
  }

  private async call<T>(what: string, waitSeconds: number, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.timeoutMs + waitSeconds * 1000);
    try {
      return await send(signal);
    } catch (error) {
      // Cut off by our own bound (a stalled or trickling answer), whatever the SDK made of the half-read body.
      const { code, answered } = signal.aborted ? { code: "TimeoutError", answered: false } : codeOf(error);
      throw new QueueError(code, `${what} ${this.arn} failed: ${explain(code, answered, what)}`);
    }
  }

  /** Up to 10 messages; waits up to `waitSeconds` (long polling) for the first. Each comes hidden from others. */
  async receive(waitSeconds: number): Promise<Received[]> {
    const wait = Math.max(0, Math.min(MAX_POLL_SECONDS, Math.ceil(waitSeconds)));
    const out = await this.call("reading the queue", wait, (abortSignal) =>
      this.client.send(new ReceiveMessageCommand({ QueueUrl: this.url, MaxNumberOfMessages: 10, WaitTimeSeconds: wait }), { abortSignal }),
    );
    return (out.Messages ?? []).filter((m) => m.MessageId && m.ReceiptHandle).map((m) => ({ id: m.MessageId!, receipt: m.ReceiptHandle!, body: m.Body ?? "" }));
  }

  /** Hides a received message for `seconds` from now; 0 makes it visible again at once. */
  async setVisibility(message: Received, seconds: number): Promise<void> {
    await this.call("changing a message's visibility in", 0, (abortSignal) =>
      this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.url, ReceiptHandle: message.receipt, VisibilityTimeout: seconds }), { abortSignal }),
    );
  }

  async delete(message: Received): Promise<void> {
    await this.call("deleting a message from", 0, (abortSignal) =>
      this.client.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: message.receipt }), { abortSignal }),
    );
  }

  close(): void {
    this.client.destroy();
  }
}

function explain(code: string, answered: boolean, what: string): string {
  if (!answered) {
    if (/Credential|ExpiredToken|SSO/i.test(code)) {
      return `${code}: no usable AWS credentials. Fix: npm run pulumi -- config set aws:profile <profile> (as for pulumi up), or export AWS_PROFILE / AWS_ACCESS_KEY_ID.`;
    }
    return `${code}: SQS did not answer. Fix: check the network and any proxy; if AWS_ENDPOINT_URL_SQS is set, check it or unset it.`;
  }
  if (/AccessDenied|NotAuthorized|UnauthorizedOperation/i.test(code)) {
    return `${code}: your AWS credentials may not do this. Fix: grant sqs:ReceiveMessage, sqs:DeleteMessage, and sqs:ChangeMessageVisibility on the queue (docs/lwa-rotation.md).`;
  }
  if (/NonExistentQueue|QueueDoesNotExist/i.test(code)) return `${code}: the queue does not exist. Fix: npm run up -- <stack> creates it again.`;
  if (/InvalidClientTokenId|SignatureDoesNotMatch|ExpiredToken/i.test(code))
    return `${code}: AWS refused your credentials. Fix: refresh them (aws sso login, new keys).`;
  if (/ReceiptHandleIsInvalid|MessageNotInflight/i.test(code)) return `${code}: the message was already taken or made visible again by another reader.`;
  return `${code} (${what}).`;
}
