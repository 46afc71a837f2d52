/**
 * Which step of an access key rotation is due, from evidence: the stack's last deployment (its
 * `accessKeySlots` and `accessKeyId` outputs), its config, IAM's list of the user's keys with their
 * last use, and the clock. Pure: no I/O, the time is an argument.
 *
 * The phases follow AWS's own rotation guidance: create the second key, move the jobs, check that the old
 * key is no longer used, deactivate it, delete it. Each step is a config change the rotation guard of
 * `pulumi up` accepts, so a wrong decision here can still not replace the key jobs use.
 */
import type { AdoptionRecord, PreviousKeyState } from "../../src/config";
import { maskKeyId } from "../../lib/output";
import { addDays, deployedGeneration, keyPhaseOf, keyUnusedFor, type KeyPhase, type KeyStatus, type SlotRecord } from "../../src/lifecycle";

export type Phase = KeyPhase;
export type Step = "start" | "deactivate" | "delete" | "none";

/** The config keys the rotation reads, validated (validateConfig supplies the defaults). */
export interface RotationConfig {
  accessKeyGeneration: number;
  previousAccessKey: PreviousKeyState;
  maxAccessKeyAgeDays: number;
  keyRotationLeadDays: number;
  keyQuietHours: number;
  keyInactiveDays: number;
}

/** What the last `pulumi up` recorded. */
export interface DeployedKeys {
  slots?: readonly SlotRecord[];
  /** The newest key's id (output `accessKeyId`). */
  accessKeyId?: string;
}

/** One key as IAM lists it, with its last use (GetAccessKeyLastUsed). */
export interface IamKey {
  id: string;
  status: KeyStatus;
  /** ISO 8601 */
  createDate: string;
  /** ISO 8601; absent when IAM has no record of a use. */
  lastUsedDate?: string;
  /** "N/A" from IAM when never used; kept as IAM says it. */
  lastUsedService?: string;
  lastUsedRegion?: string;
}

export interface KeyEvidence extends IamKey {
  /** The key's part in the rotation, by the stack's records; "unknown" for a key the stack did not make. */
  role: "current" | "previous" | "unknown";
  /** The customer's own key an adoption recorded (npm run adopt): the previous key, not in state. */
  adopted?: boolean;
  generation?: number;
  inactiveSince?: string;
}

export interface ConfigChange {
  key: "accessKeyGeneration" | "previousAccessKey";
  value: string;
}

export interface Decision {
  phase: Phase;
  step: Step;
  reason: string;
  /** ISO date (YYYY-MM-DD) or time when something will next happen, if one is known. */
  nextDate?: string;
  evidence: KeyEvidence[];
  /** Config to set for the step (only what differs from the config now). Empty with a step: the config is already set. */
  changes: ConfigChange[];
  /** The step was already set in config by an interrupted run (or by hand): finish it with `pulumi up`. */
  resumed: boolean;
  /** Config an interrupted run set that the evidence no longer supports: put back, nothing deployed. */
  restore: ConfigChange[];
  /** The evidence contradicts itself or the stack: refuse to act (exit 1). */
  refused: boolean;
  /**
   * The step is taken on the adopted key through IAM (UpdateAccessKey, DeleteAccessKey), not by pulumi up: the key
   * is not in state. `adoption` is the record to set first (undefined: already set).
   */
  viaIam?: { keyId: string; adoption?: AdoptionRecord; adoptionAfter?: AdoptionRecord };
}

export interface DecideInput {
  config: RotationConfig & { adoption?: AdoptionRecord };
  deployed: DeployedKeys;
  iam: readonly IamKey[];
  now: Date;
  ifDue: boolean;
}

const HOUR_MS = 60 * 60 * 1000;

const day = (iso: string) => iso.slice(0, 10);

function describeUse(key: IamKey): string {
  if (!key.lastUsedDate) return "never used (by IAM's record)";
  return `last used ${key.lastUsedDate} by ${key.lastUsedService ?? "an unknown service"} in ${key.lastUsedRegion ?? "an unknown region"}`;
}

