/**
 * The decisions of `npm run rotate-lwa`, pure: what a queue message is and what to do with it, whether the secret
 * is due, which expiry to believe, and what each answer from Amazon means for the operator. The clock and every
 * piece of evidence come in as arguments; run.ts does the effects.
 */
import * as path from "node:path";
import { ConfigError, LWA_CLIENT_SECRET, LWA_LEGACY_CLIENT_SECRET, StackConfig, validateConfig } from "../../src/config";
import { isPlaceholder } from "../../src/credentials";
import {
  addDays,
  CLOCK_SKEW_MS,
  type Expiry,
  isoTime,
  isPreviousSecretsExpiry,
  LWA_SECRET_LIFETIME_DAYS,
  OLD_SECRET_GRACE_DAYS,
  PREVIOUS_SECRET_WINDOW_DAYS,
  rotationLeadDays,
} from "../../src/lifecycle";

// The LWA secret's lifecycle rules (which expiry to believe, an unanswered request, how early to rotate) live with
// the program's in src/lifecycle.ts, which status reads too.
import { endpointOf } from "../../policies/regions";

export const NEW_SECRET = "APPLICATION_OAUTH_CLIENT_NEW_SECRET";
export const SECRET_EXPIRY = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY";
/** Written by rotate-lwa itself into the queue after Amazon accepted a rotation (no secret in it). */
export const ROTATION_REQUESTED = "SP_API_IAM_LWA_ROTATION_REQUESTED";
export const ROTATION_SCOPE = "sellingpartnerapi::client_credential:rotation";
export const ROTATION_PATH = "/applications/2023-11-30/clientSecret";
/** The old secret keeps working this long after a rotation (Amazon's docs). */
/**
 * A rotation requested this recently, whose new secret has not arrived, is waited for rather than requested again:
 * a second rotation would end the first new secret's life before any job has it.
 */
export const PENDING_ROTATION_HOURS = 24;

const DAY_MS = 24 * 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------------------------

export type Notification =
  | {
      kind: "new-secret";
      clientId: string;
      newClientSecret: string;
      newClientSecretExpiryTime?: string;
      oldClientSecretExpiryTime?: string;
      eventTime?: string;
      /** notificationMetadata.publishTime, else eventTime: when Amazon sent it, the time it is matched by. */
      sentAt?: string;
    }
  | { kind: "expiry"; clientId: string; clientSecretExpiryTime: string; reason?: string; eventTime?: string }
  | { kind: "rotation-requested"; clientId: string; requestedAt: string }
  | { kind: "other"; type: string }
  | { kind: "unreadable" };

/** A field by name whatever its case: Amazon's samples write camelCase, its older docs PascalCase. */
function field(object: unknown, name: string): unknown {
  if (typeof object !== "object" || object === null || Array.isArray(object)) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(object)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

const text = (value: unknown): string | undefined => (typeof value === "string" && value.length > 0 ? value : undefined);

/** What a message body says. Never throws; the body itself is never part of the result's text. */
export function parseNotification(body: string): Notification {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { kind: "unreadable" };
  }
  const type = text(field(json, "notificationType"));
  const payload = field(json, "payload");
  const eventTime = isoTime(field(json, "eventTime"));
  const sentAt = isoTime(field(field(json, "notificationMetadata"), "publishTime")) ?? eventTime;
  if (type === NEW_SECRET) {
    const inner = field(payload, "applicationOAuthClientNewSecret");
    const clientId = text(field(inner, "clientId"));
    const newClientSecret = text(field(inner, "newClientSecret"));
    if (!clientId || !newClientSecret) return { kind: "unreadable" };
    return {
      kind: "new-secret",
      clientId,
      newClientSecret,
      newClientSecretExpiryTime: isoTime(field(inner, "newClientSecretExpiryTime")),
      oldClientSecretExpiryTime: isoTime(field(inner, "oldClientSecretExpiryTime")),
      eventTime,
      sentAt,
    };
  }
  if (type === SECRET_EXPIRY) {
    const inner = field(payload, "applicationOAuthClientSecretExpiry");
    const clientId = text(field(inner, "clientId"));
    const clientSecretExpiryTime = isoTime(field(inner, "clientSecretExpiryTime"));
    if (!clientId || !clientSecretExpiryTime) return { kind: "unreadable" };
    return { kind: "expiry", clientId, clientSecretExpiryTime, reason: text(field(inner, "clientSecretExpiryReason")), eventTime };
  }
  if (type === ROTATION_REQUESTED) {
    const clientId = text(field(json, "clientId"));
    const requestedAt = isoTime(field(json, "requestedAt"));
    if (!clientId || !requestedAt) return { kind: "unreadable" };
    return { kind: "rotation-requested", clientId, requestedAt };
  }
  return type ? { kind: "other", type } : { kind: "unreadable" };
}

