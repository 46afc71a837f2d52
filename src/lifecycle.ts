/**
 * Credential lifecycle, as pure functions: which access key lives in which slot at a given rotation
 * generation, when a key is due for rotation, and when the LWA client secret expires.
 *
 * Why two slots: IAM allows two access keys per user. Generation g lives in slot "a" when g is odd and in
 * slot "b" when g is even, so a bump of one replaces only the slot holding generation g-2, a key no job has
 * used since the last rotation, while the slot holding g-1 (the key jobs use now) is left alone. Each slot is
 * replaced delete-before-create, so a rotation goes 2 keys -> 1 -> 2 and never reaches 3.
 */
import { PROJECT, type PreviousKeyState } from "./config";

export type SlotName = "a" | "b";
export type KeyStatus = "Active" | "Inactive";

export interface SlotPlan {
  slot: SlotName;
  /** The rotation generation whose key the slot holds; it is the slot's replacement trigger. */
  generation: number;
  role: "current" | "previous";
  status: KeyStatus;
  /** The PGP key the slot's key is created with (kept from the last deployment unless the slot is replaced). */
  pgpKey?: string;
  /** YYYY-MM-DD: the first deployment that made this key Inactive; absent while it is Active. */
  inactiveSince?: string;
}

/** What the last deployment recorded of a slot (the stack output `accessKeySlots`). */
export interface SlotRecord {
  slot: SlotName;
  generation: number;
  status?: KeyStatus;
  pgpKey?: string | null;
  /** YYYY-MM-DD, on an Inactive slot: `npm run rotate-key` counts keyInactiveDays from it. */
  inactiveSince?: string;
}

export interface KeyPlanInput {
  generation: number;
  previousKey: PreviousKeyState;
  pgpKey?: string;
  /** The slots the last deployment recorded; undefined on a first deployment or when they cannot be read. */
  deployed?: readonly SlotRecord[];
  /** YYYY-MM-DD, the day of this deployment: a slot that turns Inactive now records it as inactiveSince. */
  today: string;
}

export interface KeyPlan {
  slots: SlotPlan[];
  /** Non-fatal remarks for the operator. */
  warnings: string[];
}

export class RotationError extends Error {}

/**
 * The one command line that starts a rotation from `generation`: a rotation keeps the previous key
 * active, so it sets that first when the stack currently says otherwise.
 */
export function rotationCommand(generation: number, previousKey: PreviousKeyState): string {
  const keepPrevious = previousKey === "active" ? "" : "npm run pulumi -- config set previousAccessKey active && ";
  return `${keepPrevious}npm run pulumi -- config set accessKeyGeneration ${generation + 1} && npm run pulumi -- up`;
}

export function slotOf(generation: number): SlotName {
  return generation % 2 === 1 ? "a" : "b";
}

/** Generation of the key the last deployment put in `credentials`: the highest one recorded. */
export function deployedGeneration(deployed: readonly SlotRecord[] | undefined): number | undefined {
  if (!deployed || deployed.length === 0) return undefined;
  return Math.max(...deployed.map((s) => s.generation));
}

/**
 * Where a rotation stands, from the deployed slots alone: one key (steady); the previous key still active while
 * jobs move to the new one (handover); the previous key deactivated, waiting to be deleted (old-key-inactive).
 */
export type KeyPhase = "steady" | "handover" | "old-key-inactive";

export function keyPhaseOf(
  slots: readonly SlotRecord[],
  generation: number | undefined = deployedGeneration(slots),
): { phase: KeyPhase; previous?: SlotRecord } {
  const previous = generation === undefined ? undefined : slots.find((s) => s.generation === generation - 1);
  if (!previous) return { phase: "steady" };
  return { phase: previous.status === "Inactive" ? "old-key-inactive" : "handover", previous };
}

