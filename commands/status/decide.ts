/**
 * One row per stack for `npm run status`: what its outputs and config say about its credentials, and the one
 * next thing due. Pure: the facts and the clock come in, the row goes out; no AWS call, no secret read.
 */
import { ConfigError, validateConfig, type StackConfig } from "../../src/config";
import { addDays, keyPhaseOf, type KeyPhase, type SlotRecord } from "../../src/lifecycle";
import type { OutputValue, StackConfigView } from "../../lib/pulumi";
import { currentExpiry, rotationLeadDays, unansweredRequest } from "../../src/lifecycle";
import { isRunnerTarget, maskedUrl, parseRunnerTarget, RUNNER_PREFIX } from "../../lib/runner";

/** How urgent the next thing is: expired and overdue make `status` exit 1. */
export type Urgency = "expired" | "overdue" | "due" | "ok";

export interface NextThing {
  what: string;
  /** YYYY-MM-DD: the day it becomes due (or, for an expiry, the day it happens). */
  date: string;
  urgency: Urgency;
}

export interface StatusRow {
  stack: string;
  /** As the last deployment declared it: "lwa" rows have no role and no key. */
  connectorAuth?: "iam" | "lwa";
  spApiRegion?: string;
  /**
   * How many authorizations of the app the stack holds: the default one and each of config authorizations (output
   * `authorizations`), and the regions of the further ones, by name.
   */
  authorizations?: { count: number; further: Record<string, string> };
  roleArn?: string;
  key?: { createdAt: string; ageDays: number; rotateBy: string; phase: KeyPhase };
  lwa?: {
    expiresOn?: string;
    source: "amazon" | "tracked" | "not tracked";
    rotatedBy: "rotate-lwa" | "hand";
    /** The other stacks of the same LWA app (lwaClientId): one rotation serves them all. */
    sharedWith?: string[];
    /** A rotation request recorded (lwaRotationRequestedAt) that no stored secret answers yet. */
    unansweredRequest?: string;
    /** The publish time of a new-secret message LWA refused, set aside by rotate-lwa (lwaRotationSetAside). */
    setAside?: string;
  };
  lastUpdate?: string;
  /**
   * Where maintain delivers each new block (jobConfigs): files and directories as listed, `runner:<base URL>` for the
   * connector product's jobs through its API (lib/runner.ts). Empty: a person hands the block to the jobs.
   */
  delivery?: string[];
  next?: NextThing;
  /** Why the stack could not be read: the row then holds nothing else. */
  problem?: string;
}

