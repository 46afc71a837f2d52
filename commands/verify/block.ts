/**
 * Step 1: reading the HJSON credentials block the connector takes (src/credentials.template.hjson).
 * Pure: text in, a typed block or the problems out, and the values to hide either way. Never puts a value in
 * a message beyond its shape (length, character classes): a secret may sit in the wrong field.
 */
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, CredentialField, CredentialValues, isPlaceholder, LWA_ONLY_FIELDS } from "../../src/credentials";
import { LWA_CLIENT_ID, LWA_CLIENT_SECRET, LWA_LEGACY_CLIENT_SECRET, LWA_REFRESH_TOKEN_PREFIX } from "../../src/config";
import { SP_API_REGIONS, SP_API_REGION_NAMES, SpApiRegion, spApiRegionForAwsRegion } from "../../policies/regions";
import { maskKeyId } from "../../lib/output";

/** The fields the AWS steps (GetCallerIdentity, AssumeRole) use, and those the LWA steps use. */
export const AWS_FIELDS = ["role_arn", "aws_access_key_id", "aws_secret_access_key"] as const satisfies readonly CredentialField[];
export const LWA_FIELDS = ["client_id", "client_secret", "refresh_token"] as const satisfies readonly CredentialField[];

/** arn:<partition>:iam::<account>:<role|user>/<optional path/>name */
const IAM_PRINCIPAL_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):(role|user)\/(?:[\x21-\x7E]*\/)?([\w+=,.@-]{1,64})$/;
const AWS_ACCESS_KEY_ID = /^AKIA[A-Z2-7]{16}$/;
/** Any access key id, long-term (AKIA) or temporary (ASIA): safe to show masked. */
const AWS_KEY_ID_SHAPE = /^A[KS]IA[A-Z0-9]{12,124}$/;

export interface IamArn {
  partition: string;
  account: string;
  kind: "role" | "user";
  name: string;
}

export function parseIamArn(arn: string): IamArn | undefined {
  const m = IAM_PRINCIPAL_ARN.exec(arn);
  return m ? { partition: m[1], account: m[2], kind: m[3] as "role" | "user", name: m[4] } : undefined;
}

export interface CredentialsBlock {
  values: CredentialValues;
  spApiRegion: SpApiRegion;
  /** Undefined only when role_arn is a placeholder (the AWS steps are then skipped). */
  roleArn?: IamArn;
  /** Fields still holding a placeholder such as "<your-client-id>". */
  placeholders: CredentialField[];
  /** Things that look wrong but that only the services can judge (shown, not failed). */
  remarks: string[];
}

/** Values to keep out of every printed line, found in the input whether or not it is a valid block. */
export interface ValuesToHide {
  /** Never printed: the secret fields, and any value not proven harmless by its shape (a secret pasted into
   * role_arn or region, an unknown field). */
  secrets: string[];
  /** Access key ids, printed masked (AKIA…WXYZ). */
  keyIds: string[];
}

export type BlockResult = ({ ok: true; block: CredentialsBlock } | { ok: false; problems: string[] }) & { hide: ValuesToHide };

/** A credentials block is about 1 KiB; parsing 50 MB of HJSON took 12 s and 1.8 GB. */
export const MAX_INPUT_BYTES = 64 * 1024;

const allowedRegions = SP_API_REGION_NAMES.map((r) => `${SP_API_REGIONS[r].awsRegion} (${r})`).join(", ");

const SECRET_FIELDS: readonly CredentialField[] = ["aws_secret_access_key", "client_secret", "refresh_token"];
/** An AWS region name ("eu-central-1"): a value of this shape cannot be a secret, so it may be shown. */
const AWS_REGION_SHAPE = /^[a-z]{2}(-[a-z]+){1,3}-\d{1,2}$/;
/** The shapes that prove a non-secret field holds what it should, and so may be shown. */
const HARMLESS_SHAPE: Partial<Record<CredentialField, RegExp>> = {
  region: AWS_REGION_SHAPE,
  role_arn: IAM_PRINCIPAL_ARN,
  client_id: LWA_CLIENT_ID,
};

