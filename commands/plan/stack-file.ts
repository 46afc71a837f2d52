/**
 * Reading a stack file (Pulumi.<stack>.yaml) as the Pulumi CLI reads it, for `npm run plan`: so that the
 * plan and `pulumi up` see the same values, and a file that is not a stack file is refused rather than
 * planned as the defaults.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import { PROJECT } from "../../src/config";

export interface StackFile {
  /** This project's keys, prefix stripped, as the CLI hands them to the program. */
  values: Record<string, string>;
  /** Keys held encrypted in the stack file: set, but not readable without the stack's passphrase. */
  encrypted: string[];
  /** Other namespaces' plain values by full key (aws:region, aws:profile), as the CLI hands them. */
  providerValues: Record<string, string>;
  /** The file imports Pulumi ESC environments, whose values only the CLI can read. */
  importsEnvironments?: boolean;
}

/** The stack file cannot be used; the message names the file and never quotes it. */
export class StackFileError extends Error {}

/** The top-level keys of a Pulumi stack file. */
const STACK_FILE_KEYS = new Set(["config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"]);
/** Namespaces besides the project's that a stack of this program may set: the AWS provider's and the engine's. */
const OTHER_NAMESPACES = new Set(["aws", "pulumi"]);

type Yaml = null | string | number | boolean | Yaml[] | { [key: string]: Yaml };

const isMap = (v: unknown): v is Record<string, Yaml> => typeof v === "object" && v !== null && !Array.isArray(v);
const kind = (v: unknown) => (v === null || v === undefined ? "empty" : Array.isArray(v) ? "a list" : isMap(v) ? "a map" : "a single value");
const isSecure = (v: unknown) => isMap(v) && Object.keys(v).length === 1 && typeof v.secure === "string";
const holdsSecure = (v: unknown): boolean => isSecure(v) || (typeof v === "object" && v !== null && Object.values(v).some(holdsSecure));

/** js-yaml's reason, without any text of the file it may quote (a tag, an alias, a handle). */
function reasonWithoutContent(reason: string): string {
  return reason
    .replace(/!<[^>]*>/g, "!<...>")
    .replace(/"[^"]*"/g, "...")
    .replace(/: .*$/, "");
}

function load(text: string, label: string, schema: yaml.Schema): unknown {
  try {
    return yaml.load(text, { schema, filename: label });
  } catch (err) {
    // js-yaml's own message quotes the file around the error: it may hold a plain-text secret.
    if (err instanceof yaml.YAMLException) throw new StackFileError(`${label} line ${err.mark.line + 1}: ${reasonWithoutContent(err.reason)}`);
    throw err;
  }
}

/**
 * The CLI reads a scalar config value as its text (an unquoted 2026-10-01 stays "2026-10-01", 42 stays
 * "42", an empty value is ""), and a list or map as JSON of its YAML values (numbers and booleans typed).
 * The failsafe schema gives the text of every scalar; the core schema gives the typed lists and maps.
 */
export function parseStackFile(text: string, label: string): StackFile {
  const asText = load(text, label, yaml.FAILSAFE_SCHEMA);
  const typed = load(text, label, yaml.CORE_SCHEMA);
  if (typed === null || typed === undefined) return { values: {}, encrypted: [], providerValues: {} };
  if (!isMap(typed) || !isMap(asText)) {
    throw new StackFileError(`${label}: not a stack file: its top level is ${kind(typed)}, where a stack file has "config:" and its keys`);
  }
  const unknown = Object.keys(typed).filter((k) => !STACK_FILE_KEYS.has(k));
  if (unknown.length > 0) {
    throw new StackFileError(
      `${label}: not a stack file: unknown top-level ${unknown.length === 1 ? "key" : "keys"} ${unknown.map((k) => JSON.stringify(k)).join(", ")}; ` +
        `a stack file has ${[...STACK_FILE_KEYS].join(", ")}`,
    );
  }
  const importsEnvironments = typed.environment !== undefined && typed.environment !== null;
  const config = typed.config;
  const configText = asText.config;
  if (config === null || config === undefined) return { values: {}, encrypted: [], providerValues: {}, importsEnvironments };
  if (!isMap(config) || !isMap(configText)) {
    throw new StackFileError(`${label}: "config:" is ${kind(config)}; it must be a map of keys such as ${PROJECT}:spApiRegion`);
  }

  const foreign = Object.keys(config).filter((k) => {
    const ns = k.includes(":") ? k.slice(0, k.indexOf(":")) : undefined;
    return ns !== PROJECT && !(ns && OTHER_NAMESPACES.has(ns));
  });
  if (foreign.length > 0) {
    throw new StackFileError(
      `${label}: ${foreign.map((k) => JSON.stringify(k)).join(", ")} ${foreign.length === 1 ? "is" : "are"} neither this project's keys ` +
        `(${PROJECT}:<key>) nor the AWS provider's (aws:<key>); a key of this project is written with its prefix, e.g. "${PROJECT}:tags". ` +
        `Fix: rename ${foreign.length === 1 ? "it" : "them"} in ${label}, or set ${foreign.length === 1 ? "it" : "them"} with pulumi config set <key> <value>`,
    );
  }

  const values: Record<string, string> = {};
  const encrypted: string[] = [];
  const providerValues: Record<string, string> = {};
  for (const [fullKey, value] of Object.entries(config)) {
    const ours = fullKey.startsWith(`${PROJECT}:`);
    const key = ours ? fullKey.slice(PROJECT.length + 1) : fullKey;
    if (holdsSecure(value)) {
      if (ours) encrypted.push(key);
      continue;
    }
    const raw = typeof value === "object" && value !== null ? JSON.stringify(value) : value === null ? "" : String(configText[fullKey]);
    if (ours) values[key] = raw;
    else providerValues[key] = raw;
  }
  return { values, encrypted, providerValues, importsEnvironments };
}

export function readStackFile(file: string): StackFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StackFileError(`${file}: ${code === "EISDIR" ? "a directory, not a stack file" : `cannot read it (${code ?? "error"})`}`);
  }
  return parseStackFile(text, file);
}
