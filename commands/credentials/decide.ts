/**
 * Decisions about the credentials found in a job config: which objects hold credentials, whose they are,
 * what `--into` writes into this stack's, and what `--check` says of them. Pure: trees and the stack's
 * block in, decisions out. No decision carries a secret into text: messages are built from field names,
 * masked key ids and non-secret values only.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { CREDENTIAL_FIELDS, CredentialField, CredentialValues, isPlaceholder } from "../../src/credentials";
import { maskKeyId } from "../../lib/output";
import { DocNode, DocPath } from "./documents";

/** The fields whose values are secrets: never printed, compared by digest. */
export const SECRET_FIELDS: readonly CredentialField[] = ["aws_secret_access_key", "client_secret", "refresh_token"];

/**
 * What marks an object as the connector's credentials: two or more of these. `region` alone is too common
 * a key to count.
 */
const IDENTIFYING_FIELDS: readonly CredentialField[] = CREDENTIAL_FIELDS.filter((f) => f !== "region");

/** The stack a block comes from, as far as telling its objects from other customers' goes. */
export interface StackIdentity {
  /** Absent for an LWA-only block (connectorAuth lwa): it names no role. */
  roleArn?: string;
  lwaClientId?: string;
  /**
   * The stack's LWA refresh token: with the client id, what ties an object that names no role of this stack
   * to this stack's seller. A secret: compared by digest, never printed.
   */
  refreshToken?: string;
}

export interface FoundObject {
  path: DocPath;
  /** Each credential field the object has, by its (last, as parsers read it) value node. */
  fields: Partial<Record<CredentialField, DocNode>>;
  /** Credential fields that appear more than once in the object: where an edit would go is ambiguous. */
  duplicates: CredentialField[];
}

export interface FoundNamed {
  path: DocPath;
  name: string;
}

export interface Findings {
  objects: FoundObject[];
  named: FoundNamed[];
}

function isCredentialField(key: string): key is CredentialField {
  return (CREDENTIAL_FIELDS as readonly string[]).includes(key);
}

/** Every object with the connector's credential fields, and every `credentials` that names a stored credential. */
export function findCredentials(root: DocNode): Findings {
  const findings: Findings = { objects: [], named: [] };
  const walk = (node: DocNode, at: DocPath) => {
    if (node.kind === "array") node.items.forEach((item, i) => walk(item, [...at, i]));
    if (node.kind !== "object") return;
    const fields: Partial<Record<CredentialField, DocNode>> = {};
    const duplicates = new Set<CredentialField>();
    for (const member of node.members) {
      if (isCredentialField(member.key)) {
        if (fields[member.key]) duplicates.add(member.key);
        fields[member.key] = member.value;
      }
      if (member.key === "credentials" && member.value.kind === "string") findings.named.push({ path: [...at, member.key], name: member.value.value });
    }
    if (IDENTIFYING_FIELDS.filter((f) => fields[f]).length >= 2) findings.objects.push({ path: at, fields, duplicates: [...duplicates] });
    for (const member of node.members) walk(member.value, [...at, member.key]);
  };
  walk(root, []);
  return findings;
}

function stringValue(node: DocNode | undefined): string | undefined {
  return node?.kind === "string" ? node.value : undefined;
}

function isReal(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== "" && !isPlaceholder(value);
}

/**
 * Whose an object is: this stack's, or another customer's. `unclaimed`: it names no role yet and has the stack's
 * LWA client id, but not its refresh token: a new job of this stack whose refresh token is not filled in (or
 * is older than the stack's), or another seller's job of the same app. Only the operator can tell.
 */
export type Owner = { thisStack: true } | { thisStack: false; unclaimed: boolean };

/**
 * This stack's when the object names the stack's role. Otherwise (a placeholder role, or another account's)
 * only when both its LWA client id and its refresh token are this stack's: one app often serves many
 * customers, each seller with its own refresh token, so the client id alone would claim every other customer's
 * job of the same app and hand it this seller's data. The current values are the only ones: an LWA secret
 * rotation changes neither, and the stack keeps no earlier ones.
 */
export function ownerOf(object: FoundObject, stack: StackIdentity): Owner {
  const role = stringValue(object.fields.role_arn);
  if (isReal(role) && role === stack.roleArn) return { thisStack: true };
  const clientId = stringValue(object.fields.client_id);
  const refreshToken = stringValue(object.fields.refresh_token);
  const sameApp = isReal(clientId) && isReal(stack.lwaClientId) && clientId === stack.lwaClientId;
  const sameSeller = isReal(refreshToken) && isReal(stack.refreshToken) && sameSecret(refreshToken, stack.refreshToken);
  if (sameApp && sameSeller) return { thisStack: true };
  return { thisStack: false, unclaimed: sameApp && !isReal(role) };
}

export function isThisStacks(object: FoundObject, stack: StackIdentity): boolean {
  return ownerOf(object, stack).thisStack;
}

/** Fields that belong together: writing one without the others would leave a job with a broken pair. */
const GROUPS: { lead: CredentialField; members: CredentialField[] }[] = [
  { lead: "aws_access_key_id", members: ["aws_access_key_id", "aws_secret_access_key"] },
  { lead: "client_id", members: ["client_id", "client_secret", "refresh_token"] },
];

