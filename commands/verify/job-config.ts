/**
 * verify on a job config: the connector's job configs hold the credentials under `input.credentials` (or several
 * jobs' in one file), or name a stored credential (`credentials: "acme-eu"`). Pure: text in, the credentials
 * objects found (each by its path, as its own block's text) and the named credentials out; undefined when the
 * text is a block itself (or nothing that can be told apart from one), which verify reads as before.
 */
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS } from "../../src/credentials";

export interface JobConfigCredentials {
  /** Each object with the connector's credential fields: its path, and the block (HJSON text) it amounts to. */
  objects: { path: string; block: string }[];
  /** Each `credentials: "<name>"`: a credential stored in the product's Credentials page, referenced by name. */
  named: { path: string; name: string }[];
}

/** What marks an object as the connector's credentials: two or more of these (`region` alone is too common a key). */
const IDENTIFYING = CREDENTIAL_FIELDS.filter((f) => f !== "region") as readonly string[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `input.credentials`, `jobs[1].input.credentials`, `["odd key"].credentials`. */
export function formatJsonPath(at: readonly (string | number)[]): string {
  let out = "";
  for (const part of at) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === "" ? "(the top level)" : out;
}

export function findJobConfigCredentials(text: string): JobConfigCredentials | undefined {
  let parsed: unknown;
  try {
    parsed = Hjson.parse(text.replace(/^\uFEFF/, ""));
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  // A block: `credentials: { ... }` alone, or the fields at the top level.
  if (Object.keys(parsed).some((k) => (CREDENTIAL_FIELDS as readonly string[]).includes(k))) return undefined;
  if (isRecord(parsed.credentials) && Object.keys(parsed).every((k) => k === "credentials")) return undefined;
  const found: JobConfigCredentials = { objects: [], named: [] };
  const walk = (node: unknown, at: (string | number)[], depth: number) => {
    if (depth > 100) return;
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...at, i], depth + 1));
    if (!isRecord(node)) return;
    if (Object.keys(node).filter((k) => IDENTIFYING.includes(k)).length >= 2) {
      found.objects.push({ path: formatJsonPath(at), block: JSON.stringify({ credentials: node }, null, 2) });
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === "credentials" && typeof value === "string") found.named.push({ path: formatJsonPath([...at, key]), name: value });
      else walk(value, [...at, key], depth + 1);
    }
  };
  walk(parsed, [], 0);
  return found.objects.length + found.named.length > 0 ? found : undefined;
}
