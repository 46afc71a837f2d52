/**
 * The stack's operational state: what the commands write (rotation records, the key phase, the adoption phase, the
 * new LWA secret), as opposed to what a person sets. The store is the backend itself: each deployment exports
 * `operationalState` (plain: the revision and the non-secret values) and `operationalSecrets` (a Pulumi secret), so
 * the last deployment holds the newest state, for every run on every machine sharing the backend, a fresh clone
 * included. The committed Pulumi.<stack>.yaml may lag behind it.
 *
 * One pure rule decides which state is newest; the program (src/program.ts), the commands' Pulumi session
 * (lib/pulumi.ts) and the test stand-in's engine all apply it. No Pulumi import: it works on raw config strings.
 */
import { PROJECT } from "./config";

/** Operational keys held in plain text (operationalState). Written by the commands, never by hand in normal use. */
export const OPERATIONAL_PLAIN_KEYS = [
  // A person's until the first rotation, like lwaClientSecret: rotate-lwa writes it with the new secret.
  "lwaClientSecretIssuedOn",
  "lwaClientSecretIssuedAt",
  "lwaClientSecretExpiresAt",
  "lwaRotationRequestedAt",
  "lwaRotationSetAside",
  "accessKeyGeneration",
  "previousAccessKey",
  "adoption",
  "iamKeysUnusedAt",
] as const;

/** Operational keys held as secrets (operationalSecrets). lwaClientSecret is a person's until the first rotation. */
export const OPERATIONAL_SECRET_KEYS = ["lwaClientSecret", "lwaRotationSetAsideSecret"] as const;

export const OPERATIONAL_KEYS: readonly string[] = [...OPERATIONAL_PLAIN_KEYS, ...OPERATIONAL_SECRET_KEYS];

/** The working copy's revision of the operational state: a whole number, bumped by every command's write. */
export const STATE_REVISION_KEY = "stateRevision";

/** The commands' compare-and-set: the revision their `up` started from; the program refuses when it moved on. */
export const STATE_BASE_ENV = "SP_API_IAM_STATE_BASE";

/** The two outputs that carry the state from one deployment to the next. */
export const STATE_OUTPUT = "operationalState";
export const SECRETS_OUTPUT = "operationalSecrets";

/** The words of the program's refusal that lib/pulumi.ts recognises (reason "state-conflict"). */
export const STATE_CONFLICT_MARK = "another run changed this stack's state";

export function isOperationalKey(key: string): boolean {
  return OPERATIONAL_KEYS.includes(key);
}

/** The shape of the operationalState output. */
export interface OperationalStateOutput {
  revision: number;
  /** The non-secret operational keys that are set, as raw config strings. */
  values: Record<string, string>;
  /** The secret operational keys that are set (their values are in operationalSecrets). */
  secretKeys: string[];
}

/** What the last deployment holds. `secrets` is undefined when they could not be read (a read without decryption). */
export interface DeployedState {
  revision: number;
  values: Record<string, string>;
  secretKeys: string[];
  secrets?: Record<string, string>;
}

/** The working copy: raw config strings by key (project prefix stripped) and which of them are secrets. */
export interface WorkingCopy {
  values: Partial<Record<string, string>>;
  secretKeys: ReadonlySet<string>;
}

export type Resolution =
  | {
      kind: "resolved";
      /** The config to use: the person's keys from the working copy, the operational keys from the newest side. */
      values: Record<string, string>;
      secretKeys: Set<string>;
      /** Secret operational keys known to be set but whose value could not be read (a read without decryption). */
      unreadableSecrets: string[];
      /** The revision to export (and to write as stateRevision). */
      revision: number;
      /** Where the operational values came from: "local" (L >= D), "deployed" (L < D), "first" (nothing deployed yet). */
      source: "local" | "deployed" | "first";
      /** L < D: keys whose stale working-copy value was ignored. L == D: keys a person changed on purpose. */
      ignored: string[];
      changed: string[];
      /** Warnings to log: key names only, never a value. */
      warnings: string[];
    }
  | { kind: "conflict"; message: string };

/** A revision as the config stores it ("3"): undefined for absent, -1 for unreadable. */
export function parseRevision(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  return /^\d{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : -1;
}

/**
 * The deployed state from the two outputs as read (the non-secret one may arrive as an object or as JSON text), or
 * undefined when the last deployment exported none (a stack deployed before this feature, or never deployed).
 */
export function deployedStateFrom(stateOutput: unknown, secretsOutput: unknown): DeployedState | undefined {
  let state = stateOutput;
  if (typeof state === "string") {
    try {
      state = JSON.parse(state);
    } catch {
      return undefined;
    }
  }
  if (typeof state !== "object" || state === null) return undefined;
  const s = state as Partial<OperationalStateOutput>;
  if (typeof s.revision !== "number" || !Number.isInteger(s.revision) || s.revision < 0) return undefined;
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.values ?? {})) if (typeof v === "string" && OPERATIONAL_KEYS.includes(k)) values[k] = v;
  const secretKeys = (Array.isArray(s.secretKeys) ? s.secretKeys : []).filter((k): k is string => typeof k === "string");
  let secrets: Record<string, string> | undefined;
  let rawSecrets = secretsOutput;
  if (typeof rawSecrets === "string" && rawSecrets !== "[secret]") {
    try {
      rawSecrets = JSON.parse(rawSecrets);
    } catch {
      rawSecrets = undefined;
    }
  }
  if (typeof rawSecrets === "object" && rawSecrets !== null) {
    secrets = {};
    for (const [k, v] of Object.entries(rawSecrets)) if (typeof v === "string" && OPERATIONAL_KEYS.includes(k)) secrets[k] = v;
  }
  return { revision: s.revision, values, secretKeys, ...(secrets ? { secrets } : {}) };
}