/** The previous key's state the deployment implies; undefined where any value deploys the same (generation 1, one key). */
function deployedPreviousState(slots: readonly SlotRecord[], generation: number): PreviousKeyState | undefined {
  const previous = slots.find((s) => s.generation === generation - 1);
  if (previous) return previous.status === "Inactive" ? "inactive" : "active";
  return generation >= 2 ? "removed" : undefined;
}

function phaseOf(slots: readonly SlotRecord[], generation: number): Phase {
  return keyPhaseOf(slots, generation).phase;
}

/** The config a step leaves behind, from the deployed generation. */
function targetOf(step: Exclude<Step, "none">, generation: number): { accessKeyGeneration: number; previousAccessKey: PreviousKeyState } {
  if (step === "start") return { accessKeyGeneration: generation + 1, previousAccessKey: "active" };
  return { accessKeyGeneration: generation, previousAccessKey: step === "deactivate" ? "inactive" : "removed" };
}

function changesFor(step: Exclude<Step, "none">, generation: number, config: RotationConfig): ConfigChange[] {
  const target = targetOf(step, generation);
  const changes: ConfigChange[] = [];
  // previousAccessKey first: a run stopped between the two sets leaves a config the guard still accepts.
  if (config.previousAccessKey !== target.previousAccessKey) changes.push({ key: "previousAccessKey", value: target.previousAccessKey });
  if (config.accessKeyGeneration !== target.accessKeyGeneration) changes.push({ key: "accessKeyGeneration", value: String(target.accessKeyGeneration) });
  return changes;
}

/** What the evidence alone calls for in a phase, as if config matched the deployment. */
interface Verdict {
  step: Step;
  reason: string;
  nextDate?: string;
}

function judgeSteady(config: RotationConfig, current: KeyEvidence, now: Date, ifDue: boolean): Verdict {
  const leadDays = config.maxAccessKeyAgeDays - config.keyRotationLeadDays;
  const startOn = addDays(current.createDate, leadDays);
  const rotateBy = addDays(current.createDate, config.maxAccessKeyAgeDays);
  const today = now.toISOString().slice(0, 10);
  const age = `the key ${maskKeyId(current.id)} was created ${day(current.createDate)}, due for rotation by ${rotateBy} (maxAccessKeyAgeDays ${config.maxAccessKeyAgeDays})`;
  if (!ifDue) return { step: "start", reason: `rotation asked for (no --if-due); ${age}` };
  if (today >= startOn) {
    return { step: "start", reason: `${age}; rotations start keyRotationLeadDays (${config.keyRotationLeadDays}) before that, on ${startOn}` };
  }
  return { step: "none", reason: `one key, not due: ${age}; the rotation starts on ${startOn}`, nextDate: startOn };
}

function judgeHandover(config: RotationConfig, current: KeyEvidence, previous: KeyEvidence, now: Date): Verdict {
  const quietMs = config.keyQuietHours * HOUR_MS;
  const oldUse = previous.lastUsedDate ? Date.parse(previous.lastUsedDate) : undefined;
  const quietFrom = oldUse === undefined ? undefined : new Date(oldUse + quietMs).toISOString();
  const oldBusy = !keyUnusedFor(previous.lastUsedDate, config.keyQuietHours, now);
  const newUsed = current.lastUsedDate !== undefined;
  const problems: string[] = [];
  if (oldBusy) {
    problems.push(
      `the old key ${maskKeyId(previous.id)} was ${describeUse(previous)}, within keyQuietHours (${config.keyQuietHours}): a job still has the old block`,
    );
  }
  if (!newUsed) {
    problems.push(
      `the new key ${maskKeyId(current.id)} has never been used: no job has the new block yet ` +
        "(hand it to every job: npm run credentials, then npm run credentials -- --into <job config>)",
    );
  }
  if (problems.length > 0) return { step: "none", reason: `waiting: ${problems.join("; ")}`, nextDate: oldBusy ? quietFrom : undefined };
  return {
    step: "deactivate",
    // The deployment records today as inactiveSince; deletion is due keyInactiveDays later.
    nextDate: addDays(now.toISOString(), config.keyInactiveDays),
    reason:
      `the new key ${maskKeyId(current.id)} is in use (${describeUse(current)}) and the old key ${maskKeyId(previous.id)} ` +
      `has gone unused for keyQuietHours (${config.keyQuietHours}): ${describeUse(previous)}`,
  };
}