/** The body rotate-lwa leaves in the queue after Amazon accepted its request. */
export function rotationRequestedBody(clientId: string, requestedAt: Date): string {
  return JSON.stringify({ notificationType: ROTATION_REQUESTED, clientId, requestedAt: requestedAt.toISOString() });
}

export type Disposition =
  /** This app's new secret, newer than the stored one (or the stored one itself, left by a run that was cut short). */
  | { action: "complete" }
  /** Amazon's expiry time of this app's current secret: record it. */
  | { action: "record-expiry" }
  /** A queue note of a rotation request left by an older version of this command: the config record replaces it. */
  | { action: "pending" }
  /** This app's, but about a secret older than the one stored: deleted, never stored. */
  | { action: "discard"; reason: string }
  /**
   * This app's new secret, not after the stored one (a late message of an earlier API request, after a secret stored
   * by hand): never stored, never discarded: kept in lwaRotationSetAsideSecret until an operator clears it.
   */
  | { action: "set-aside"; reason: string }
  /** Not this app's, or not ours to read: visible again at once, for whoever it is for. */
  | { action: "release"; reason: string };

const utcDay = (iso: string) => iso.slice(0, 10);

export interface StoredSecret {
  /** The stored secret's value: a message carrying it is this rotation's own, met again after a cut-short run. */
  value?: string;
  /** lwaClientSecretIssuedAt: when Amazon sent the stored secret. */
  issuedAt?: string;
  /** lwaClientSecretIssuedOn: the day it was issued (the only record before lwaClientSecretIssuedAt existed). */
  issuedOn?: string;
}

/**
 * What to do with one message. A new secret is matched by time, never by calendar day: one sent no later than the
 * stored secret was sent is an older secret (it would roll the stack back to a secret that dies within 7 days) and
 * is discarded; the stored secret itself is finished (up, block, delete), not discarded.
 */