/** A value's shape without its content: "40 characters: upper-case letters, digits, punctuation". */
export function describeShape(value: string): string {
  const classes: [string, RegExp][] = [
    ["upper-case letters", /[A-Z]/],
    ["lower-case letters", /[a-z]/],
    ["digits", /[0-9]/],
    ["punctuation", /[!-/:-@[-`{-~]/],
    ["spaces", / /],
    ["control characters", /[\u0000-\u001f\u007f-\u009f]/],
    ["non-ASCII characters", /[^\u0000-\u00ff]/],
  ];
  const length = [...value].length;
  const present = classes.filter(([, re]) => re.test(value)).map(([name]) => name);
  return `${length} character${length === 1 ? "" : "s"}${present.length > 0 ? `: ${present.join(", ")}` : ""}`;
}

/** How messages name the block's access key id: masked when it has a key id's shape, else by shape alone
 * (a secret pasted there would otherwise show its first and last four characters). */
export function describeKeyId(keyId: string): string {
  return AWS_KEY_ID_SHAPE.test(keyId) ? maskKeyId(keyId) : `in aws_access_key_id (${describeShape(keyId)}; not shaped like an access key id)`;
}

/** Hjson's messages quote the text around the fault, which may be a secret: keep only "at line L,C". */
function parseErrorWithoutText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const head = message.split(">>>")[0].trim();
  const where = /at line \d+,\d+/.exec(head)?.[0];
  const what = head
    .replace(/\s*at line \d+,\d+.*$/s, "")
    .replace(/\s*\(check your syntax[^)]*\)/, "")
    // "Expected ':' instead of 'x'" quotes a character of the input.
    .replace(/ instead of '.*'$/s, "");
  return where ? `${what} ${where}` : what;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Keys that appear more than once in an object Hjson parsed with keepWsc (which records every key in
 * order, repeats included; the values keep only the last). */
function repeatedKeys(object: Record<string, unknown>): Map<string, number> {
  const order = (object as { __COMMENTS__?: { o?: unknown } }).__COMMENTS__?.o;
  const counts = new Map<string, number>();
  if (Array.isArray(order)) for (const key of order) if (typeof key === "string") counts.set(key, (counts.get(key) ?? 0) + 1);
  return new Map([...counts].filter(([, n]) => n > 1));
}

/** A key as messages may name it: a field name, or a plain identifier; anything else is not shown. */
function keyName(key: string): string {
  return /^[A-Za-z_][\w-]{0,63}$/.test(key) ? key : `a key of ${describeShape(key)}`;
}

function collectValuesToHide(objects: readonly Record<string, unknown>[]): ValuesToHide {
  const hide: ValuesToHide = { secrets: [], keyIds: [] };
  for (const object of objects) {
    for (const [key, value] of Object.entries(object)) {
      if (typeof value !== "string" || isPlaceholder(value)) continue;
      const field = key as CredentialField;
      if (field === "aws_access_key_id" && AWS_KEY_ID_SHAPE.test(value)) hide.keyIds.push(value);
      else if (SECRET_FIELDS.includes(field) || !HARMLESS_SHAPE[field]?.test(value)) hide.secrets.push(value);
    }
  }
  return hide;
}

function parseHjson(text: string): unknown {
  const parsed: unknown = Hjson.parse(text, { keepWsc: true });
  return typeof parsed === "string" ? Hjson.parse(parsed, { keepWsc: true }) : parsed;
}

/** Reads the block: `credentials: { ... }` or the bare object; also a JSON string holding either
 * (what `pulumi stack output --json credentials` prints). A leading byte-order mark is ignored. */
export function parseCredentialsBlock(input: string): BlockResult {
  const none: ValuesToHide = { secrets: [], keyIds: [] };
  const text = input.replace(/^\uFEFF/, "");
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_INPUT_BYTES) {
    return {
      ok: false,
      problems: [`the input is ${Math.ceil(bytes / 1024)} KiB, more than the ${MAX_INPUT_BYTES / 1024} KiB limit (a credentials block is about 1 KiB)`],
      hide: none,
    };
  }
  if (text.trim() === "") return { ok: false, problems: ["the input is empty"], hide: none };
  let parsed: unknown;
  try {
    parsed = parseHjson(text);
  } catch (error) {
    return { ok: false, problems: [`not valid HJSON: ${parseErrorWithoutText(error)}`], hide: none };
  }
  if (!isRecord(parsed)) return { ok: false, problems: ["the input is not an HJSON object (expected credentials: { ... })"], hide: none };
  const wrapped = isRecord(parsed.credentials);
  const object = wrapped ? (parsed.credentials as Record<string, unknown>) : parsed;
  const hide = collectValuesToHide(wrapped ? [object, parsed] : [object]);

  const problems: string[] = [];
  const outer = repeatedKeys(parsed);
  const blocks = outer.get("credentials");
  if (wrapped && blocks) problems.push(`the input holds ${blocks} credentials blocks; give one (which one is meant cannot be told)`);
  const stray = wrapped ? CREDENTIAL_FIELDS.filter((f) => f in parsed) : [];
  if (stray.length > 0) problems.push(`the input holds a credentials: { ... } block and, outside it, ${stray.join(", ")}; give one block`);
  for (const [key, count] of wrapped ? repeatedKeys(object) : outer) {
    if (key !== "credentials" || !wrapped) problems.push(`${keyName(key)} appears ${count} times; give it once`);
  }
  if (problems.length > 0) return { ok: false, problems, hide };

  const lwaOnly =
    LWA_ONLY_FIELDS.every((f) => f in object) && CREDENTIAL_FIELDS.every((f) => (LWA_ONLY_FIELDS as readonly string[]).includes(f) || !(f in object));
  if (lwaOnly) {
    // Without a region the SP-API host is unknown: it sits in the job's own endpoint, outside the block.
    problems.push(
      "this is an LWA-only block (client_id, client_secret, refresh_token: connectorAuth lwa, docs/lwa-only.md); " +
        "npm run verify checks the seven-field block of connectorAuth iam and cannot check this one",
    );
    return { ok: false, problems, hide };
  }
  const values: Partial<CredentialValues> = {};
  for (const field of CREDENTIAL_FIELDS) {
    const value = object[field];
    if (value === undefined || value === null) problems.push(`${field} is missing`);
    else if (typeof value !== "string") problems.push(`${field} is a ${Array.isArray(value) ? "list" : typeof value}, not a string (quote it: "...")`);
    else if (value.trim() === "") problems.push(`${field} is empty`);
    else values[field] = value;
  }
  if (problems.length > 0) return { ok: false, problems, hide };
  const complete = values as CredentialValues;

  const spApiRegion = spApiRegionForAwsRegion(complete.region);
  if (!spApiRegion) {
    // A region name is shown (it helps, and has no room for a secret); anything else only by its shape.
    const given = AWS_REGION_SHAPE.test(complete.region) ? JSON.stringify(complete.region) : `(${describeShape(complete.region)}; not a region name)`;
    problems.push(`region ${given} is not an SP-API signing region; allowed: ${allowedRegions}`);
  }
  const placeholders = CREDENTIAL_FIELDS.filter((f) => f !== "region" && isPlaceholder(complete[f]));
  const roleArn = parseIamArn(complete.role_arn);
  if (!roleArn && !placeholders.includes("role_arn")) {
    problems.push(`role_arn (${describeShape(complete.role_arn)}) is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)`);
  }
  if (problems.length > 0 || !spApiRegion) return { ok: false, problems, hide };

  return {
    ok: true,
    block: {
      values: complete,
      spApiRegion,
      roleArn,
      placeholders,
      remarks: formatRemarks(complete, placeholders),
    },
    hide,
  };
}

/** Format checks that warn: the services are the judge (an old bare-hex LWA secret still works). */
function formatRemarks(values: CredentialValues, placeholders: readonly CredentialField[]): string[] {
  const remarks: string[] = [];
  const given = (f: CredentialField) => !placeholders.includes(f);
  if (given("aws_access_key_id") && !AWS_ACCESS_KEY_ID.test(values.aws_access_key_id)) {
    remarks.push('aws_access_key_id does not look like an IAM user\'s access key id ("AKIA" + 16 of A-Z, 2-7)');
  }
  if (given("client_id") && !LWA_CLIENT_ID.test(values.client_id)) {
    remarks.push("client_id does not look like an LWA client id (amzn1.application-oa2-client. + 32 hex digits)");
  }
  if (given("client_secret") && !LWA_CLIENT_SECRET.test(values.client_secret)) {
    remarks.push(
      LWA_LEGACY_CLIENT_SECRET.test(values.client_secret)
        ? 'client_secret has the older bare-hex form; current secrets start "amzn1.oa2-cs.v1."'
        : 'client_secret does not look like an LWA client secret ("amzn1.oa2-cs.v1." + hex)',
    );
  }
  if (given("refresh_token") && !values.refresh_token.startsWith(LWA_REFRESH_TOKEN_PREFIX)) {
    remarks.push(`refresh_token does not start "${LWA_REFRESH_TOKEN_PREFIX}" as LWA refresh tokens do`);
  }
  return remarks;
}

export function placeholdersAmong(block: CredentialsBlock, fields: readonly CredentialField[]): CredentialField[] {
  return block.placeholders.filter((f) => fields.includes(f));
}