function judgeInactive(config: RotationConfig, current: KeyEvidence, previous: KeyEvidence, now: Date): Verdict {
  const today = now.toISOString().slice(0, 10);
  if (!previous.inactiveSince) {
    return {
      step: "none",
      reason:
        `the old key ${maskKeyId(previous.id)} is inactive, but the deployment recorded no inactiveSince (it predates the record); ` +
        "the next pulumi up records today, and keyInactiveDays count from then",
    };
  }
  const deleteOn = addDays(previous.inactiveSince, config.keyInactiveDays);
  if (today < deleteOn) {
    return {
      step: "none",
      reason: `the old key ${maskKeyId(previous.id)} has been inactive since ${previous.inactiveSince}; it is deleted after keyInactiveDays (${config.keyInactiveDays}), on ${deleteOn}`,
      nextDate: deleteOn,
    };
  }
  const usedSince = current.lastUsedDate !== undefined && day(current.lastUsedDate) >= previous.inactiveSince;
  if (!usedSince) {
    return {
      step: "none",
      reason:
        `the old key ${maskKeyId(previous.id)} has been inactive since ${previous.inactiveSince}, but the new key ${maskKeyId(current.id)} ` +
        `has not been used since then (${describeUse(current)}): check that the jobs run before the old key is deleted`,
    };
  }
  return {
    step: "delete",
    nextDate: addDays(current.createDate, config.maxAccessKeyAgeDays - config.keyRotationLeadDays),
    reason:
      `the old key ${maskKeyId(previous.id)} has been inactive since ${previous.inactiveSince} (keyInactiveDays ${config.keyInactiveDays}) ` +
      `and the new key ${maskKeyId(current.id)} is still in use (${describeUse(current)})`,
  };
}

function refusal(phase: Phase, evidence: KeyEvidence[], reason: string): Decision {
  return { phase, step: "none", reason, evidence, changes: [], resumed: false, restore: [], refused: true };
}

/**
 * IAM's keys against the stack's: the newest key must be the output's accessKeyId and Active, the number of
 * keys must match the slots, the other key must have the recorded status and be the older one. Anything
 * else means a key was made, changed or deleted outside this stack.
 */
function crossCheck(slots: readonly SlotRecord[], generation: number, accessKeyId: string | undefined, evidence: KeyEvidence[]): string | undefined {
  const fix =
    "rotate-key acts only when IAM agrees with the stack. Fix the key by hand (aws iam list-access-keys, then update- or delete-access-key) or run npm run pulumi -- refresh, and run again";
  const stray = evidence.filter((k) => k.role === "unknown");
  const current = evidence.find((k) => k.role === "current");
  if (!accessKeyId) return `the stack has no accessKeyId output; deploy it first (npm run pulumi -- up). ${fix}`;
  if (!current) return `IAM does not list the stack's key ${maskKeyId(accessKeyId)} (deleted outside the stack?). ${fix}`;
  if (current.status !== "Active")
    return `IAM shows the stack's newest key ${maskKeyId(current.id)} as ${current.status}, the stack deployed it Active. ${fix}`;
  const recordedPrevious = slots.find((s) => s.generation === generation - 1);
  const previous = evidence.find((k) => k.role === "previous");
  if (stray.length > 0) {
    const what = stray.map((k) => `${maskKeyId(k.id)} (created ${day(k.createDate)}, ${k.status})`).join(", ");
    const newer = stray.some((k) => k.createDate > current.createDate);
    return (
      `IAM lists ${stray.length === 1 ? "a key" : "keys"} the stack did not make: ${what}` +
      (newer ? ", newer than the stack's key: a key made by hand?" : "") +
      `. The stack records ${slots.length} key${slots.length === 1 ? "" : "s"}. ${fix}`
    );
  }
  if (recordedPrevious && !previous) {
    return `the stack records an old key (generation ${recordedPrevious.generation}) but IAM lists none: deleted outside the stack? ${fix}`;
  }
  if (recordedPrevious && previous && recordedPrevious.status && previous.status !== recordedPrevious.status) {
    return `IAM shows the old key ${maskKeyId(previous.id)} as ${previous.status}, the stack deployed it ${recordedPrevious.status}. ${fix}`;
  }
  return undefined;
}