export function dispose(n: Notification, ctx: { clientId: string } & StoredSecret): Disposition {
  switch (n.kind) {
    case "unreadable":
      return { action: "release", reason: "not a notification this command reads" };
    case "other":
      return { action: "release", reason: `a notification of another type (${n.type.slice(0, 80)})` };
    case "rotation-requested":
      if (n.clientId !== ctx.clientId) return { action: "release", reason: "another app's rotation request" };
      if (ctx.issuedAt && Date.parse(n.requestedAt) <= Date.parse(ctx.issuedAt) + CLOCK_SKEW_MS) {
        return { action: "discard", reason: `noting a rotation requested ${n.requestedAt}, answered since (lwaClientSecretIssuedAt ${ctx.issuedAt})` };
      }
      if (!ctx.issuedAt && ctx.issuedOn && utcDay(n.requestedAt) <= ctx.issuedOn) {
        return { action: "discard", reason: `noting a rotation requested ${utcDay(n.requestedAt)}, finished since (lwaClientSecretIssuedOn ${ctx.issuedOn})` };
      }
      return { action: "pending" };
    case "new-secret": {
      if (n.clientId !== ctx.clientId) return { action: "release", reason: "for another client id" };
      if (ctx.value !== undefined && n.newClientSecret === ctx.value) return { action: "complete" };
      return olderNewSecret(n, ctx) ?? { action: "complete" };
    }
    case "expiry": {
      if (n.clientId !== ctx.clientId) return { action: "release", reason: "for another client id" };
      if (ctx.issuedAt && n.eventTime && Date.parse(n.eventTime) < Date.parse(ctx.issuedAt)) {
        return { action: "discard", reason: `sent ${n.eventTime}, before the stored secret was sent (${ctx.issuedAt}): it is about an earlier secret` };
      }
      if (!ctx.issuedAt && ctx.issuedOn && n.eventTime && utcDay(n.eventTime) < ctx.issuedOn) {
        return {
          action: "discard",
          reason: `sent ${utcDay(n.eventTime)}, before the stored secret was issued (${ctx.issuedOn}): it is about an earlier secret`,
        };
      }
      if (ctx.issuedOn && isPreviousSecretsExpiry(n.clientSecretExpiryTime, ctx.issuedOn)) {
        return {
          action: "discard",
          reason:
            `saying a secret expires ${n.clientSecretExpiryTime}, within ${PREVIOUS_SECRET_WINDOW_DAYS} days of lwaClientSecretIssuedOn (${ctx.issuedOn}): ` +
            "it is about the previous secret, which stops working 7 days after a rotation (if that date is wrong, correct it: " +
            "npm run pulumi -- config set lwaClientSecretIssuedOn <YYYY-MM-DD>)",
        };
      }
      return { action: "record-expiry" };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Expiry and due
// ---------------------------------------------------------------------------------------------------------------

export type Step =
  /** A new secret is in the queue: finish with it, whatever --if-due says (the old secret is counting down). */
  | { step: "complete" }
  /** A recorded request is not answered yet, and is recent: wait for its secret, do not ask again. */
  | { step: "wait-pending"; requestedAt: string }
  | { step: "rotate"; reason?: string }
  | { step: "not-due"; expiresAt: string; daysLeft: number; leadDays: number; leadReason?: string }
  | { step: "unknown-expiry" }
  /** A recorded request unanswered for more than a day: an incident; asked again only on evidence or by the operator. */
  | { step: "unanswered"; requestedAt: string; evidenceFrom: string }
  /** Unanswered for more than 8 days: whether the stored secret still works says whether Amazon acted. */
  | { step: "check-unanswered"; requestedAt: string }
  /** The stored secret is less than 7 days old: another rotation would retire the secret jobs may still use. */
  | { step: "recently-rotated"; issuedAt: string };

export interface DueInput {
  ifDue: boolean;
  now: Date;
  warningDays: number;
  expiry: Expiry;
  newSecretWaiting: boolean;
  /** The recorded request no stored secret answers (unansweredRequest). */
  pendingSince?: string;
  /** lwaClientSecretIssuedAt. */
  issuedAt?: string;
  /** --request-again: the operator knows Amazon did not act on the recorded request (or wants a rotation anyway). */
  requestAgain?: boolean;
  /** Set once the stored secret was shown to still work more than 7 days after the recorded request. */
  amazonDidNotAct?: boolean;
  /** Why the new block cannot reach every job by itself (no jobConfigs, ...), if it cannot. */
  manualDelivery?: string;
}

export function daysUntil(iso: string, now: Date): number {
  return Math.floor((Date.parse(iso) - now.getTime()) / DAY_MS);
}

/**
 * Had Amazon acted on a request, the secret stored before it would stop 7 days later: a day more and its still
 * working is evidence that Amazon did not (the day is for clocks and for LWA's own edge).
 */
export const UNANSWERED_EVIDENCE_DAYS = OLD_SECRET_GRACE_DAYS + 1;

export function decideStep(input: DueInput): Step {
  if (input.newSecretWaiting) return { step: "complete" };
  if (input.pendingSince && input.requestAgain)
    return { step: "rotate", reason: `--request-again: the request of ${input.pendingSince} is taken as not acted on` };
  if (input.pendingSince && !input.amazonDidNotAct) {
    const age = input.now.getTime() - Date.parse(input.pendingSince);
    if (age < PENDING_ROTATION_HOURS * 60 * 60 * 1000) return { step: "wait-pending", requestedAt: input.pendingSince };
    if (age <= UNANSWERED_EVIDENCE_DAYS * DAY_MS) {
      return {
        step: "unanswered",
        requestedAt: input.pendingSince,
        evidenceFrom: new Date(Date.parse(input.pendingSince) + UNANSWERED_EVIDENCE_DAYS * DAY_MS).toISOString(),
      };
    }
    return { step: "check-unanswered", requestedAt: input.pendingSince };
  }
  if (!input.ifDue) {
    if (!input.requestAgain && input.issuedAt && input.now.getTime() - Date.parse(input.issuedAt) < OLD_SECRET_GRACE_DAYS * DAY_MS) {
      return { step: "recently-rotated", issuedAt: input.issuedAt };
    }
    return { step: "rotate" };
  }
  if (!input.expiry.expiresAt) return { step: "unknown-expiry" };
  const daysLeft = daysUntil(input.expiry.expiresAt, input.now);
  const lead = rotationLeadDays(input.warningDays, input.manualDelivery);
  return daysLeft <= lead.days
    ? { step: "rotate" }
    : { step: "not-due", expiresAt: input.expiry.expiresAt, daysLeft, leadDays: lead.days, ...(lead.reason ? { leadReason: lead.reason } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// The stack's settings
// ---------------------------------------------------------------------------------------------------------------

export interface Prerequisites {
  clientId: string;
  clientSecret: string;
  /** The default authorization's token, or the first further one's when the stack has no lwaRefreshToken. */
  refreshToken: string;
  /**
   * Every authorization's token, the default one first: the proof may use any (invalid_client is the app's answer,
   * whichever token; invalid_grant is that token's alone, and the next one is tried).
   */
  refreshTokens: string[];
  spApiEndpoint: string;
  queueUrl: string;
  queueArn: string;
  queueRegion: string;
  config: StackConfig;
}

export type PrerequisiteCheck = { ok: true; value: Prerequisites } | { ok: false; problem: string };

/** What the command needs from the stack, or what is missing and the command that fixes it. */
export function checkPrerequisites(
  stack: string,
  raw: { values: Record<string, string>; secretKeys: ReadonlySet<string> },
  outputs: Record<string, { value: unknown }>,
  now: Date,
  spApiEndpointOverride?: string,
): PrerequisiteCheck {
  // A run killed while `config set --secret` read the new secret from its standard input can leave the key empty.
  // With a rotation recorded, the new secret is still in the queue and completes the rotation without the old one
  // (which only the request itself needs): the check lets such a stack through, clientSecret "".
  const completing = Boolean(raw.values.lwaRotationRequestedAt);
  let config: StackConfig;
  try {
    config = validateConfig(raw, now).config;
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, problem: `the stack's config is refused: ${error.problems.join("; ")}` };
    throw error;
  }
  const on = ` --stack ${stack}`;
  if (!config.lwaRotation) {
    return {
      ok: false,
      problem:
        `lwaRotation is off for stack ${stack}, so it has no queue for Amazon to deliver a new secret to. ` +
        `Fix: npm run pulumi -- config set lwaRotation true${on} && npm run up -- ${stack}, then register the queue ARN in the Developer Console ` +
        "(docs/lwa-rotation.md).",
    };
  }
  const unset: string[] = [];
  const value = (v: string | undefined) => (v && !isPlaceholder(v) ? v : undefined);
  const clientId = value(config.lwaClientId);
  const clientSecret = value(config.lwaClientSecret);
  const refreshTokens = [
    value(config.lwaRefreshToken),
    ...Object.keys(config.authorizations)
      .sort()
      .map((name) => value(config.authorizations[name]!.refreshToken)),
  ].filter((t): t is string => t !== undefined);
  const refreshToken = refreshTokens[0];
  if (!clientId) unset.push(`npm run pulumi -- config set lwaClientId amzn1.application-oa2-client.<32 hex>${on}`);
  if (!clientSecret && !completing) unset.push(`npm run pulumi -- config set --secret lwaClientSecret${on}`);
  if (!refreshToken) unset.push(`npm run pulumi -- config set --secret lwaRefreshToken${on}`);
  if (unset.length > 0) {
    return { ok: false, problem: `the stack's LWA values are not all set; rotation needs all three. Fix: ${unset.join(" && ")}` };
  }
  const queueArn = outputs.lwaNotificationQueueArn?.value;
  const queueUrl = outputs.lwaNotificationQueueUrl?.value;
  const arnParts = typeof queueArn === "string" ? /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):\d{12}:[\w-]+$/.exec(queueArn) : null;
  if (!arnParts || typeof queueUrl !== "string" || !/^https:\/\//.test(queueUrl)) {
    return {
      ok: false,
      problem: `lwaRotation is on but stack ${stack} has no queue outputs yet (it was not deployed since). Fix: npm run up -- ${stack}`,
    };
  }
  return {
    ok: true,
    value: {
      clientId: clientId!,
      clientSecret: clientSecret ?? "",
      refreshToken: refreshToken!,
      refreshTokens,
      spApiEndpoint: spApiEndpointOverride ?? endpointOf(config.spApiRegion),
      queueUrl,
      queueArn: queueArn as string,
      queueRegion: arnParts[1]!,
      config,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Amazon's answers
// ---------------------------------------------------------------------------------------------------------------

export type HttpAnswer<T> =
  | { kind: "ok"; value: T }
  | { kind: "http"; status: number; code?: string; message?: string }
  /** via: " through the proxy ..." when the request went through one (lib/net throughProxy). */
  | { kind: "unreachable"; code: string; via?: string };

export interface Failure {
  cause: string;
  fix: string;
}

export function developerConsoleStep(queueArn: string): string {
  return (
    'Developer Console (Solution Provider Portal) > Notification Preferences: for "Application Client New Secret" and ' +
    `"Application Client Secret Expiry", Add new destination (SQS ARN) ${queueArn}, then Subscribe`
  );
}

const CONSOLE_ROTATION =
  "rotate it by hand instead: Seller Central > Develop Apps > your app > LWA credentials > View > Rotate secret, " +
  "then npm run rotate-lwa -- --stored-by-hand (the secret on standard input; docs/lwa-rotation.md, By hand in Seller Central)";

/** The grantless token request (client_credentials). */
export function judgeGrantlessToken(answer: HttpAnswer<string>, lwaEndpoint: string): Failure | undefined {
  if (answer.kind === "ok") return undefined;
  if (answer.kind === "unreachable") {
    return {
      cause: `could not reach LWA at ${lwaEndpoint}${answer.via ?? ""} (${answer.code}).`,
      fix: "check the network connection and any proxy; if SP_API_LWA_ENDPOINT is set, check it or unset it. Nothing was rotated.",
    };
  }
  const status = `HTTP ${answer.status}${answer.code ? ` ${answer.code}` : ""}`;
  if (answer.code === "not_a_token") {
    return {
      cause: `LWA at ${lwaEndpoint} answered with something that is not an LWA token. Nothing was rotated.`,
      fix: "check SP_API_LWA_ENDPOINT (unset it to use Amazon's) and any proxy, then run again.",
    };
  }
  if (answer.code === "invalid_client") {
    return {
      cause: `LWA rejected the stack's client id and secret for the rotation token (${status}): the secret is wrong, or has already expired.`,
      fix: `check lwaClientId and lwaClientSecret belong to the app; an expired secret cannot rotate itself: ${CONSOLE_ROTATION}.`,
    };
  }
  if (answer.code === "invalid_scope" || answer.code === "unauthorized_client") {
    return {
      cause: `LWA refused the rotation scope ${ROTATION_SCOPE} for this app (${status}).`,
      fix: `only a production SP-API app (not a sandbox one) may rotate its secret by API; otherwise ${CONSOLE_ROTATION}.`,
    };
  }
  return {
    cause: `LWA refused the rotation token request (${status}).`,
    fix: answer.status >= 500 ? "LWA had a fault on its side: run again in a few minutes." : `run again later; if it persists, ${CONSOLE_ROTATION}.`,
  };
}

/** POST /applications/2023-11-30/clientSecret. */
export function judgeRotationRequest(answer: HttpAnswer<void>, ctx: { queueArn: string; spApiEndpoint: string }): Failure | undefined {
  if (answer.kind === "ok") return undefined;
  if (answer.kind === "unreachable") {
    if (!mayHaveReachedAmazon(answer.code)) {
      return {
        cause: `could not reach SP-API at ${ctx.spApiEndpoint}${answer.via ?? ""} (${answer.code}). Nothing was rotated.`,
        fix: "check the network connection and any proxy; if SP_API_ENDPOINT is set, check it or unset it. Then run again.",
      };
    }
    return {
      cause: `the rotation request to ${ctx.spApiEndpoint} got no answer (${answer.code}): Amazon may or may not have rotated the secret.`,
      fix:
        `run again later: a new secret that arrives is picked up from the queue, and for ${PENDING_ROTATION_HOURS} hours no new rotation is ` +
        "requested while one may be on its way.",
    };
  }
  const said = answer.message ? `: "${answer.message}"` : "";
  if (answer.status >= 200 && answer.status < 300) {
    return {
      cause: `${ctx.spApiEndpoint} answered the rotation request with HTTP ${answer.status}, not Amazon's 204: it is not SP-API, so nothing is known to be rotated.`,
      fix: "check SP_API_ENDPOINT (unset it to use the region's) and any proxy; then run again (a new secret that arrived anyway is picked up from the queue).",
    };
  }
  if (answer.status === 400 && /enrol/i.test(answer.message ?? "")) {
    return {
      cause: `Amazon says the app is not enrolled for rotation notifications (HTTP 400${said}), so it has nowhere to send a new secret. Nothing was rotated.`,
      fix: `${developerConsoleStep(ctx.queueArn)}; then run again.`,
    };
  }
  if (answer.status === 401 || answer.status === 403) {
    return {
      cause: `Amazon refused the rotation request (HTTP ${answer.status}${said}). Nothing was rotated.`,
      fix: "check lwaClientId and lwaClientSecret are the app's (Seller Central > Develop Apps > your app > LWA credentials); a sandbox app cannot rotate by API.",
    };
  }
  if (answer.status === 429) {
    return {
      cause: `Amazon allows one rotation request a minute (HTTP 429). Nothing was rotated.`,
      fix: "run again in a minute.",
    };
  }
  return {
    cause: `Amazon answered the rotation request with HTTP ${answer.status}${answer.code ? ` ${answer.code}` : ""}${said}.`,
    fix:
      answer.status >= 500
        ? "Amazon had a fault on its side: run again in a few minutes (a new secret that arrived anyway is picked up from the queue)."
        : "check the message above; run again later.",
  };
}

/** A request that failed this way may have been received and acted on (a timeout, a connection cut mid-answer). */
export function mayHaveReachedAmazon(code: string): boolean {
  return !["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "CERT_HAS_EXPIRED", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"].includes(code);
}

/** The refresh-token exchange with the new secret, before anything is stored. */
export function judgeProof(answer: HttpAnswer<string>, lwaEndpoint: string): Failure | undefined {
  if (answer.kind === "ok") return undefined;
  const leftInQueue = "Nothing was stored; the new secret stays in the queue for the next run.";
  if (answer.kind === "unreachable") {
    return {
      cause: `could not reach LWA at ${lwaEndpoint}${answer.via ?? ""} to prove the new secret (${answer.code}). ${leftInQueue}`,
      fix: "check the network connection, then run again.",
    };
  }
  const status = `HTTP ${answer.status}${answer.code ? ` ${answer.code}` : ""}`;
  return {
    cause: `LWA did not accept the new secret with the stack's refresh token (${status}). ${leftInQueue}`,
    fix:
      answer.code === "invalid_grant"
        ? "the refresh token was refused: re-authorize the app, store the new one (npm run pulumi -- config set --secret lwaRefreshToken), then run again."
        : "run again in a few minutes (a new secret may take a moment to be accepted); if it persists, check lwaClientId is the app the queue's messages are for.",
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------------------------

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "Fri 4 Dec 2026, 10:00 UTC (in 7 days)". */
export function plainTime(iso: string, now: Date): string {
  const d = new Date(iso);
  const hhmm = d.toISOString().slice(11, 16);
  const when = `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${hhmm} UTC`;
  const ms = d.getTime() - now.getTime();
  const hours = Math.round(Math.abs(ms) / 3_600_000);
  const span = hours < 48 ? `${hours} hour${hours === 1 ? "" : "s"}` : `${Math.round(Math.abs(ms) / DAY_MS)} days`;
  return `${when} (${ms >= 0 ? `in ${span}` : `${span} ago`})`;
}

export function disagreementWords(days: number, issuedOn: string): string {
  const tracked = addDays(issuedOn, LWA_SECRET_LIFETIME_DAYS);
  return `Amazon's expiry is ${Math.abs(days)} day${Math.abs(days) === 1 ? "" : "s"} ${days < 0 ? "earlier" : "later"} than lwaClientSecretIssuedOn + 180 days (${tracked}); Amazon's is the one that counts.`;
}

/**
 * Why `--out` cannot be this rotation's file when the app is shared: it names another stack of the group's block
 * (`--out acme-jobs/globex.hjson`), or is the very file that stack's block goes to. Each other stack's block goes only
 * to its own place (`memberFile`), never beside --out; a --out that looks like one of them would put this stack's
 * block where that stack's is expected, or be overwritten by it. Pure.
 */
export function outCollision(
  out: string,
  members: readonly string[],
  memberFile: (member: string) => string,
  fileName: (stack: string) => string,
): string | undefined {
  for (const member of members) {
    const theirs = memberFile(member);
    if (path.resolve(out) === path.resolve(theirs)) return `--out ${out} is where the block of stack ${member} goes (it shares this LWA app)`;
    if (path.basename(out) === fileName(member))
      return `--out ${out} is named for stack ${member}, which shares this LWA app; its block goes only to ${theirs}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets stored by hand, and secrets set aside (issue 20): no older message rolls a stored secret back, and no
// new secret Amazon issued is ever thrown away
// ---------------------------------------------------------------------------------------------------------------

/**
 * A new secret of this app that is not the stored one and was not sent after it: a late message of an earlier API
 * request (the stored secret was rotated by hand since, or by a later request). Storing it would roll the stack
 * back to a secret Amazon retires 7 days after the later rotation, reported as good for 180 days; deleting it would
 * throw away a secret Amazon issued. It is set aside, the line naming both times. Undefined: it is newer.
 */
export function olderNewSecret(n: Extract<Notification, { kind: "new-secret" }>, stored: StoredSecret): Disposition | undefined {
  if (stored.issuedAt) {
    if (!n.sentAt) {
      return {
        action: "set-aside",
        reason: `without a publish time: it cannot be matched to the stored secret (lwaClientSecretIssuedAt ${stored.issuedAt}), so it is never stored`,
      };
    }
    if (Date.parse(n.sentAt) <= Date.parse(stored.issuedAt)) {
      return {
        action: "set-aside",
        reason: `sent ${n.sentAt}, not after the stored secret (lwaClientSecretIssuedAt ${stored.issuedAt}): a late answer to an earlier request, never stored`,
      };
    }
    return undefined;
  }
  if (stored.issuedOn && n.sentAt && utcDay(n.sentAt) < stored.issuedOn) {
    return {
      action: "set-aside",
      reason: `sent ${n.sentAt}, before the day the stored secret was issued (lwaClientSecretIssuedOn ${stored.issuedOn}): a late answer to an earlier request, never stored`,
    };
  }
  return undefined;
}

/** The longest standard input --stored-by-hand reads: a secret is under 100 characters. */
export const BY_HAND_INPUT_LIMIT = 4096;

export type ByHandSecret = { ok: true; secret: string; legacy: boolean } | { ok: false; problem: string };

/**
 * The secret of `npm run rotate-lwa -- --stored-by-hand`, as read from standard input: one trailing newline (\n or
 * \r\n) taken off, nothing else changed. Its shape is checked as the program checks lwaClientSecret; a problem never
 * holds the input (it may be a secret pasted in the wrong place).
 */
export function readByHandSecret(input: string, fromTerminal: boolean): ByHandSecret {
  const secret = input.replace(/\r?\n$/, "");
  const how = fromTerminal
    ? "paste it at the prompt"
    : "pipe it in, e.g. npm run rotate-lwa -- --stored-by-hand < secret.txt (never as an argument: the process list shows arguments)";
  if (secret.length === 0) {
    return { ok: false, problem: `no secret on standard input${fromTerminal ? "" : " (it was empty, or not a pipe or file)"}: ${how}. Nothing was stored.` };
  }
  if (input.length > BY_HAND_INPUT_LIMIT)
    return { ok: false, problem: `standard input holds more than ${BY_HAND_INPUT_LIMIT} characters: not one secret. Nothing was stored.` };
  if (LWA_CLIENT_SECRET.test(secret)) return { ok: true, secret, legacy: false };
  if (LWA_LEGACY_CLIENT_SECRET.test(secret)) return { ok: true, secret, legacy: true };
  const lines = secret.split(/\r?\n/).length;
  const why =
    lines > 1
      ? `${lines} lines, not one`
      : /\s/.test(secret)
        ? "it holds spaces or tabs"
        : `${secret.length} characters that are not "amzn1.oa2-cs.v1." followed by hex`;
  return {
    ok: false,
    problem: `standard input is not an LWA client secret (${why}; the value is not shown). ${how[0]!.toUpperCase()}${how.slice(1)}. Nothing was stored.`,
  };
}

/**
 * The records a secret stored by hand at `issuedAt` ends, in one stack's config: a rotation request made before it
 * (answered by the console rotation, or its late answer is set aside). lwaClientSecretExpiresAt (the previous
 * secret's expiry) goes with the times storeSecret writes.
 */
export function recordsEndedByHand(values: Record<string, string>, issuedAt: string): string[] {
  const requested = values.lwaRotationRequestedAt;
  return requested && Date.parse(requested) <= Date.parse(issuedAt) + CLOCK_SKEW_MS ? ["lwaRotationRequestedAt"] : [];
}

/** Where a new secret that is set aside goes: the one slot (lwaRotationSetAside and lwaRotationSetAsideSecret). */
export type SetAsideSlot =
  /** Record it: its time, and the secret when it has a secret's shape. */
  | { write: "keep" }
  /** The slot holds this very secret (or a newer time for an unshaped one): nothing to write, the message can go. */
  | { write: "none" }
  /** The slot holds another secret, kept until an operator clears it: this one stays in the queue meanwhile. */
  | { write: "occupied"; keptSince: string };

export function setAsideSlot(slot: { time?: string; secret?: string }, incoming: { sent: string; secret?: string }): SetAsideSlot {
  if (incoming.secret === undefined) return !slot.secret && (!slot.time || slot.time < incoming.sent) ? { write: "keep" } : { write: "none" };
  if (slot.secret === incoming.secret) return { write: "none" };
  if (slot.secret) return { write: "occupied", keptSince: slot.time ?? "an unknown time" };
  return { write: "keep" };
}

/**
 * What rotate-lwa and status say of a kept set-aside secret: where it is and the command that clears it. `secret`:
 * whether lwaRotationSetAsideSecret is set (undefined: not known, as when read without secrets).
 */
export function setAsideNote(stack: string, slot: { time?: string; secret?: boolean }): string | undefined {
  if (!slot.time && !slot.secret) return undefined;
  const kept =
    slot.secret === true ? ", its secret in lwaRotationSetAsideSecret" : slot.secret === false ? " (only its time: it was not shaped like a secret)" : "";
  return (
    `a new secret set aside ${slot.time ? `(sent ${slot.time}) ` : ""}is kept${kept}: look into it (refused by LWA, or older than the stored secret), ` +
    `then npm run rotate-lwa -- --clear-set-aside --stack ${stack}`
  );
}