export function planAccessKeys(input: KeyPlanInput): KeyPlan {
  const { generation, previousKey, pgpKey, deployed, today } = input;
  const warnings: string[] = [];
  const last = deployedGeneration(deployed);
  if (last !== undefined && generation !== last && generation !== last + 1) {
    const why =
      generation < last
        ? "going back would replace the slot that holds the key jobs use now"
        : "a jump of more than one would replace the slot that holds the key jobs use now, deleting it";
    throw new RotationError(
      `${PROJECT}:accessKeyGeneration: the deployed generation is ${last} and config says ${generation}; ${why}. ` +
        `Allowed: ${last} (no rotation) or ${last + 1} (rotate). Fix: npm run pulumi -- config set accessKeyGeneration ${last + 1}`,
    );
  }

  if (last !== undefined && generation === last + 1 && previousKey !== "active") {
    throw new RotationError(
      `${PROJECT}:previousAccessKey is "${previousKey}" while accessKeyGeneration moves from ${last} to ${generation}; ` +
        "that would deactivate or delete the key jobs use now, before they have the new one. Allowed during a rotation: active. " +
        `Fix: npm run pulumi -- config set previousAccessKey active (then, once every job has the new key, set it to inactive or removed)`,
    );
  }

  const wanted: Omit<SlotPlan, "pgpKey">[] = [{ slot: slotOf(generation), generation, role: "current", status: "Active" }];
  if (generation >= 2 && previousKey !== "removed") {
    wanted.push({
      slot: slotOf(generation - 1),
      generation: generation - 1,
      role: "previous",
      status: previousKey === "active" ? "Active" : "Inactive",
    });
  }

  const slots = wanted.map((plan): SlotPlan => {
    const record = deployed?.find((s) => s.slot === plan.slot && s.generation === plan.generation);
    const inactiveSince = plan.status === "Inactive" ? inactiveSinceOf(record, today) : undefined;
    const since = inactiveSince ? { inactiveSince } : {};
    if (!record) return { ...plan, pgpKey, ...since };
    // The key already exists: keep the PGP key it was made with, since a change would replace it.
    const kept = record.pgpKey ?? undefined;
    if (kept !== pgpKey && plan.role === "current") {
      warnings.push(
        `${PROJECT}:pgpKey changed; it applies to the next key, since changing it on a live key would replace that key. ` +
          `Rotate to apply it now: ${rotationCommand(generation, previousKey)}`,
      );
    }
    return { ...plan, pgpKey: kept, ...since };
  });
  return { slots, warnings };
}

/** What the stack records of a planned slot (output `accessKeySlots`), for the next run's guard and rotate-key. */
export function slotRecord({ slot, generation, status, pgpKey, inactiveSince }: SlotPlan): SlotRecord {
  return { slot, generation, status, pgpKey: pgpKey ?? null, ...(inactiveSince ? { inactiveSince } : {}) };
}

/**
 * When an Inactive key became so: carried from the last deployment's record of the same key while it stays
 * Inactive, else today. A record from before inactiveSince existed has none, and counts from today: that
 * only delays deleting the key, never hastens it.
 */