/** Evidence: IAM's keys, each given its part by the stack's records. */
function evidenceOf(slots: readonly SlotRecord[], generation: number, accessKeyId: string | undefined, iam: readonly IamKey[]): KeyEvidence[] {
  const current = iam.find((k) => k.id === accessKeyId);
  const recordedPrevious = slots.find((s) => s.generation === generation - 1);
  return iam.map((key): KeyEvidence => {
    if (key === current) return { ...key, role: "current", generation };
    // The old key has no id in the outputs: it is the one other key, older than the current one.
    const others = iam.filter((k) => k !== current);
    const isPrevious = recordedPrevious && current && others.length === 1 && key.createDate <= current.createDate;
    if (isPrevious) {
      return {
        ...key,
        role: "previous",
        generation: recordedPrevious.generation,
        ...(recordedPrevious.inactiveSince ? { inactiveSince: recordedPrevious.inactiveSince } : {}),
      };
    }
    return { ...key, role: "unknown" };
  });
}

/**
 * The adopted key (the customer's own, recorded by npm run adopt) while IAM still lists it: it is the previous key,
 * retired on the same evidence as any previous key, but through IAM, since it is not in state. The inactiveSince
 * record is written before UpdateAccessKey, so a run killed between the two is finished (or undone) by the next.
 */
function decideAdopted(input: DecideInput, slots: readonly SlotRecord[], generation: number, adoption: AdoptionRecord, adoptedKey: IamKey): Decision {
  const { config, deployed, iam, now } = input;
  const currentKey = iam.find((k) => k.id === deployed.accessKeyId);
  const adopted: KeyEvidence = {
    ...adoptedKey,
    role: "previous",
    adopted: true,
    ...(adoption.accessKeyInactiveSince ? { inactiveSince: adoption.accessKeyInactiveSince } : {}),
  };
  const evidence: KeyEvidence[] = iam.map((k) =>
    k === adoptedKey ? adopted : k === currentKey ? { ...k, role: "current", generation } : { ...k, role: "unknown" },
  );
  const phase: Phase = adoptedKey.status === "Active" ? "handover" : "old-key-inactive";
  const fix =
    "rotate-key acts only when IAM agrees with the stack. Fix the keys by hand (aws iam list-access-keys) or run npm run pulumi -- refresh, and run again";
  if (!currentKey || currentKey.status !== "Active")
    return refusal(phase, evidence, `IAM does not list the stack's key ${maskKeyId(deployed.accessKeyId ?? "?")} as Active. ${fix}`);
  if (slots.length !== 1 || evidence.some((k) => k.role === "unknown")) {
    return refusal(phase, evidence, `beside the adopted key ${maskKeyId(adoptedKey.id)}, IAM and the stack should hold exactly the stack's one key. ${fix}`);
  }
  const current = evidence.find((k) => k.role === "current")!;
  const base = { phase, evidence, refused: false, changes: [], restore: [] };
  const today = now.toISOString().slice(0, 10);
  const withSince = (since: string | undefined): AdoptionRecord => {
    const { accessKeyInactiveSince: _dropped, ...rest } = adoption;
    return since ? { ...rest, accessKeyInactiveSince: since } : rest;
  };
  if (adoptedKey.status === "Active") {
    const verdict = judgeHandover(config, current, adopted, now);
    const reason = `the adopted key ${maskKeyId(adoptedKey.id)} (the customer's own, not in state) is the previous key: ${verdict.reason}`;
    if (verdict.step === "deactivate") {
      const resumed = adoption.accessKeyInactiveSince !== undefined;
      return {
        ...base,
        step: "deactivate",
        reason,
        resumed,
        ...(verdict.nextDate ? { nextDate: verdict.nextDate } : {}),
        viaIam: { keyId: adoptedKey.id, ...(resumed ? {} : { adoption: withSince(today) }) },
      };
    }
    // A deactivation an interrupted run recorded, which the evidence no longer supports: the record goes.
    if (adoption.accessKeyInactiveSince)
      return {
        ...base,
        step: "none",
        reason,
        resumed: false,
        ...(verdict.nextDate ? { nextDate: verdict.nextDate } : {}),
        viaIam: { keyId: adoptedKey.id, adoption: withSince(undefined) },
      };
    return { ...base, step: "none", reason, resumed: false, ...(verdict.nextDate ? { nextDate: verdict.nextDate } : {}) };
  }
  if (!adoption.accessKeyInactiveSince) {
    return {
      ...base,
      step: "none",
      reason: `the adopted key ${maskKeyId(adoptedKey.id)} is inactive, deactivated outside rotate-key: keyInactiveDays (${config.keyInactiveDays}) count from today, recorded now`,
      resumed: false,
      viaIam: { keyId: adoptedKey.id, adoption: withSince(today) },
    };
  }
  const verdict = judgeInactive(config, current, adopted, now);
  // Once deleted, the key leaves the record (written after the delete: a run killed before it finds the key gone).
  const { accessKeyId: _id, accessKeyInactiveSince: _since, ...retired } = adoption;
  return {
    ...base,
    ...verdict,
    reason: `the adopted key (not in state): ${verdict.reason}`,
    resumed: false,
    ...(verdict.step === "delete" ? { viaIam: { keyId: adoptedKey.id, adoptionAfter: retired } } : {}),
  };
}

