/**
 * Step 1: reading the HJSON credentials block the connector takes (src/credentials.template.hjson).
 * Pure: text in, a typed block or the problems out. Never puts a value in a message: a value may be a secret.
 */
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, CredentialField, CredentialValues, isPlaceholder } from "../src/credentials";
import { LWA_CLIENT_ID, LWA_CLIENT_SECRET, LWA_LEGACY_CLIENT_SECRET, LWA_REFRESH_TOKEN_PREFIX } from "../src/config";
import { SP_API_REGIONS, SP_API_REGION_NAMES, SpApiRegion, spApiRegionForAwsRegion } from "../policies/regions";

/** The fields the AWS steps (GetCallerIdentity, AssumeRole) use, and those the LWA steps use. */
export const AWS_FIELDS = ["role_arn", "aws_access_key_id", "aws_secret_access_key"] as const satisfies readonly CredentialField[];
export const LWA_FIELDS = ["client_id", "client_secret", "refresh_token"] as const satisfies readonly CredentialField[];

/** arn:<partition>:iam::<account>:<role|user>/<optional path/>name */
const IAM_PRINCIPAL_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):(role|user)\/(?:[\x21-\x7E]*\/)?([\w+=,.@-]{1,64})$/;
const AWS_ACCESS_KEY_ID = /^AKIA[A-Z2-7]{16}$/;

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

export type BlockResult = { ok: true; block: CredentialsBlock } | { ok: false; problems: string[] };

const allowedRegions = SP_API_REGION_NAMES.map((r) => `${SP_API_REGIONS[r].awsRegion} (${r})`).join(", ");

/** Hjson's messages quote the text around the fault, which may be a secret: keep only "at line L,C". */
function parseErrorWithoutText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const head = message.split(">>>")[0].trim();
  const where = /at line \d+,\d+/.exec(head)?.[0];
  const what = head.replace(/\s*at line \d+,\d+.*$/s, "").replace(/\s*\(check your syntax[^)]*\)/, "");
  return where ? `${what} ${where}` : what;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads the block: `credentials: { ... }` or the bare object; also a JSON string holding either
 * (what `pulumi stack output --json credentials` prints). */
export function parseCredentialsBlock(text: string): BlockResult {
  if (text.trim() === "") return { ok: false, problems: ["the input is empty"] };
  let parsed: unknown;
  try {
    parsed = Hjson.parse(text);
    if (typeof parsed === "string") parsed = Hjson.parse(parsed);
  } catch (error) {
    return { ok: false, problems: [`not valid HJSON: ${parseErrorWithoutText(error)}`] };
  }
  const object = isRecord(parsed) && isRecord(parsed.credentials) ? parsed.credentials : parsed;
  if (!isRecord(object)) return { ok: false, problems: ["the input is not an HJSON object (expected credentials: { ... })"] };

  const problems: string[] = [];
  const values: Partial<CredentialValues> = {};
  for (const field of CREDENTIAL_FIELDS) {
    const value = object[field];
    if (value === undefined || value === null) problems.push(`${field} is missing`);
    else if (typeof value !== "string") problems.push(`${field} is a ${typeof value}, not a string (quote it: "...")`);
    else if (value.trim() === "") problems.push(`${field} is empty`);
    else values[field] = value;
  }
  if (problems.length > 0) return { ok: false, problems };
  const complete = values as CredentialValues;

  const spApiRegion = spApiRegionForAwsRegion(complete.region);
  if (!spApiRegion) {
    // The region is not a secret: showing it helps.
    problems.push(`region ${JSON.stringify(complete.region)} is not an SP-API signing region; allowed: ${allowedRegions}`);
  }
  const placeholders = CREDENTIAL_FIELDS.filter((f) => f !== "region" && isPlaceholder(complete[f]));
  const roleArn = parseIamArn(complete.role_arn);
  if (!roleArn && !placeholders.includes("role_arn")) {
    problems.push(`role_arn ${JSON.stringify(complete.role_arn)} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)`);
  }
  if (problems.length > 0 || !spApiRegion) return { ok: false, problems };

  return {
    ok: true,
    block: {
      values: complete,
      spApiRegion,
      roleArn,
      placeholders,
      remarks: formatRemarks(complete, placeholders),
    },
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
