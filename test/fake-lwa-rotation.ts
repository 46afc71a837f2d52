/**
 * A fake of what `npm run rotate-lwa` talks to, on 127.0.0.1 (one ephemeral port), for tests:
 * - LWA, POST /auth/o2/token: the client_credentials grant (checks the rotation scope; issues a grantless token)
 *   and the refresh_token grant (checks the refresh token and that the secret is one LWA holds valid now);
 * - the Application Management API, POST /applications/2023-11-30/clientSecret: takes only a grantless token,
 *   rotates (the old secret stays valid, as during Amazon's 7 days) and delivers the new-secret notification to
 *   the queue, at once or when the test says;
 * - SQS, the AWS JSON 1.0 protocol the installed @aws-sdk/client-sqs speaks (`x-amz-target: AmazonSQS.<Action>`):
 *   ReceiveMessage with WaitTimeSeconds (long polling) and VisibilityTimeout, DeleteMessage,
 *   ChangeMessageVisibility, SendMessage, with SQS's visibility semantics and MD5 of each body (the SDK checks it).
 * Every request is recorded; a peer that stalls can be switched on per service.
 */
import { LoopbackServer } from "./loopback";
import * as crypto from "crypto";
import * as http from "http";

export const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
export const OTHER_CLIENT_ID = "amzn1.application-oa2-client.fedcba9876543210fedcba9876543210";
export const OLD_SECRET = "amzn1.oa2-cs.v1.0ddba11c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123";
export const REFRESH_TOKEN = "Atzr|IwEBI/rEfReSh+ToKeN=xyz/AbC+123=456/789+DeF=GhI/JkL+MnO=PqR";
export const ROTATION_SCOPE = "sellingpartnerapi::client_credential:rotation";
export const ACCOUNT = "123456789012";
export const REGION = "eu-west-1";
export const QUEUE_NAME = "sp-api-lwa-secrets-5e1f0a2";
export const QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${QUEUE_NAME}`;
export const QUEUE_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:${QUEUE_NAME}`;
const DEFAULT_VISIBILITY_S = 60;

export interface QueuedMessage {
  id: string;
  body: string;
  visibleAt: number;
  receipt?: string;
  receiveCount: number;
  deleted: boolean;
  sentAt: number;
}

export interface SeenCall {
  service: "lwa" | "rotation" | "sqs";
  /** LWA: the grant type; rotation: the path; SQS: the action. */
  action: string;
  /** What the fake found wrong with the request (empty: well formed). */
  problems: string[];
  /** SQS: the request's parameters (never holding a secret: bodies sent to SQS are markers). */
  params?: Record<string, unknown>;
  at: number;
}

export interface NewSecretOptions {
  /** Field names as Amazon's older docs write them. */
  pascalCase?: boolean;
  clientId?: string;
  eventTime?: string;
}

export class FakeLwaRotation extends LoopbackServer {
  readonly calls: SeenCall[] = [];
  /** Called as a DeleteMessage arrives; what it returns is kept in that call's params as `observed` (a test's look at
   * the world at that instant, e.g. whether a file exists yet: the order of events without comparing clocks). */
  observeAtDelete?: () => unknown;
  /** While true, a DeleteMessage is recorded ("delete-held") and neither carried out nor answered: a run is stopped
   * right before its delete, whatever the machine's speed, and killed there by the test. */
  holdDeletes = false;
  readonly messages: QueuedMessage[] = [];
  /**
   * Secrets LWA accepts now: at most two, the current one and the previous during its grace. A rotation retires the
   * older of the two at once, as Amazon does: a second rotation kills the secret every job still uses.
   */
  readonly validSecrets = new Set<string>([OLD_SECRET]);
  /** Amazon's rate limit of the rotation call: one a minute (burst 1), scaled for tests by `rateScale`. */
  rateScale = 1;
  private lastRotationAt = -Infinity;
  /** SQS visibility timeouts (the queue's 60 s default, and any a client sets) times this: tests wait for a hold to end. */
  visibilityScale = 1;
  /** Secrets issued by rotations, newest last. */
  readonly issued: string[] = [];
  readonly grantlessTokens = new Set<string>();
  readonly accessTokens = new Set<string>();
  /** Answer of the rotation endpoint instead of rotating: a status and Amazon's error message. */
  rotationError?: { status: number; code: string; message: string };
  /** Deliver the new-secret message at once (default) or keep it for `deliverPending()`. */
  deliverNewSecret: "now" | "later" = "now";
  pending: string[] = [];
  newSecretFormat: NewSecretOptions = {};
  /** LWA refuses any refresh-token exchange with a secret issued by a rotation. */
  rejectNewSecrets = false;
  /**
   * An empty long poll ends after WaitTimeSeconds x this (1: as SQS does). The client cannot tell an early empty
   * answer from a late one; tests shorten the wait this way instead of through a knob in the command.
   */
  longPollScale = 1;
  /** Services that accept the connection and never answer. */
  stall = new Set<"lwa" | "rotation" | "sqs">();
  /** Services that answer 200 with something that is not their answer (a proxy's page, with a terminal escape). */
  garbage = new Set<"lwa" | "rotation" | "sqs">();
  /** Services that send headers, then a byte every 100 ms, forever. */
  trickle = new Set<"lwa" | "rotation" | "sqs">();
  private seq = 0;