export interface FieldChange {
  field: CredentialField;
  from?: string;
  to: string;
}

export interface KeptField {
  field: CredentialField;
  reason: string;
  /** Kept because the block has no value for it: the job's own value may well be right. */
  placeholder: boolean;
}

export interface UpdatePlan {
  changes: FieldChange[];
  /** Fields that differ from the block but are left as they are, and why. */
  kept: KeptField[];
  /** Credential fields the object does not have: not added. */
  absent: CredentialField[];
}

/**
 * What `--into` writes into one of this stack's objects: each of the block's fields present whose value differs
 * from the block's. A placeholder in the block is never written; an access key id or LWA client id changes only
 * together with the secrets that go with it. `fields`: the fields the block holds (an LWA-only block's three);
 * the object's other fields are not the block's business and are left as they are.
 */
export function planUpdate(object: FoundObject, block: Partial<CredentialValues>, fields: readonly CredentialField[] = CREDENTIAL_FIELDS): UpdatePlan {
  const plan: UpdatePlan = { changes: [], kept: [], absent: [] };
  const writable = (field: CredentialField) => object.fields[field] !== undefined && isReal(block[field]);
  const blocked = new Map<CredentialField, string>();
  for (const group of GROUPS) {
    if (!fields.includes(group.lead)) continue;
    const node = object.fields[group.lead];
    const leadChanges = node !== undefined && stringValue(node) !== block[group.lead];
    const missing = group.members.filter((f) => !writable(f));
    if (!leadChanges || missing.length === 0) continue;
    // With pgpKey the block holds no key secret: the usual reason a new key id cannot be written.
    const hint = missing.includes("aws_secret_access_key") && object.fields.aws_secret_access_key ? " (the block has no secret for the new access key)" : "";
    const why = `${group.lead} would change, and ${list(missing)} cannot be written with it${hint}`;
    for (const f of group.members) blocked.set(f, why);
  }
  for (const field of fields) {
    const node = object.fields[field];
    if (node === undefined) {
      plan.absent.push(field);
      continue;
    }
    const current = stringValue(node);
    const wanted = block[field];
    if (current === wanted && node.kind === "string") continue;
    if (!isReal(wanted)) {
      plan.kept.push({ field, reason: "the stack's block has only a placeholder for it", placeholder: true });
      continue;
    }
    const blockedBy = blocked.get(field);
    if (blockedBy) plan.kept.push({ field, reason: blockedBy, placeholder: false });
    else plan.changes.push({ field, from: current, to: wanted });
  }
  return plan;
}

function list(fields: readonly CredentialField[]): string {
  return fields.join(", ");
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** Compares two secrets without branching on their contents. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export interface StaleField {
  field: CredentialField;
  /** Says how it differs, without the value of a secret. */
  why: string;
}

export interface CheckResult {
  stale: StaleField[];
  /** Fields the block has no value for (placeholders): not compared. */
  notCompared: CredentialField[];
}

const SECRET_DIFFERS: Record<string, string> = {
  aws_secret_access_key: "a different access key secret",
  client_secret: "a different LWA client secret",
  refresh_token: "a different refresh token",
};

/** `--check`: which of an object's fields are not the stack's current values. */
export function checkObject(object: FoundObject, block: Partial<CredentialValues>, fields: readonly CredentialField[] = CREDENTIAL_FIELDS): CheckResult {
  const result: CheckResult = { stale: [], notCompared: [] };
  for (const field of fields) {
    const node = object.fields[field];
    if (node === undefined) continue;
    const wanted = block[field];
    if (!isReal(wanted)) {
      result.notCompared.push(field);
      continue;
    }
    const value = stringValue(node);
    if (value === undefined) {
      result.stale.push({ field, why: `a ${node.kind === "literal" ? String(typeof node.value) : node.kind}, not a string` });
    } else if (!isReal(value)) {
      result.stale.push({ field, why: "a placeholder or an empty value" });
    } else if (SECRET_FIELDS.includes(field)) {
      if (!sameSecret(value, wanted)) result.stale.push({ field, why: SECRET_DIFFERS[field] });
    } else if (value !== wanted) {
      result.stale.push({ field, why: describeDifference(field, value, wanted) });
    }
  }
  return result;
}

function describeDifference(field: CredentialField, value: string, current: string): string {
  switch (field) {
    case "aws_access_key_id":
      return `another access key, ${maskKeyId(value)}, not the stack's newest ${maskKeyId(current)}`;
    case "client_id":
      return `another LWA client id, ${maskKeyId(value)}, not the stack's ${maskKeyId(current)}`;
    case "region":
      return `another region, not the stack's ${current}`;
    default:
      // The object's own value is not shown: a value in the wrong field may be a secret.
      return `a different value from the stack's ${current}`;
  }
}

/** A field's new value as `--dry-run` shows it: key ids and client ids masked, secrets not at all. */
export function maskedValue(field: CredentialField, value: string): string {
  if (SECRET_FIELDS.includes(field)) return "secret";
  if (field === "aws_access_key_id" || field === "client_id") return maskKeyId(value);
  return value;
}