export function decide(input: DecideInput): Decision {
  const { config, deployed, iam, now, ifDue } = input;
  const slots = deployed.slots ?? [];
  const generation = deployedGeneration(slots);
  if (generation === undefined) {
    return refusal("steady", [], "the stack has no accessKeySlots output: it has not been deployed (or predates them); deploy it first (npm run pulumi -- up)");
  }
  const adoptedKey = config.adoption?.accessKeyId ? iam.find((k) => k.id === config.adoption!.accessKeyId) : undefined;
  if (adoptedKey) return decideAdopted(input, slots, generation, config.adoption!, adoptedKey);
  const evidence = evidenceOf(slots, generation, deployed.accessKeyId, iam);
  const phase = phaseOf(slots, generation);
  const mismatch = crossCheck(slots, generation, deployed.accessKeyId, evidence);
  if (mismatch) return refusal(phase, evidence, mismatch);

  const current = evidence.find((k) => k.role === "current")!;
  const previous = evidence.find((k) => k.role === "previous");
  const verdict =
    phase === "steady"
      ? judgeSteady(config, current, now, ifDue)
      : phase === "handover"
        ? judgeHandover(config, current, previous!, now)
        : judgeInactive(config, current, previous!, now);

  const base = { phase, evidence, refused: false };
  const pending = pendingStep(config, slots, generation, phase);
  if (pending === "foreign") {
    const implied = deployedPreviousState(slots, generation);
    return refusal(
      phase,
      evidence,
      `config differs from the last deployment in a way rotate-key did not make: accessKeyGeneration ${config.accessKeyGeneration} ` +
        `(deployed ${generation}), previousAccessKey ${config.previousAccessKey}${implied ? ` (deployed ${implied})` : ""}. ` +
        `Deploy it yourself (npm run pulumi -- up) or set it back (npm run pulumi -- config set accessKeyGeneration ${generation}` +
        `${implied ? ` && npm run pulumi -- config set previousAccessKey ${implied}` : ""}), then run again`,
    );
  }
  if (pending === undefined) {
    if (verdict.step === "none") return { ...base, ...verdict, changes: [], resumed: false, restore: [] };
    return { ...base, ...verdict, changes: changesFor(verdict.step, generation, config), resumed: false, restore: [] };
  }

  // An earlier run set this step's config and stopped before (or failed at) `pulumi up`.
  const note = `config already asks for this step (set by an interrupted run or by hand, not yet deployed): finishing it with pulumi up`;
  // A started rotation is always finished: it only adds a key, and someone asked for it.
  if (pending === "start") {
    const reason = verdict.step === "start" ? `${verdict.reason}; ${note}` : note;
    return { ...base, step: "start", reason, changes: changesFor("start", generation, config), resumed: true, restore: [] };
  }
  if (verdict.step === pending) {
    return { ...base, ...verdict, reason: `${verdict.reason}; ${note}`, changes: changesFor(pending, generation, config), resumed: true, restore: [] };
  }
  // The evidence no longer supports the half-taken step: take the config back to what is deployed.
  const implied = deployedPreviousState(slots, generation)!;
  return {
    ...base,
    ...verdict,
    step: "none",
    reason: `${verdict.reason}; config asked to ${pending} the old key (an interrupted run?), which the evidence no longer supports: previousAccessKey goes back to ${implied}`,
    changes: [],
    resumed: false,
    restore: [{ key: "previousAccessKey", value: implied }],
  };
}

