/**
 * Decisions about the credentials found in a job config: which objects hold credentials, which of their fields
 * the stack's rotations own (the field rule, fieldChanges), what `--into` writes and what `--check` says of them. Pure: trees and the stack's
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

/**
 * What a stack's rotations change, and so what ties a job's object to the stack (the field rule, fieldChanges):
 * its LWA app (client id), its access keys, its role.
 */
export interface StackIdentity {
  /** Absent for an LWA-only block (connectorAuth lwa): it names no role. */
  roleArn?: string;
  lwaClientId?: string;
  /**
   * Every access key id of the stack: the current one and the previous one while it still exists (output
   * `accessKeyIds`), and a key an adoption recorded (adoption.accessKeyId). An object holding one of them is
   * given the current key pair.
   */
  keyIds?: readonly string[];
  /** role_arn values recorded as this stack's earlier role: an object naming one is given the current role. */
  formerRoleArns?: readonly string[];
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

function isReal(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== "" && !isPlaceholder(value);
}

/**
 * Why an object is the stack's business, field by field:
 * - `app`: its client_id is the stack's LWA app: its client_secret is the app's, whatever its refresh token;
 * - `key`: it holds one of the stack's access key ids: its key pair (and role) are the stack's IAM user's;
 * - `role`: its role_arn is one the stack recorded as its earlier role.
 * None: another customer's object.
 */
export type Share = "app" | "key" | "role";

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

export interface StaleField {
  field: CredentialField;
  /** Says how it differs, without the value of a secret. */
  why: string;
}

export interface FieldPlan {
  /** Empty: the object shares neither the stack's app nor one of its keys, and is left byte for byte. */
  shares: Share[];
  /** The fields to write, each only where the stack changed it. */
  changes: FieldChange[];
  /** Fields the rule gives the stack that differ from the block but cannot be written, and why. */
  kept: KeptField[];
  /** What `--check` says: every field of `changes` and of `kept` (not the placeholders), and how it differs. */
  stale: StaleField[];
}

/** A parsed credentials object as the field rule reads it: its fields' values, whatever their type. */
export type CredentialsObject = Readonly<Record<string, unknown>>;

/** The fields a rotation changes: the app's secret, the IAM user's key pair, and the role the key assumes. */
export const ROTATED_FIELDS: readonly CredentialField[] = ["client_secret", "aws_access_key_id", "aws_secret_access_key", "role_arn"];
/** Never rewritten in an existing object: a rotation changes none of them. */
export const NEVER_REWRITTEN: readonly CredentialField[] = ["refresh_token", "region", "client_id"];

const asString = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/**
 * The field rule: what a delivery writes into one credentials object, from the stack's identity and the new values
 * (its block). Pure over a parsed object, so every delivery target (a job config file, a runner) applies the same:
 * - `client_secret` in every object whose client_id is the stack's app, whatever its refresh token;
 * - `aws_access_key_id` and `aws_secret_access_key` in every object holding one of the stack's key ids (current or
 *   previous), only together (a new key id without its secret would break the job);
 * - `role_arn` only where the object holds one of the stack's keys or names a role the stack recorded as its earlier one;
 * - `refresh_token`, `region` and `client_id` never: a rotation changes none of them, and one app serves many
 *   authorizations (marketplaces, sellers), each with its own token and region;
 * - an object sharing neither the app nor a key is another customer's: nothing.
 * A field the object lacks is never added; a placeholder in the block is never written.
 */
export function fieldChanges(
  object: CredentialsObject,
  stack: StackIdentity,
  values: Partial<CredentialValues>,
  fields: readonly CredentialField[] = CREDENTIAL_FIELDS,
): FieldPlan {
  const has = (field: CredentialField) => fields.includes(field) && Object.prototype.hasOwnProperty.call(object, field);
  const value = (field: CredentialField) => asString(object[field]);
  const clientId = value("client_id");
  const keyId = value("aws_access_key_id");
  const role = value("role_arn");
  const shares: Share[] = [];
  if (isReal(clientId) && isReal(stack.lwaClientId) && clientId === stack.lwaClientId) shares.push("app");
  if (isReal(keyId) && (stack.keyIds ?? []).includes(keyId)) shares.push("key");
  if (isReal(role) && (stack.formerRoleArns ?? []).includes(role)) shares.push("role");
  const plan: FieldPlan = { shares, changes: [], kept: [], stale: [] };
  if (shares.length === 0) return plan;

  const covered: CredentialField[] = [];
  if (shares.includes("key")) covered.push("role_arn", "aws_access_key_id", "aws_secret_access_key");
  else if (shares.includes("role")) covered.push("role_arn");
  if (shares.includes("app")) covered.push("client_secret");

  const differs = (field: CredentialField) => {
    const current = object[field];
    const wanted = values[field];
    if (typeof current !== "string") return true;
    return SECRET_FIELDS.includes(field) ? !sameSecret(current, wanted ?? "") : current !== wanted;
  };
  // The key pair goes together: a new key id whose secret cannot be written with it is not written either.
  let pairBlocked: string | undefined;
  if (covered.includes("aws_access_key_id") && has("aws_access_key_id") && differs("aws_access_key_id")) {
    const missing = (["aws_access_key_id", "aws_secret_access_key"] as const).filter((f) => !has(f) || !isReal(values[f]));
    if (missing.length > 0) {
      // With pgpKey the block holds no key secret: the usual reason a new key id cannot be written.
      const hint = missing.includes("aws_secret_access_key") && has("aws_secret_access_key") ? " (the block has no secret for the new access key)" : "";
      pairBlocked = `aws_access_key_id would change, and ${missing.join(", ")} cannot be written with it${hint}`;
    }
  }
  for (const field of fields) {
    if (!covered.includes(field) || !has(field) || !differs(field)) continue;
    const wanted = values[field];
    if (!isReal(wanted)) {
      plan.kept.push({ field, reason: "the stack's block has only a placeholder for it", placeholder: true });
      continue;
    }
    plan.stale.push({ field, why: staleWhy(field, object[field], wanted) });
    const blocked = field === "aws_access_key_id" || field === "aws_secret_access_key" ? pairBlocked : undefined;
    if (blocked) plan.kept.push({ field, reason: blocked, placeholder: false });
    else plan.changes.push({ field, ...(typeof object[field] === "string" ? { from: object[field] as string } : {}), to: wanted });
  }
  return plan;
}

/** fieldChanges over an object found in a job config (its value nodes). */
export function planObject(object: FoundObject, stack: StackIdentity, values: Partial<CredentialValues>, fields?: readonly CredentialField[]): FieldPlan {
  const plain: Record<string, unknown> = {};
  for (const [field, node] of Object.entries(object.fields)) plain[field] = node.kind === "string" ? node.value : node.kind === "literal" ? node.value : node;
  return fieldChanges(plain, stack, values, fields);
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** Compares two secrets without branching on their contents. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

const SECRET_DIFFERS: Record<string, string> = {
  aws_secret_access_key: "a different access key secret",
  client_secret: "a different LWA client secret",
  refresh_token: "a different refresh token",
};

function staleWhy(field: CredentialField, value: unknown, wanted: string): string {
  if (typeof value !== "string") return `a ${value === null ? "null" : typeof value === "object" ? "structure" : typeof value}, not a string`;
  if (!isReal(value)) return "a placeholder or an empty value";
  if (SECRET_FIELDS.includes(field)) return SECRET_DIFFERS[field]!;
  return describeDifference(field, value, wanted);
}

function describeDifference(field: CredentialField, value: string, current: string): string {
  switch (field) {
    case "aws_access_key_id":
      return `another access key, ${maskKeyId(value)}, not the stack's newest ${maskKeyId(current)}`;
    case "client_id":
      return `another LWA client id, ${maskKeyId(value)}, not the stack's ${maskKeyId(current)}`;
    case "region":
      return `another region, not the stack's ${current}`;
    case "role_arn":
      return `another role, not the stack's ${current}`;
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
