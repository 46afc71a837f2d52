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
let template: string | undefined;

function loadTemplate(): string {
  template ??= fs.readFileSync(TEMPLATE_PATH, "utf8");
  return template;
}

/** Fills the template. `spApiRegion` only feeds a comment. Throws on a token without a value (a template bug). */
export function renderCredentials(values: CredentialValues, spApiRegion: string, source: string = loadTemplate()): string {
  const fills: Record<string, string> = { spApiRegion };
  for (const field of CREDENTIAL_FIELDS) fills[field] = JSON.stringify(values[field]);
  // A replacer function, not a replacement string: '$&' or '$1' inside a secret must stay literal.
  return source.replace(/\{\{(\w+)\}\}/g, (_token, name: string) => {
    const value = fills[name];
    if (value === undefined) throw new Error(`credentials template: no value for {{${name}}}`);
    return value;
  });
}