function inactiveSinceOf(record: SlotRecord | undefined, today: string): string {
  if (record?.status === "Inactive" && record.inactiveSince && record.inactiveSince <= today) return record.inactiveSince;
  return today;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function addDays(isoDate: string, days: number): string {
  const base = new Date(`${isoDate.slice(0, 10)}T00:00:00Z`);
  return new Date(base.getTime() + days * DAY_MS).toISOString().slice(0, 10);
}

function daysBetween(fromIso: string, toIso: string): number {
  return Math.round((Date.parse(`${toIso}T00:00:00Z`) - Date.parse(`${fromIso}T00:00:00Z`)) / DAY_MS);
}

/** The day the access key is due for rotation (Security Hub IAM.3 / CIS 1.14: 90 days). */
export function accessKeyRotateBy(createdAt: string, maxAgeDays: number): string {
  return addDays(createdAt, maxAgeDays);
}

/** A warning when the newest key is past its rotation date, else undefined. */
export function accessKeyAgeWarning(createdAt: string, maxAgeDays: number, generation: number, previousKey: PreviousKeyState, today: Date): string | undefined {
  const rotateBy = accessKeyRotateBy(createdAt, maxAgeDays);
  const todayIso = today.toISOString().slice(0, 10);
  if (todayIso <= rotateBy) return undefined;
  return (
    `The access key created on ${createdAt.slice(0, 10)} was due for rotation on ${rotateBy} ` +
    `(maxAccessKeyAgeDays ${maxAgeDays}). Rotate it: ${rotationCommand(generation, previousKey)}`
  );
}

/** LWA client secrets expire 180 days after they are issued or rotated. */
export const LWA_SECRET_LIFETIME_DAYS = 180;

export interface LwaSecretStatus {
  expiresOn: string;
  daysLeft: number;
  warning?: string;
}

/** `byCommand`: the stack has lwaRotation, so the warning names npm run rotate-lwa rather than the console route. */
export function lwaSecretStatus(issuedOn: string, warningDays: number, today: Date, byCommand = false): LwaSecretStatus {
  const expiresOn = addDays(issuedOn, LWA_SECRET_LIFETIME_DAYS);
  const daysLeft = daysBetween(today.toISOString().slice(0, 10), expiresOn);
  if (daysLeft > warningDays) return { expiresOn, daysLeft };
  const when =
    daysLeft > 0
      ? `expires on ${expiresOn} (in ${daysLeft} day${daysLeft === 1 ? "" : "s"})`
      : daysLeft === 0
        ? `expires today, ${expiresOn}`
        : `expired on ${expiresOn}; calls fail with 401 "The LWA secret token you provided has expired"`;
  const how = byCommand
    ? "npm run rotate-lwa (it asks Amazon for a new secret, proves and stores it, runs pulumi up and writes the new block), " +
      "then npm run credentials -- --into <your job configs>."
    : "1. Seller Central > Apps and Services > Develop Apps > your app > View LWA credentials > Rotate secret " +
      "(the old secret stays valid for 7 days after a rotation); " +
      // issue 20: the command records the secret (and when) in every stack of the app and deploys it.
      "2. npm run rotate-lwa -- --stored-by-hand (paste the new secret at the prompt, or pipe it in: never as an argument; " +
      "it stores it in the stack and every stack of the app, records it as issued now, and runs pulumi up); " +
      "3. npm run credentials -- --into <your job configs> (docs/delivery.md).";
  return { expiresOn, daysLeft, warning: `The LWA client secret issued on ${issuedOn} ${when}. Rotate it: ${how}` };
}

const HOUR_MS = 60 * 60 * 1000;

/**
 * The one rule for "this access key has gone unused": IAM records no use of it, or its last use lies at least
 * keyQuietHours back. rotate-key applies it before deactivating the old key; the program applies it (through
 * the record `npm run rotate-key -- --check-unused` leaves) before a switch to connectorAuth lwa deletes the user.
 */
export function keyUnusedFor(lastUsedDate: string | undefined, quietHours: number, now: Date): boolean {
  if (lastUsedDate === undefined) return true;
  return now.getTime() - Date.parse(lastUsedDate) >= quietHours * HOUR_MS;
}

/**
 * How long the record of `--check-unused` (iamKeysUnusedAt) stands. A job that runs weekly may wake up the day
 * after a check; a record older than this says too little about today, so the check is run again.
 */
export const IAM_UNUSED_RECORD_HOURS = 24;

/** What the stack's last deployment says of IAM, as the program reads it from its own outputs. */
export type DeployedIam =
  | { readable: true; /** The last deployment declared the user and its key. */ holdsIam: boolean; userName?: string; accessKeyCreatedAt?: string }
  | { readable: false; why: string };

export interface LwaSwitchInput {
  deployed: DeployedIam;
  /** Config iamKeysUnusedAt: when --check-unused found every active key unused for keyQuietHours. */
  unusedAt?: string;
  now: Date;
}

const CHECK_COMMAND = "npm run rotate-key -- --check-unused";
const MACHINES_CLOCK_SKEW_MS = 5 * 60 * 1000; // between the machine that checked and the one that deploys

/**
 * Whether `connectorAuth: lwa` may deploy: undefined when it may, else the refusal. It may when the last
 * deployment holds no IAM user (a new stack, or one already switched), or when a record of
 * `--check-unused` says the key has gone unused: made within IAM_UNUSED_RECORD_HOURS, not in the future,
 * and after the newest key was created (a key made after the check was not checked).
 */
export function lwaSwitchRefusal({ deployed, unusedAt, now }: LwaSwitchInput): string | undefined {
  if (deployed.readable && !deployed.holdsIam) return undefined;
  const what = deployed.readable
    ? `the last deployment holds the IAM user ${deployed.userName ?? "(unnamed)"} and its access key`
    : `the last deployment could not be read (${deployed.why}), so it may hold an IAM user and key`;
  const consequence = "pulumi up would delete the user, its keys, the group and the role, and a job still using the key would stop working";
  const fix = `Fix: ${CHECK_COMMAND} (it records iamKeysUnusedAt when IAM shows the key unused), then npm run pulumi -- up; or stay on iam: npm run pulumi -- config set connectorAuth iam`;
  const refuse = (evidence: string) =>
    `${PROJECT}:connectorAuth: "lwa" given, but ${what}: ${consequence}. ${evidence}. ` +
    `Allowed: lwa once ${CHECK_COMMAND} has recorded, within the last ${IAM_UNUSED_RECORD_HOURS} hours, that every active key went unused for keyQuietHours. ${fix}`;
  if (unusedAt === undefined) return refuse("No record says the key has gone unused (iamKeysUnusedAt is unset)");
  const at = Date.parse(unusedAt);
  // The check and the deployment may run on machines whose clocks differ a little.
  if (at > now.getTime() + MACHINES_CLOCK_SKEW_MS) return refuse(`iamKeysUnusedAt ${JSON.stringify(unusedAt)} lies in the future`);
  if (now.getTime() - at > IAM_UNUSED_RECORD_HOURS * HOUR_MS) {
    return refuse(`iamKeysUnusedAt ${JSON.stringify(unusedAt)} is older than ${IAM_UNUSED_RECORD_HOURS} hours: a job may have used the key since`);
  }
  if (deployed.readable && deployed.accessKeyCreatedAt && Date.parse(deployed.accessKeyCreatedAt) > at) {
    return refuse(`iamKeysUnusedAt ${JSON.stringify(unusedAt)} predates the newest key (created ${deployed.accessKeyCreatedAt}), which it did not check`);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// The LWA secret: which expiry to believe, an unanswered rotation request, how early to rotate (rotate-lwa and
// status read these; pure)
// ---------------------------------------------------------------------------------------------------------------

export const OLD_SECRET_GRACE_DAYS = 7;

/** An ISO 8601 time, normalised to UTC to the second; undefined for anything else. */
export function isoTime(value: unknown): string | undefined {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Amazon's clock and ours differ a little: a new secret sent up to this long before the recorded request still
 * answers it. (A rotation an earlier run asked for is never that recent: the record stops a second request.)
 */
export const CLOCK_SKEW_MS = 2 * 60 * 1000;

/** The recorded request that no stored secret answers yet, if any. */
export function unansweredRequest(record: { requestedAt?: string; issuedAt?: string }): string | undefined {
  if (!record.requestedAt) return undefined;
  if (record.issuedAt && Date.parse(record.issuedAt) >= Date.parse(record.requestedAt) - CLOCK_SKEW_MS) return undefined;
  return record.requestedAt;
}

/**
 * A secret issued on `issuedOn` lives 180 days. An expiry sooner than a week and a bit after that day is the previous
 * secret's: after a rotation the old one stops 7 days later, and Amazon may announce that, too.
 */
export const PREVIOUS_SECRET_WINDOW_DAYS = 8.5;

export function isPreviousSecretsExpiry(expiry: string, issuedOn: string): boolean {
  return Date.parse(expiry) < Date.parse(`${issuedOn}T00:00:00Z`) + PREVIOUS_SECRET_WINDOW_DAYS * DAY_MS;
}

export interface ExpiryEvidence {
  /** Amazon's expiry time from an expiry notification read in this run (the newest). */
  fromMessage?: string;
  /** Config lwaClientSecretExpiresAt: Amazon's expiry time recorded by an earlier run. */
  fromConfig?: string;
  /** Config lwaClientSecretIssuedOn. */
  issuedOn?: string;
}

export interface Expiry {
  expiresAt?: string;
  source?: "Amazon's notification" | "Amazon's time recorded in lwaClientSecretExpiresAt" | "lwaClientSecretIssuedOn + 180 days";
  /** Amazon's time minus issuedOn + 180 days, in whole days, when they differ by a day or more. */
  disagreementDays?: number;
  /** Why the recorded time was not believed. */
  ignored?: string;
}

/**
 * The expiry to believe: Amazon's own (this run's message, else the one recorded), else the tracked issue day + 180.
 * A recorded time within a week and a bit of the stored secret's issue day is the previous secret's (left from before a
 * rotation done by hand), and ignored; dispose() already sets such messages aside.
 */
export function currentExpiry(ev: ExpiryEvidence): Expiry {
  const tracked = ev.issuedOn ? `${addDays(ev.issuedOn, LWA_SECRET_LIFETIME_DAYS)}T00:00:00Z` : undefined;
  let amazon: string | undefined;
  let source: Expiry["source"];
  let ignored: string | undefined;
  if (ev.fromMessage) {
    amazon = ev.fromMessage;
    source = "Amazon's notification";
  } else if (ev.fromConfig) {
    const recorded = isoTime(ev.fromConfig);
    if (recorded && ev.issuedOn && isPreviousSecretsExpiry(recorded, ev.issuedOn)) {
      ignored =
        `lwaClientSecretExpiresAt (${recorded}) ends within ${PREVIOUS_SECRET_WINDOW_DAYS} days of lwaClientSecretIssuedOn (${ev.issuedOn}), so it is ` +
        "the previous secret's: ignored. Fix: npm run pulumi -- config rm lwaClientSecretExpiresAt";
    } else if (recorded) {
      amazon = recorded;
      source = "Amazon's time recorded in lwaClientSecretExpiresAt";
    }
  }
  if (amazon) {
    // By calendar day (UTC), as the words say it: Amazon's 2027-06-03T13:00Z and a tracked 2027-06-03 agree.
    const days = tracked ? Math.round((Date.parse(amazon.slice(0, 10)) - Date.parse(tracked.slice(0, 10))) / DAY_MS) : 0;
    return { expiresAt: amazon, source, ...(days !== 0 ? { disagreementDays: days } : {}), ...(ignored ? { ignored } : {}) };
  }
  if (tracked) return { expiresAt: tracked, source: "lwaClientSecretIssuedOn + 180 days", ...(ignored ? { ignored } : {}) };
  return ignored ? { ignored } : {};
}

/**
 * How many days before expiry --if-due rotates. A rotation ends the old secret 7 days later: where a person must
 * hand the block to some job, rotating earlier than 7 days before expiry would only move their deadline closer
 * (Amazon's own sample rotates at 7 days or less for this reason).
 */
export function rotationLeadDays(warningDays: number, manualDelivery?: string): { days: number; reason?: string } {
  if (!manualDelivery || warningDays <= OLD_SECRET_GRACE_DAYS) return { days: warningDays };
  return {
    days: OLD_SECRET_GRACE_DAYS,
    reason: `${manualDelivery}, so it rotates no earlier than ${OLD_SECRET_GRACE_DAYS} days before expiry (not lwaExpiryWarningDays ${warningDays})`,
  };
}