export interface StackFacts {
  name: string;
  /** The other stacks with the same lwaClientId. */
  sharedWith?: string[];
  lastUpdate?: string;
  config: StackConfigView;
  outputs: Record<string, OutputValue>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const iso = (d: Date) => d.toISOString().slice(0, 10);
const daysBetween = (from: string, to: string) =>
  Math.floor((Date.parse(`${to.slice(0, 10)}T00:00:00Z`) - Date.parse(`${from.slice(0, 10)}T00:00:00Z`)) / DAY_MS);

/** Jobs need time to receive a new LWA block before the old secret stops: under this many days left is overdue. */
export const LWA_OVERDUE_DAYS = 7;

const SEVERITY: Record<Urgency, number> = { expired: 4, overdue: 3, due: 2, ok: 1 };
const UNREADABLE_SEVERITY = 2.5;

function severity(row: StatusRow): number {
  if (row.problem) return UNREADABLE_SEVERITY;
  return row.next ? SEVERITY[row.next.urgency] : 0;
}

function keyNext(config: StackConfig, createdAt: string, phase: KeyPhase, previous: SlotRecord | undefined, today: string, warnDays?: number): NextThing {
  const rotateBy = addDays(createdAt, config.maxAccessKeyAgeDays);
  if (phase === "handover") {
    // The old key stays active until every job has the new block; it is past its own 90 days about when the
    // rotation's lead time has run out.
    const earliest = addDays(createdAt, Math.ceil(config.keyQuietHours / 24));
    const late = addDays(createdAt, config.keyRotationLeadDays);
    return {
      what: "finish the key handover: give every job the new block (npm run credentials -- --into), then npm run rotate-key deactivates the old key",
      date: earliest,
      urgency: today > late ? "overdue" : "due",
    };
  }
  if (phase === "old-key-inactive") {
    const since = previous?.inactiveSince ?? createdAt.slice(0, 10);
    const date = addDays(since, config.keyInactiveDays);
    return { what: "delete the inactive old key (npm run rotate-key)", date, urgency: today >= date ? "due" : "ok" };
  }
  const start = addDays(rotateBy, -(warnDays ?? config.keyRotationLeadDays));
  return {
    what: "rotate the access key (npm run rotate-key)",
    date: start,
    urgency: today > rotateBy ? "overdue" : today >= start ? "due" : "ok",
  };
}

/** rotate-lwa's own reading of the expiry (Amazon's recorded time unless it is the previous secret's, else issued + 180). */
function lwaExpiry(config: StackConfig): { expiresOn?: string; source: "amazon" | "tracked" | "not tracked" } {
  const expiry = currentExpiry({ fromConfig: config.lwaClientSecretExpiresAt, issuedOn: config.lwaClientSecretIssuedOn });
  if (!expiry.expiresAt) return { source: "not tracked" };
  return { expiresOn: iso(new Date(expiry.expiresAt)), source: expiry.source === "lwaClientSecretIssuedOn + 180 days" ? "tracked" : "amazon" };
}

function lwaNext(config: StackConfig, expiresOn: string, today: string, warnDays?: number): NextThing {
  const left = daysBetween(today, expiresOn);
  const by = config.lwaRotation ? "npm run rotate-lwa" : "by hand: docs/lwa-rotation.md";
  // rotate-lwa --if-due rotates a stack whose jobs a person serves no earlier than 7 days before expiry: status
  // says the same date, and why.
  const lead =
    config.lwaRotation && warnDays === undefined
      ? rotationLeadDays(config.lwaExpiryWarningDays, config.jobConfigs.length === 0 ? "no jobConfigs (a person hands the block to the jobs)" : undefined)
      : { days: warnDays ?? config.lwaExpiryWarningDays };
  const why = lead.reason ? `; ${lead.reason}` : "";
  return {
    what: left <= 0 ? `the LWA secret has expired: rotate it now (${by})` : `rotate the LWA secret (${by}), before it expires on ${expiresOn}${why}`,
    date: left <= 0 ? expiresOn : addDays(expiresOn, -lead.days),
    urgency: left <= 0 ? "expired" : left < LWA_OVERDUE_DAYS ? "overdue" : left <= lead.days ? "due" : "ok",
  };
}

/** What rotate-lwa left for a person: an unanswered request (an incident after a day), a message set aside. */
function lwaRotationNext(config: StackConfig, now: Date, stack: string): NextThing | undefined {
  const pending = unansweredRequest({ requestedAt: config.lwaRotationRequestedAt, issuedAt: config.lwaClientSecretIssuedAt });
  let next: NextThing | undefined;
  if (pending) {
    const overDay = now.getTime() - Date.parse(pending) > DAY_MS;
    next = {
      what:
        `${overDay ? "INCIDENT: " : ""}the LWA rotation requested ${pending} has no new secret yet; no run asks again ` +
        "(check the queue's registration; rotated by hand meanwhile: npm run rotate-lwa -- --stored-by-hand; docs/running-unattended.md)",
      date: pending.slice(0, 10),
      urgency: overDay ? "overdue" : "due",
    };
  }
  if (config.lwaRotationSetAside) {
    next = moreUrgent(next, {
      // The same words as rotate-lwa's setAsideNote (commands/rotate-lwa/decide.ts; a command imports no other).
      what:
        `a new secret set aside (sent ${config.lwaRotationSetAside}) is kept: look into it (refused by LWA, or older than the stored secret), ` +
        `then npm run rotate-lwa -- --clear-set-aside --stack ${stack}`,
      date: config.lwaRotationSetAside.slice(0, 10),
      urgency: "due",
    });
  }
  return next;
}

/**
 * An adopted stack (npm run adopt): an unfinished adoption comes first, then the customer's own key, which
 * rotate-key retires before any rotation can start (IAM allows two keys). rotate-key drops the key from the record
 * once it has deleted it.
 */
function adoptionNext(config: StackConfig, createdAt: string, today: string): NextThing | undefined {
  const adoption = config.adoption!;
  if (adoption.phase !== "done") return { what: `finish the adoption (phase ${adoption.phase}): npm run adopt`, date: today, urgency: "due" };
  if (!adoption.accessKeyId) return undefined;
  if (adoption.accessKeyInactiveSince) {
    const date = addDays(adoption.accessKeyInactiveSince, config.keyInactiveDays);
    return { what: "delete the customer's inactive adopted key (npm run rotate-key)", date, urgency: today >= date ? "due" : "ok" };
  }
  return {
    what: "retire the customer's adopted key: give every job the new block (npm run credentials -- --into), then npm run rotate-key deactivates it",
    date: addDays(createdAt, Math.ceil(config.keyQuietHours / 24)),
    urgency: "due",
  };
}

/** The more urgent of two next things; between equals, the earlier date. */
function moreUrgent(a: NextThing | undefined, b: NextThing | undefined): NextThing | undefined {
  if (!a || !b) return a ?? b;
  if (SEVERITY[a.urgency] !== SEVERITY[b.urgency]) return SEVERITY[a.urgency] > SEVERITY[b.urgency] ? a : b;
  return a.date <= b.date ? a : b;
}

/** A stack's row. `warnDays` (--warn-days) replaces each stack's own warning windows when given. */
export function statusRow(facts: StackFacts, now: Date, warnDays?: number): StatusRow {
  const row: StatusRow = { stack: facts.name, lastUpdate: facts.lastUpdate };
  let config: StackConfig;
  try {
    config = validateConfig({ values: facts.config.values, secretKeys: facts.config.secretKeys, providerRegion: facts.config.provider.region }, now).config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { ...row, problem: `its config is invalid: ${error.problems[0]}` };
  }
  const today = iso(now);
  row.spApiRegion = config.spApiRegion;
  const further = facts.outputs.authorizations?.value;
  if (further !== null && typeof further === "object" && !Array.isArray(further) && Object.keys(further).length > 0) {
    const regions = Object.fromEntries(Object.entries(further as Record<string, unknown>).map(([name, region]) => [name, String(region)]));
    row.authorizations = { count: 1 + Object.keys(regions).length, further: regions };
  }
  // A runner URL holds no key (one that does is refused: lib/runner.ts); masked all the same.
  row.delivery = config.jobConfigs.map((t) => {
    if (!isRunnerTarget(t)) return t;
    const parsed = parseRunnerTarget(t);
    return parsed.ok ? parsed.target.display : `${RUNNER_PREFIX}${maskedUrl(t.slice(RUNNER_PREFIX.length))} (${parsed.problem})`;
  });
  const roleArn = facts.outputs.roleArn?.value;
  if (typeof roleArn === "string") row.roleArn = roleArn;

  const slots = facts.outputs.accessKeySlots?.value;
  const createdAt = facts.outputs.accessKeyCreatedAt?.value;
  let next: NextThing | undefined;
  if (facts.outputs.connectorAuth?.value === "lwa") {
    // No IAM, so no key to age: the LWA secret is the one thing that expires.
    row.connectorAuth = "lwa";
  } else if (Array.isArray(slots) && slots.length > 0 && typeof createdAt === "string") {
    row.connectorAuth = "iam";
    const { phase, previous } = keyPhaseOf(slots as SlotRecord[]);
    row.key = { createdAt, ageDays: daysBetween(createdAt, today), rotateBy: addDays(createdAt, config.maxAccessKeyAgeDays), phase };
    next = keyNext(config, createdAt, phase, previous, today, warnDays);
    if (config.adoption) next = adoptionNext(config, createdAt, today) ?? next;
  } else {
    return { ...row, problem: "no key outputs: the stack has not been deployed (npm run up)" };
  }

  const expiry = lwaExpiry(config);
  const pending = unansweredRequest({ requestedAt: config.lwaRotationRequestedAt, issuedAt: config.lwaClientSecretIssuedAt });
  row.lwa = {
    ...expiry,
    rotatedBy: config.lwaRotation ? "rotate-lwa" : "hand",
    ...(facts.sharedWith?.length ? { sharedWith: facts.sharedWith } : {}),
    ...(pending ? { unansweredRequest: pending } : {}),
    ...(config.lwaRotationSetAside ? { setAside: config.lwaRotationSetAside } : {}),
  };
  if (expiry.expiresOn) next = moreUrgent(next, lwaNext(config, expiry.expiresOn, today, warnDays));
  next = moreUrgent(next, lwaRotationNext(config, now, facts.name));
  row.next = next;
  return row;
}

/** Most urgent first; then the earliest next date; then by name. */
export function sortRows(rows: readonly StatusRow[]): StatusRow[] {
  return [...rows].sort(
    (a, b) => severity(b) - severity(a) || (a.next?.date ?? "9999").localeCompare(b.next?.date ?? "9999") || a.stack.localeCompare(b.stack),
  );
}

/**
 * 1 when something is expired or overdue, or a stack cannot be read (a monitor must not stay green over a stack it
 * cannot see); 0 otherwise.
 */
export function statusExitCode(rows: readonly StatusRow[]): 0 | 1 {
  return rows.some((r) => r.problem || r.next?.urgency === "expired" || r.next?.urgency === "overdue") ? 1 : 0;
}
