/**
 * The connector's HJSON credentials block: the repo's template with the values merged in.
 * Every value is written as a JSON-quoted string, which every conforming HJSON parser reads back byte for
 * byte: an unquoted HJSON value would change meaning with a leading digit, a '#', '//' or a '{'.
 */
import * as fs from "fs";
import * as path from "path";

export const CREDENTIAL_FIELDS = ["region", "role_arn", "aws_access_key_id", "aws_secret_access_key", "client_id", "client_secret", "refresh_token"] as const;

export type CredentialField = (typeof CREDENTIAL_FIELDS)[number];
export type CredentialValues = Record<CredentialField, string>;

/**
 * What a connector without IAM takes (connectorAuth lwa): the plugin's LWA-only account setup asks for these three
 * and nothing else. No region and no endpoint: region was the SigV4 signing region, which LWA-only calls do not
 * use, and the SP-API host is the job's own `endpoint`, beside `credentials`, not inside it.
 */
export const LWA_ONLY_FIELDS = ["client_id", "client_secret", "refresh_token"] as const satisfies readonly CredentialField[];
export type LwaOnlyValues = Record<(typeof LWA_ONLY_FIELDS)[number], string>;

/** What stands in for a value the seller has not given yet. The verify command recognises these. */
export const PLACEHOLDERS = {
  client_id: "<your-client-id>",
  client_secret: "<your-client-secret>",
  refresh_token: "<your-refresh-token>",
} as const;

export const ENCRYPTED_SECRET_PLACEHOLDER = "<encrypted: pulumi stack output --show-secrets encryptedSecretAccessKey | base64 -d | gpg --decrypt>";

export function isPlaceholder(value: string): boolean {
  return /^<[^<>]*>$/.test(value);
}

const TEMPLATE_PATH = path.join(__dirname, "credentials.template.hjson");
const LWA_ONLY_TEMPLATE_PATH = path.join(__dirname, "credentials-lwa.template.hjson");
const templates = new Map<string, string>();

function loadTemplate(file: string = TEMPLATE_PATH): string {
  let text = templates.get(file);
  if (text === undefined) templates.set(file, (text = fs.readFileSync(file, "utf8")));
  return text;
}

/** Fills the template. `spApiRegion` only feeds a comment. Throws on a token without a value (a template bug). */
export function renderCredentials(values: CredentialValues, spApiRegion: string, source: string = loadTemplate()): string {
  return fill(values, spApiRegion, source);
}

/** The block of a connectorAuth lwa stack: the LWA-only template, three values. */
export function renderLwaOnlyCredentials(values: LwaOnlyValues, spApiRegion: string, source: string = loadTemplate(LWA_ONLY_TEMPLATE_PATH)): string {
  return fill(values, spApiRegion, source);
}

function fill(values: Partial<CredentialValues>, spApiRegion: string, source: string): string {
  const fills: Record<string, string> = { spApiRegion };
  for (const field of CREDENTIAL_FIELDS) if (values[field] !== undefined) fills[field] = JSON.stringify(values[field]);
  // A replacer function, not a replacement string: '$&' or '$1' inside a secret must stay literal.
  return source.replace(/\{\{(\w+)\}\}/g, (_token, name: string) => {
    const value = fills[name];
    if (value === undefined) throw new Error(`credentials template: no value for {{${name}}}`);
    return value;
  });
}