/**
 * Which of our steps config already holds but the deployment does not: undefined when config matches the
 * deployment, "foreign" for a difference none of our steps makes.
 */
function pendingStep(config: RotationConfig, slots: readonly SlotRecord[], generation: number, phase: Phase): Exclude<Step, "none"> | "foreign" | undefined {
  const implied = deployedPreviousState(slots, generation);
  const sameGeneration = config.accessKeyGeneration === generation;
  const samePrevious = implied === undefined || config.previousAccessKey === implied;
  if (sameGeneration && samePrevious) return undefined;
  if (phase === "steady") {
    // Half a start: previousAccessKey is set first, so a stop between the two sets leaves (g, active).
    if (config.accessKeyGeneration === generation + 1) return "start";
    if (sameGeneration && config.previousAccessKey === "active") return "start";
    return "foreign";
  }
  if (!sameGeneration) return "foreign";
  if (phase === "handover" && config.previousAccessKey === "inactive") return "deactivate";
  if (phase === "old-key-inactive" && config.previousAccessKey === "removed") return "delete";
  return "foreign";
}

/** One key's part in `--check-unused`: whether it has gone unused for keyQuietHours. */
export interface UnusedEvidence extends IamKey {
  unused: boolean;
}

export interface UnusedVerdict {
  /** Every active key has gone unused for keyQuietHours: the switch to connectorAuth lwa may delete the user. */
  unused: boolean;
  reason: string;
  evidence: UnusedEvidence[];
}

/**
 * `--check-unused`, pure: the rule rotate-key applies before it deactivates an old key (keyUnusedFor), over every
 * active key of the user. An inactive key cannot sign a request, so it cannot be in use whatever its record says.
 */
export function judgeUnused(keys: readonly IamKey[], quietHours: number, now: Date): UnusedVerdict {
  const evidence = keys.map((k): UnusedEvidence => ({ ...k, unused: k.status === "Inactive" || keyUnusedFor(k.lastUsedDate, quietHours, now) }));
  const busy = evidence.filter((k) => !k.unused);
  if (busy.length > 0) {
    const what = busy.map((k) => `${maskKeyId(k.id)} was ${describeUse(k)}`).join("; ");
    return {
      unused: false,
      evidence,
      reason:
        `still in use: ${what}, within keyQuietHours (${quietHours}). A job still signs with this stack's key: move it to the ` +
        "LWA-only connector first (it keeps the job's client_id, client_secret and refresh_token), then check again after keyQuietHours",
    };
  }
  const active = evidence.filter((k) => k.status === "Active").length;
  return {
    unused: true,
    evidence,
    reason:
      keys.length === 0
        ? "IAM lists no access key for the user"
        : `${active === 0 ? "no active key" : `every active key (${active})`} has gone unused for keyQuietHours (${quietHours}), by IAM's record`,
  };
}