  /** What a command needs to reach this fake for LWA, SP-API and SQS alike, with 5 s timeouts (margins, not measurements). */
  env(): NodeJS.ProcessEnv {
    return {
      SP_API_LWA_ENDPOINT: this.url,
      SP_API_ENDPOINT: this.url,
      AWS_ENDPOINT_URL_SQS: this.url,
      SP_API_AWS_TIMEOUT_MS: "5000",
      SP_API_ROTATE_LWA_TIMEOUT_MS: "5000",
    };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => this.route(req, body, res));
  }

  /** Puts a message in the queue, as Amazon (or anyone) would send it. */
  send(body: string): QueuedMessage {
    const message: QueuedMessage = { id: crypto.randomUUID(), body, visibleAt: 0, receiveCount: 0, deleted: false, sentAt: this.seq++ };
    this.messages.push(message);
    return message;
  }

  /** Ends every message's hold (its visibility timeout) now, as the passing of that time would: the tests' clock for the queue. */
  endHolds(): void {
    for (const m of this.messages) if (!m.deleted) m.visibleAt = 0;
  }

  /** Delivers the new-secret messages of rotations made with deliverNewSecret "later". */
  deliverPending(): void {
    for (const body of this.pending.splice(0)) this.send(body);
  }

  /** The messages still in the queue (not deleted). */
  live(): QueuedMessage[] {
    return this.messages.filter((m) => !m.deleted);
  }

  sqsCalls(action?: string): SeenCall[] {
    return this.calls.filter((c) => c.service === "sqs" && (action === undefined || c.action === action));
  }

  rotations(): SeenCall[] {
    return this.calls.filter((c) => c.service === "rotation");
  }

  newSecretBody(secret: string, opts: NewSecretOptions = {}, now = new Date()): string {
    const eventTime = opts.eventTime ?? now.toISOString();
    const newExpiry = new Date(Date.parse(eventTime) + 180 * 86_400_000).toISOString();
    const oldExpiry = new Date(Date.parse(eventTime) + 7 * 86_400_000).toISOString();
    const inner = { clientId: opts.clientId ?? CLIENT_ID, newClientSecret: secret, newClientSecretExpiryTime: newExpiry, oldClientSecretExpiryTime: oldExpiry };
    const message = {
      notificationVersion: "1.0",
      notificationType: "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
      payloadVersion: "2023-11-30",
      eventTime,
      payload: { applicationOAuthClientNewSecret: inner },
      notificationMetadata: { applicationId: "amzn1.sp.solution.0000", subscriptionId: "sub-1", publishTime: eventTime, notificationId: crypto.randomUUID() },
    };
    return JSON.stringify(opts.pascalCase ? pascal(message) : message);
  }

  expiryBody(expiryTime: string, opts: NewSecretOptions = {}, now = new Date()): string {
    const eventTime = opts.eventTime ?? now.toISOString();
    const message = {
      notificationVersion: "1.0",
      notificationType: "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY",
      payloadVersion: "2023-11-30",
      eventTime,
      payload: {
        applicationOAuthClientSecretExpiry: {
          clientId: opts.clientId ?? CLIENT_ID,
          clientSecretExpiryTime: expiryTime,
          clientSecretExpiryReason: "PERIODIC_ROTATION",
        },
      },
      notificationMetadata: { applicationId: "amzn1.sp.solution.0000", subscriptionId: "sub-2", publishTime: eventTime, notificationId: crypto.randomUUID() },
    };
    return JSON.stringify(opts.pascalCase ? pascal(message) : message);
  }

  /** Makes a rotation as Amazon would: a new secret, valid at once, delivered to the queue. */
  rotate(): string {
    const secret = `amzn1.oa2-cs.v1.${crypto.randomBytes(32).toString("hex")}`;
    this.issued.push(secret);
    this.validSecrets.add(secret);
    while (this.validSecrets.size > 2) this.validSecrets.delete(this.validSecrets.values().next().value!);
    const body = this.newSecretBody(secret, this.newSecretFormat);
    if (this.deliverNewSecret === "now") this.send(body);
    else this.pending.push(body);
    return secret;
  }

  private record(call: Omit<SeenCall, "at">): SeenCall {
    const seen = { ...call, at: Date.now() };
    this.calls.push(seen);
    return seen;
  }

  private route(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const service = path === "/auth/o2/token" ? "lwa" : path?.startsWith("/applications/") ? "rotation" : "sqs";
    if (this.stall.has(service)) {
      this.record({ service, action: "stalled", problems: [] });
      return; // never answer: the client's timeout must end it
    }
    const type = service === "sqs" ? "application/x-amz-json-1.0" : "application/json";
    if (this.garbage.has(service)) {
      this.record({ service, action: "garbage", problems: [] });
      res.writeHead(200, { "content-type": type });
      res.end("<html><body>\x1b[2J502 Bad Gateway from a proxy</body></html>");
      return;
    }
    if (this.trickle.has(service)) {
      this.record({ service, action: "trickle", problems: [] });
      res.writeHead(200, { "content-type": type });
      const timer = setInterval(() => res.write(" "), 100);
      res.on("close", () => clearInterval(timer));
      return;
    }
    if (service === "lwa") return this.lwa(req, body, res);
    if (service === "rotation") return this.rotation(req, path!, res);
    return this.sqs(req, body, res);
  }

  private json(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    const text = value === undefined ? "" : JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(text);
  }

  private lwa(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const form = Object.fromEntries(new URLSearchParams(body));
    const problems: string[] = [];
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (!(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) problems.push("not form-encoded");
    const grant = form.grant_type ?? "";
    this.record({ service: "lwa", action: grant, problems });
    if (problems.length > 0) return this.json(res, 400, { error: "invalid_request", error_description: problems.join("; ") });
    if (form.client_id !== CLIENT_ID || !this.validSecrets.has(form.client_secret ?? "")) {
      return this.json(res, 401, { error: "invalid_client", error_description: "Client authentication failed" });
    }
    if (grant === "client_credentials") {
      if (form.scope !== ROTATION_SCOPE) return this.json(res, 400, { error: "invalid_scope", error_description: "An unknown scope was requested" });
      const token = `Atza|grantless-${crypto.randomBytes(12).toString("hex")}`;
      this.grantlessTokens.add(token);
      return this.json(res, 200, { access_token: token, token_type: "bearer", expires_in: 3600 });
    }
    if (grant === "refresh_token") {
      if (form.refresh_token !== REFRESH_TOKEN)
        return this.json(res, 400, { error: "invalid_grant", error_description: "The request has an invalid grant parameter" });
      if (this.rejectNewSecrets && this.issued.includes(form.client_secret ?? "")) {
        return this.json(res, 401, { error: "invalid_client", error_description: "Client authentication failed" });
      }
      const token = `Atza|access-${crypto.randomBytes(12).toString("hex")}`;
      this.accessTokens.add(token);
      return this.json(res, 200, { access_token: token, refresh_token: REFRESH_TOKEN, token_type: "bearer", expires_in: 3600 });
    }
    return this.json(res, 400, { error: "unsupported_grant_type" });
  }

  private rotation(req: http.IncomingMessage, path: string, res: http.ServerResponse): void {
    const problems: string[] = [];
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (path !== "/applications/2023-11-30/clientSecret") problems.push(`path ${path}`);
    const token = req.headers["x-amz-access-token"];
    const grantless = typeof token === "string" && this.grantlessTokens.has(token);
    if (!grantless) problems.push(this.accessTokens.has(String(token)) ? "a seller's access token, not a grantless one" : "no valid token");
    this.record({ service: "rotation", action: path, problems });
    if (!grantless) return this.json(res, 403, { errors: [{ code: "Unauthorized", message: "Access to requested resource is denied.", details: "" }] });
    if (problems.length > 0) return this.json(res, 404, { errors: [{ code: "NotFound", message: problems.join("; ") }] });
    if (this.rotationError) {
      const { status, code, message } = this.rotationError;
      return this.json(res, status, { errors: [{ code, message, details: "" }] });
    }
    if (Date.now() - this.lastRotationAt < 60_000 * this.rateScale) {
      return this.json(res, 429, { errors: [{ code: "QuotaExceeded", message: "You exceeded your quota for the requested resource.", details: "" }] });
    }
    this.lastRotationAt = Date.now();
    this.rotate();
    res.writeHead(204);
    res.end();
  }

  private sqsError(res: http.ServerResponse, code: string, message: string): void {
    this.json(
      res,
      400,
      { __type: `com.amazonaws.sqs#${code}`, message },
      { "content-type": "application/x-amz-json-1.0", "x-amzn-query-error": `${code};Sender` },
    );
  }

  private sqs(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const target = String(req.headers["x-amz-target"] ?? "");
    const action = target.startsWith("AmazonSQS.") ? target.slice("AmazonSQS.".length) : target;
    const problems: string[] = [];
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (!String(req.headers["content-type"] ?? "").startsWith("application/x-amz-json-1.0")) problems.push("not AWS JSON 1.0");
    const auth = String(req.headers.authorization ?? "");
    if (!auth.startsWith("AWS4-HMAC-SHA256 ") || !auth.includes(`/${REGION}/sqs/aws4_request`)) problems.push(`not signed for sqs in ${REGION}`);
    let params: Record<string, any> = {};
    try {
      params = JSON.parse(body || "{}");
    } catch {
      problems.push("body is not JSON");
    }
    if (params.QueueUrl !== QUEUE_URL) problems.push(`QueueUrl ${params.QueueUrl}`);
    const call = this.record({ service: "sqs", action, problems, params: { ...params } });
    if (problems.length > 0) return this.sqsError(res, "InvalidParameterValue", problems.join("; "));
    const ok = (value: unknown) => this.json(res, 200, value, { "content-type": "application/x-amz-json-1.0" });
    const byReceipt = (handle: unknown) => this.messages.find((m) => !m.deleted && m.receipt !== undefined && m.receipt === handle);

    switch (action) {
      case "ReceiveMessage": {
        const max = Math.min(10, Math.max(1, Number(params.MaxNumberOfMessages ?? 1)));
        const waitMs = Math.min(20, Number(params.WaitTimeSeconds ?? 0)) * 1000 * this.longPollScale;
        const visibilityS = Number(params.VisibilityTimeout ?? DEFAULT_VISIBILITY_S) * this.visibilityScale;
        const deadline = Date.now() + waitMs;
        const attempt = () => {
          const now = Date.now();
          const visible = this.messages.filter((m) => !m.deleted && m.visibleAt <= now).slice(0, max);
          if (visible.length === 0 && now < deadline && !res.destroyed) {
            setTimeout(attempt, 25);
            return;
          }
          for (const m of visible) {
            m.receipt = `rh-${crypto.randomBytes(8).toString("hex")}`;
            m.visibleAt = now + visibilityS * 1000;
            m.receiveCount++;
          }
          call.params!.returned = visible.map((m) => m.id);
          ok({
            Messages: visible.map((m) => ({
              MessageId: m.id,
              ReceiptHandle: m.receipt,
              MD5OfBody: crypto.createHash("md5").update(m.body, "utf8").digest("hex"),
              Body: m.body,
              Attributes: { ApproximateReceiveCount: String(m.receiveCount) },
            })),
          });
        };
        return attempt();
      }
      case "DeleteMessage": {
        if (this.holdDeletes) {
          call.action = "delete-held";
          return;
        }
        const m = byReceipt(params.ReceiptHandle);
        if (!m) return this.sqsError(res, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.");
        m.deleted = true;
        call.params!.messageId = m.id;
        if (this.observeAtDelete) call.params!.observed = this.observeAtDelete();
        return ok({});
      }
      case "ChangeMessageVisibility": {
        const m = byReceipt(params.ReceiptHandle);
        if (!m) return this.sqsError(res, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.");
        if (m.visibleAt <= Date.now()) return this.sqsError(res, "MessageNotInflight", "The message referred to is not in flight.");
        m.visibleAt = Date.now() + Number(params.VisibilityTimeout) * 1000 * this.visibilityScale;
        call.params!.messageId = m.id;
        return ok({});
      }
      case "SendMessage": {
        const m = this.send(String(params.MessageBody ?? ""));
        return ok({ MessageId: m.id, MD5OfMessageBody: crypto.createHash("md5").update(m.body, "utf8").digest("hex") });
      }
      default:
        return this.sqsError(res, "UnsupportedOperation", `fake SQS does not implement ${action}`);
    }
  }
}

/** The same object with every key's first letter upper-cased, at every depth (Amazon's older docs' field names). */
export function pascal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pascal);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1), pascal(v)]));
}