/**
 * The two outputs a deployment exports for the config it deployed (resolved values, their revision). A key set as a
 * secret goes to the secret output, whichever list it is on: a value a person encrypted never appears in plain text.
 */
export function operationalOutputs(
  values: Partial<Record<string, string>>,
  secretKeys: ReadonlySet<string>,
  revision: number,
): { state: OperationalStateOutput; secrets: Record<string, string> } {
  const plain: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const key of OPERATIONAL_KEYS) {
    const v = values[key];
    if (v === undefined || v === "") continue;
    if (secretKeys.has(key) || (OPERATIONAL_SECRET_KEYS as readonly string[]).includes(key)) secrets[key] = v;
    else plain[key] = v;
  }
  return { state: { revision, values: plain, secretKeys: Object.keys(secrets) }, secrets };
}

const set = (v: string | undefined) => v !== undefined && v !== "";

/**
 * The newest operational state. L is the working copy's stateRevision (0 when absent), D the deployed revision.
 * - nothing deployed yet (a stack from before this feature, or a first `up`): the working copy, as today;
 * - L > D: the working copy carries state not yet deployed (a command's write): the working copy;
 * - L == D: the working copy (a person's deliberate change to an operational key is deployed);
 * - L < D: the working copy is stale: the deployed operational values win, the person's own keys are kept, and a
 *   warning names each key whose stale local value was ignored (never its value).
 * With `expectedBase` (a command's `up`: SP_API_IAM_STATE_BASE), a deployed revision other than that base is a
 * conflict: another run deployed since this one read the state.
 */
export function resolveState(input: { local: WorkingCopy; deployed?: DeployedState; expectedBase?: number }): Resolution {
  const { local, deployed, expectedBase } = input;
  const D = deployed?.revision ?? 0;
  if (expectedBase !== undefined && expectedBase !== D) {
    return {
      kind: "conflict",
      message:
        `${PROJECT}: ${STATE_CONFLICT_MARK} (the last deployment is at state revision ${D}; this run started from ${expectedBase}); ` +
        "nothing was changed. Fix: run the command again: it reads the newest state first.",
    };
  }
  const rawL = parseRevision(local.values[STATE_REVISION_KEY]);
  const L = rawL === undefined || rawL < 0 ? 0 : rawL;
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(local.values)) if (v !== undefined) values[k] = v;
  const secretKeys = new Set(local.secretKeys);
  const base = { unreadableSecrets: [] as string[], ignored: [] as string[], changed: [] as string[], warnings: [] as string[] };

  if (!deployed) {
    if (rawL !== undefined) values[STATE_REVISION_KEY] = String(L);
    return { kind: "resolved", values, secretKeys, revision: L, source: "first", ...base };
  }
  const deployedSecret = (key: string): boolean => deployed.secretKeys.includes(key);
  const deployedValue = (key: string): string | undefined => (deployedSecret(key) ? deployed.secrets?.[key] : deployed.values[key]);
  const deployedHas = (key: string): boolean => deployedSecret(key) || set(deployed.values[key]);

  if (L >= D) {
    const changed = OPERATIONAL_KEYS.filter((key) => {
      if (set(local.values[key]) !== deployedHas(key)) return true;
      const d = deployedValue(key);
      return d !== undefined && set(local.values[key]) && d !== local.values[key];
    });
    values[STATE_REVISION_KEY] = String(L);
    return { kind: "resolved", values, secretKeys, revision: L, source: "local", ...base, changed: L === D ? changed : [] };
  }

  const ignored: string[] = [];
  const unreadableSecrets: string[] = [];
  for (const key of OPERATIONAL_KEYS) {
    const secret = deployedSecret(key);
    const mine = local.values[key];
    if (!deployedHas(key)) {
      if (set(mine)) ignored.push(key);
      delete values[key];
      secretKeys.delete(key);
      continue;
    }
    const theirs = deployedValue(key);
    if (set(mine) && (theirs === undefined ? true : mine !== theirs)) ignored.push(key);
    if (theirs === undefined) {
      // A secret that is set but could not be read here (a read without decryption): known, not shown.
      delete values[key];
      unreadableSecrets.push(key);
    } else {
      values[key] = theirs;
    }
    if (secret) secretKeys.add(key);
    else secretKeys.delete(key);
  }
  values[STATE_REVISION_KEY] = String(D);
  for (const key of unreadableSecrets) secretKeys.add(key);
  const warnings =
    ignored.length === 0
      ? []
      : [
          `${PROJECT}: this working copy's state (stateRevision ${L}) is older than the last deployment's (${D}); ` +
            `the deployed value${ignored.length > 1 ? "s" : ""} of ${ignored.join(", ")} ${ignored.length > 1 ? "were" : "was"} used and the working copy's ignored. ` +
            "Your own settings are kept. Nothing to fix: the commands write these keys (docs/reference.md, 'Who writes each key').",
        ];
  return { kind: "resolved", values, secretKeys, revision: D, source: "deployed", unreadableSecrets, ignored, changed: [], warnings };
}
