/**
 * The stand-in Pulumi CLI's executable (the harness and the engine are in test/fake-pulumi.ts). Kept free of the
 * project's modules so each call starts as fast as node does: a fleet test makes hundreds of calls.
 *
 * It keeps things where the real CLI keeps them on a DIY backend (file://, s3://, gs://, azblob://):
 * - **Config** is in the project directory, `Pulumi.<stack>.yaml` next to the `Pulumi.yaml` found from the working
 *   directory (or `--cwd`), in the real file format: `encryptionsalt:` as a passphrase stack has, a `config:` map
 *   of `sp-api-iam:key: value`, a secret as `secure: v1:...` (opaque: only this file can reverse it), a `--path` key
 *   as nested YAML. A stack with no file has no config; a fresh clone has only what was committed.
 * - **The backend** (the state dir's `stacks/<name>.json`) holds deployments only: the checkpoint (outputs, and the
 *   keys the engine made), the history of updates each with the config it used, the stack's tags (DIY backends keep
 *   them from CLI 3.211 on), and the update lock.
 * - The selected stack is per project directory, as the real CLI keeps it per workspace.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as net from "net";
import * as path from "path";

const PROJECT = "sp-api-iam";
export const FAKE_ACCOUNT = "123456789012";

/** A config value as the CLI reports it: the plain text (decrypted), and whether the file holds it encrypted. */
export interface ConfigEntry {
  value: string;
  secret: boolean;
}

/**
 * A config value as the stack file holds it: a scalar's text, `{ secure: <ciphertext> }`, or a map or list (from
 * `--path`, or written by hand) whose leaves may be secure. Deployments keep the same form.
 */
export type RawValue = string | number | boolean | null | { secure: string } | RawValue[] | { [key: string]: RawValue };

export interface FakeKey {
  id: string;
  secret: string;
  createDate: string;
  generation: number;
}

/** One update in the stack's history, as the backend keeps it: the config it ran with (secrets still encrypted). */
export interface UpdateRecord {
  version: number;
  kind: "update";
  startTime: string;
  endTime: string;
  result: "succeeded" | "failed";
  message: string;
  environment: Record<string, string>;
  config: Record<string, RawValue>;
  resourceChanges: Record<string, number>;
}

/** What the backend holds for a stack: no config of its own, only deployments, tags and test controls. */
export interface StackState {
  outputs: Record<string, { value: unknown; secret: boolean }>;
  /** The keys the fake engine holds per slot (what IAM would have). */
  keys: Partial<Record<"a" | "b", FakeKey>>;
  account: string;
  lastUpdate?: string;
  /** Oldest first. */
  history: UpdateRecord[];
  /** Stack tags (`pulumi stack tag`), kept by DIY backends from CLI 3.211 on. */
  tags: Record<string, string>;
  /** The passphrase secrets provider's salt, as the checkpoint keeps it (and `config refresh` restores it). */
  encryptionSalt: string;
  /** Failures to answer the next calls of a command with ("up", "config set", "stack output", ...). */
  failNext: { command: string; stderr: string; code: number }[];
  /** How long `up` takes, for tests of parallel runs. */
  upDelayMs?: number;
}

export interface RecordedCall {
  argv: string[];
  stdin: string;
  stack?: string;
  cwd: string;
  startedAt: number;
  endedAt: number;
}

/** What Pulumi Cloud answers a second update of a stack. */
export const CONFLICT = "error: [409] Conflict: Another update is currently in progress.";
/** What a DIY backend answers a second update of a stack while the first holds its lock. */
export const LOCKED =
  "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.";

export function stackFile(stateDir: string, name: string): string {
  return path.join(stateDir, "stacks", `${encodeURIComponent(name)}.json`);
}

/**
 * The stack as the backend holds it, secrets decrypted. On disk, as in a real checkpoint, a secret output and a key's
 * secret are ciphertext: a secret is in plain text nowhere the stand-in keeps things.
 */
export function readStack(stateDir: string, name: string): StackState | undefined {
  let stored: StackState;
  try {
    stored = JSON.parse(fs.readFileSync(stackFile(stateDir, name), "utf8")) as StackState;
  } catch {
    return undefined;
  }
  for (const o of Object.values(stored.outputs)) if (o.secret) o.value = JSON.parse(decryptSecret((o as unknown as { ciphertext: string }).ciphertext));
  for (const o of Object.values(stored.outputs)) delete (o as { ciphertext?: string }).ciphertext;
  for (const key of Object.values(stored.keys)) if (key) key.secret = decryptSecret(key.secret);
  return stored;
}

export function writeStack(stateDir: string, name: string, state: StackState): void {
  const file = stackFile(stateDir, name);
  const stored = {
    ...state,
    outputs: Object.fromEntries(
      Object.entries(state.outputs).map(([k, o]) => [k, o.secret ? { secret: true, ciphertext: encryptSecret(JSON.stringify(o.value)) } : o]),
    ),
    keys: Object.fromEntries(Object.entries(state.keys).map(([slot, key]) => [slot, key && { ...key, secret: encryptSecret(key.secret) }])),
  };
  fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify(stored, null, 2));
  fs.renameSync(`${file}.${process.pid}`, file);
}

export function stackNames(stateDir: string): string[] {
  return fs
    .readdirSync(path.join(stateDir, "stacks"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => decodeURIComponent(f.slice(0, -5)))
    .sort();
}

export function newBackendStack(account: string = FAKE_ACCOUNT): StackState {
  return { outputs: {}, keys: {}, account, history: [], tags: {}, encryptionSalt: newSalt(), failNext: [] };
}

export function engineNow(stateDir: string): Date {
  try {
    return new Date(fs.readFileSync(path.join(stateDir, "now"), "utf8").trim());
  } catch {
    return new Date();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets: opaque in the file and the backend, reversible only here
// ---------------------------------------------------------------------------------------------------------------

const SECRET_KEY = crypto.createHash("sha256").update("sp-api-iam fake pulumi: passphrase secrets provider").digest();

function newSalt(): string {
  const b64 = (n: number) => crypto.randomBytes(n).toString("base64");
  return `v1:${b64(8)}:v1:${b64(12)}:${b64(32)}`;
}

export function encryptSecret(plain: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv("aes-256-gcm", SECRET_KEY, iv);
  const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `v1:${iv.toString("base64")}:${body.toString("base64")}`;
}

export function decryptSecret(ciphertext: string): string {
  const m = /^v1:([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(ciphertext);
  if (!m) throw new CliExit(255, "error: failed to decrypt configuration: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE to the correct passphrase");
  try {
    const body = Buffer.from(m[2]!, "base64");
    const decipher = crypto.createDecipheriv("aes-256-gcm", SECRET_KEY, Buffer.from(m[1]!, "base64"));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    throw new CliExit(255, "error: failed to decrypt configuration: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE to the correct passphrase");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Config values: the file's form and the CLI's views of it
// ---------------------------------------------------------------------------------------------------------------

const isMap = (v: unknown): v is Record<string, RawValue> => typeof v === "object" && v !== null && !Array.isArray(v);
export const isSecure = (v: unknown): v is { secure: string } => isMap(v) && Object.keys(v).length === 1 && typeof v.secure === "string";
const holdsSecure = (v: unknown): boolean => isSecure(v) || (typeof v === "object" && v !== null && Object.values(v).some(holdsSecure));

/** JSON as Go writes a map: keys sorted, compact. */
function goJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(goJson).join(",")}]`;
  if (isMap(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${goJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** A map or list with its secure leaves decrypted. */
function plainObject(raw: RawValue): unknown {
  if (isSecure(raw)) return decryptSecret(raw.secure);
  if (Array.isArray(raw)) return raw.map(plainObject);
  if (isMap(raw)) return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, plainObject(v)]));
  return raw;
}

export interface ConfigView {
  /** undefined: a secret not shown. */
  value?: string;
  secret: boolean;
  object: boolean;
  objectValue?: unknown;
}

/** A value as `pulumi config --json` reports it: a secret's value only with `show`, a map or list as JSON too. */
export function viewOf(raw: RawValue, show: boolean): ConfigView {
  if (isSecure(raw)) return { secret: true, object: false, ...(show ? { value: decryptSecret(raw.secure) } : {}) };
  if (typeof raw === "object" && raw !== null) {
    const secret = holdsSecure(raw);
    if (secret && !show) return { secret, object: true };
    const obj = plainObject(raw);
    return { value: goJson(obj), secret, object: true, objectValue: obj };
  }
  return { value: raw === null ? "" : String(raw), secret: false, object: false };
}

// ---------------------------------------------------------------------------------------------------------------
// The project directory and its stack files
// ---------------------------------------------------------------------------------------------------------------

/** The directory holding Pulumi.yaml, searched upwards from `cwd` as the CLI does; undefined when there is none. */
export function findProjectDir(cwd: string): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml")) || fs.existsSync(path.join(dir, "Pulumi.yml"))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** `Pulumi.<stack>.yaml` in the project directory; a qualified name (org/project/stack) uses its last part. */
export function stackConfigPath(projectDir: string, stack: string): string {
  return path.join(projectDir, `Pulumi.${stack.split("/").pop()}.yaml`);
}

export interface StackConfigFile {
  /** Top-level keys other than `config` (encryptionsalt, secretsprovider, environment...), kept as they were. */
  header: Record<string, unknown>;
  config: Record<string, RawValue>;
}

/** The stack file as the CLI reads it: a scalar as its text (42 stays "42"), maps and lists typed. No file: empty. */
export function readConfigFile(file: string): StackConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { header: {}, config: {} };
    throw error;
  }
  return parseConfigFile(text, file);
}

/** A stack file's text, read as readConfigFile does. */
export function parseConfigFile(text: string, file: string): StackConfigFile {
  let typed: unknown;
  let asText: unknown;
  try {
    typed = yaml.load(text, { schema: yaml.CORE_SCHEMA });
    asText = yaml.load(text, { schema: yaml.FAILSAFE_SCHEMA });
  } catch (error) {
    throw new CliExit(255, `error: could not load ${file}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (typed === null || typed === undefined) return { header: {}, config: {} };
  if (!isMap(typed) || !isMap(asText)) throw new CliExit(255, `error: could not load ${file}: not a stack configuration file`);
  const { config: typedConfig, ...header } = typed as Record<string, unknown>;
  const textConfig = (asText as Record<string, unknown>).config;
  const config: Record<string, RawValue> = {};
  if (isMap(typedConfig)) {
    for (const [key, value] of Object.entries(typedConfig)) {
      if (typeof value === "object" && value !== null) config[key] = value;
      else config[key] = value === null ? "" : String((textConfig as Record<string, unknown>)[key]);
    }
  }
  return { header, config };
}

/** Writes the stack file as the CLI does: the secrets provider's fields first, then `config:` with its keys sorted. */
export function writeConfigFile(file: string, contents: StackConfigFile): void {
  const order = ["secretsprovider", "encryptedkey", "encryptionsalt"];
  const doc: Record<string, unknown> = {};
  for (const key of order) if (contents.header[key] !== undefined) doc[key] = contents.header[key];
  const keys = Object.keys(contents.config).sort();
  if (keys.length > 0) doc.config = Object.fromEntries(keys.map((k) => [k, contents.config[k]]));
  for (const [key, value] of Object.entries(contents.header)) if (!order.includes(key)) doc[key] = value;
  const text = Object.keys(doc).length === 0 ? "{}\n" : yaml.dump(doc, { quotingType: '"', lineWidth: -1, noRefs: true });
  fs.writeFileSync(`${file}.${process.pid}.tmp`, text);
  fs.renameSync(`${file}.${process.pid}.tmp`, file);
}

// ---------------------------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------------------------

const VALUE_FLAGS = new Set([
  "--stack",
  "-s",
  "--exec-kind",
  "--color",
  "--page-size",
  "--page",
  "--event-log",
  "--client",
  "--message",
  "-m",
  "--parallel",
  "-p",
  "--secrets-provider",
  "--config-file",
  "--cwd",
  "-C",
]);

interface Parsed {
  words: string[];
  flags: Map<string, string | true>;
  /** `config set-all`'s pairs, in the order given: --plaintext k=v, --secret k=v. */
  pairs: { secret: boolean; pair: string }[];
}

function parseArgv(argv: string[]): Parsed {
  const words: string[] = [];
  const flags = new Map<string, string | true>();
  const pairs: Parsed["pairs"] = [];
  const setAll = argv.includes("set-all");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      const eq = arg.indexOf("=");
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      if (setAll && (name === "--plaintext" || name === "--secret")) {
        pairs.push({ secret: name === "--secret", pair: eq > 0 ? arg.slice(eq + 1) : (argv[++i] ?? "") });
        continue;
      }
      if (eq > 0) flags.set(name, arg.slice(eq + 1));
      else if (VALUE_FLAGS.has(arg)) flags.set(arg, argv[++i] ?? "");
      else flags.set(arg, true);
    } else {
      words.push(arg);
    }
  }
  return { words, flags, pairs };
}

export class CliExit extends Error {
  constructor(
    readonly code: number,
    readonly stderr: string,
  ) {
    super(stderr);
  }
}

/** A key as the CLI parses it: `key` is this project's, `ns:key` another namespace's. */
function fullKey(key: string): string {
  if (!key) throw new CliExit(255, "error: config key must not be empty");
  return key.includes(":") ? key : `${PROJECT}:${key}`;
}

/** A `--path` key (`tags.team`, `jobConfigs[0]`, `["a.b"].c`): its config key and the steps inside it. */
function parsePath(expr: string): { key: string; steps: (string | number)[] } {
  const colon = /^[^.[]*:/.exec(expr);
  const ns = colon ? colon[0] : "";
  const rest = expr.slice(ns.length);
  const steps: (string | number)[] = [];
  const re = /\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|\.?([^.[\]]+)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (m = re.exec(rest))) steps.push(m[1] !== undefined ? m[1] : m[2] !== undefined ? Number(m[2]) : m[3]!);
  if (re.lastIndex < rest.length || steps.length === 0 || typeof steps[0] !== "string") {
    throw new CliExit(255, `error: invalid config key path: ${expr}`);
  }
  return { key: fullKey(ns + (steps[0] as string)), steps: steps.slice(1) };
}

/** What `--path` stores for a leaf: true/false and integers typed (not "0123"), secrets and other text as given. */
function adjustLeaf(value: RawValue): RawValue {
  if (typeof value !== "string") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  if (value.length > 1 && value.startsWith("0")) return value;
  if (/^[+-]?\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  return value;
}

/** Sets `value` at `steps` inside `current` (the stored value of the key), as `config set --path` does. */
function setAtPath(current: RawValue | undefined, steps: (string | number)[], value: RawValue, expr: string): RawValue {
  if (steps.length === 0) return value;
  const [step, ...rest] = steps as [string | number, ...(string | number)[]];
  if (typeof step === "number") {
    const list = current === undefined ? [] : current;
    if (!Array.isArray(list)) throw new CliExit(255, `error: an array was expected for index ${step} in ${expr}`);
    if (step > list.length) throw new CliExit(255, "error: array index out of range");
    const copy = [...list];
    copy[step] = setAtPath(copy[step], rest, value, expr);
    return copy;
  }
  const map = current === undefined ? {} : current;
  if (!isMap(map) || isSecure(map)) throw new CliExit(255, `error: a map was expected for key "${step}" in ${expr}`);
  return { ...map, [step]: setAtPath(map[step], rest, value, expr) };
}

function removeAtPath(current: RawValue, steps: (string | number)[]): RawValue {
  const [step, ...rest] = steps as [string | number, ...(string | number)[]];
  if (Array.isArray(current) && typeof step === "number") {
    const copy = [...current];
    if (rest.length === 0) copy.splice(step, 1);
    else if (copy[step] !== undefined) copy[step] = removeAtPath(copy[step]!, rest);
    return copy;
  }
  if (isMap(current) && typeof step === "string") {
    const copy: Record<string, RawValue> = { ...current };
    if (rest.length === 0) delete copy[step];
    else if (copy[step] !== undefined) copy[step] = removeAtPath(copy[step]!, rest);
    return copy;
  }
  return current;
}

function getAtPath(current: RawValue | undefined, steps: (string | number)[]): RawValue | undefined {
  let node = current;
  for (const step of steps) {
    if (Array.isArray(node) && typeof step === "number") node = node[step];
    else if (isMap(node) && !isSecure(node) && typeof step === "string") node = node[step];
    else return undefined;
  }
  return node;
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.-]/, 3).map((n) => Number.parseInt(n, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

export interface CallIo {
  cwd: string;
  /** PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is set: a passphrase stack's secrets can be used. */
  passphrase: boolean;
  /** Standard input, read only by the commands that take a value from it (the CLI's own rule). */
  readStdin(): Promise<string>;
  /** SP_API_IAM_STATE_BASE as the call was given it: the program's compare-and-set reads it at `up`. */
  stateBase?: string;
}

export interface CallResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The file that holds the stack selected in a project directory (the real CLI: ~/.pulumi/workspaces). */
export function selectionFile(stateDir: string, projectDir: string): string {
  return path.join(stateDir, "selected", crypto.createHash("sha1").update(path.resolve(projectDir)).digest("hex"));
}

/** One CLI call: what the real CLI would print and its exit code, with the files changed as it would. */
export async function handleCall(stateDir: string, argv: string[], io: CallIo): Promise<CallResult> {
  const started = Date.now();
  const { words, flags, pairs } = parseArgv(argv);
  const cwdFlag = (flags.get("--cwd") ?? flags.get("-C")) as string | undefined;
  const cwd = cwdFlag ? path.resolve(io.cwd, cwdFlag) : io.cwd;
  const projectDir = findProjectDir(cwd);
  const selectedFile = selectionFile(stateDir, projectDir ?? cwd);
  const selected = fs.existsSync(selectedFile) ? fs.readFileSync(selectedFile, "utf8").trim() : undefined;
  const stackFlag = (flags.get("--stack") ?? flags.get("-s")) as string | undefined;
  const stackName = stackFlag || selected;
  const command = words.slice(0, 2).join(" ");
  const version = fs.readFileSync(path.join(stateDir, "version"), "utf8").trim();
  let stdin = "";
  const out: string[] = [];
  let code = 0;
  let stderr = "";

  const record = () =>
    fs.appendFileSync(
      path.join(stateDir, "calls.jsonl"),
      JSON.stringify({ argv, stdin, stack: stackName, cwd, startedAt: started, endedAt: Date.now() } satisfies RecordedCall) + "\n",
    );

  const needProject = (): string => {
    if (projectDir) return projectDir;
    throw new CliExit(
      255,
      `error: no Pulumi.yaml project file found (searching upwards from ${cwd}). If you have not created a project yet, use \`pulumi new\` to do so: no project file found`,
    );
  };

  const needStack = (): { name: string; state: StackState } => {
    if (!stackName) throw new CliExit(255, "error: no stack selected; please use `pulumi stack select` to choose one");
    const state = readStack(stateDir, stackName);
    if (!state) throw new CliExit(255, `error: no stack named '${stackName}' found`);
    const failure = state.failNext.findIndex((f) => command.startsWith(f.command) || words[0] === f.command);
    if (failure >= 0) {
      const [f] = state.failNext.splice(failure, 1);
      writeStack(stateDir, stackName, state);
      throw new CliExit(f!.code, f!.stderr);
    }
    return { name: stackName, state };
  };

  /** The stack's config file in the project directory (or --config-file), and its contents. */
  const configFileOf = (name: string): { file: string; contents: StackConfigFile } => {
    const configFlag = flags.get("--config-file");
    const file = typeof configFlag === "string" ? path.resolve(cwd, configFlag) : stackConfigPath(needProject(), name);
    return { file, contents: readConfigFile(file) };
  };

  /** Writes the file, giving it the stack's salt first if it has none (the CLI does when it encrypts). */
  const saveConfigFile = (file: string, contents: StackConfigFile, state: StackState, encrypted: boolean) => {
    if (encrypted) contents.header.encryptionsalt ??= state.encryptionSalt;
    writeConfigFile(file, contents);
  };

  /** The passphrase secrets provider: anything that encrypts or decrypts needs the passphrase, as with the real CLI. */
  const needPassphrase = () => {
    if (!io.passphrase) {
      throw new CliExit(255, "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables");
    }
  };

  const tagsSupported = () => {
    if (compareVersions(version, "3.211.0") < 0) throw new CliExit(255, "error: stack tags not supported in --local mode");
  };

  try {
    switch (words[0]) {
      case "version":
        out.push(`v${version}`);
        break;
      case "whoami":
        out.push(flags.has("--json") ? JSON.stringify({ user: "fake-user", organizations: [], url: "file://~" }, null, 2) : "fake-user");
        break;
      case "login":
      case "logout":
        break;
      case "stack": {
        const sub = words[1];
        if (sub === undefined && flags.has("--show-name")) {
          out.push(needStack().name);
        } else if (sub === "ls") {
          const list = stackNames(stateDir).map((name) => {
            const s = readStack(stateDir, name)!;
            return {
              name,
              current: name === selected,
              ...(s.lastUpdate ? { lastUpdate: s.lastUpdate } : {}),
              updateInProgress: fs.existsSync(`${stackFile(stateDir, name)}.update-lock`),
              resourceCount: s.history.length > 0 ? Object.keys(s.keys).length + 7 : 0,
            };
          });
          out.push(JSON.stringify(list, null, 2));
        } else if (sub === "select" || sub === "init") {
          const name = words[2] ?? stackFlag;
          if (!name) throw new CliExit(255, "error: no stack name given");
          const exists = readStack(stateDir, name) !== undefined;
          const create = sub === "init" || flags.has("--create") || flags.has("-c");
          if (sub === "init" && exists) throw new CliExit(255, `error: stack '${name}' already exists`);
          if (!exists) {
            if (!create) throw new CliExit(255, `error: no stack named '${name}' found`);
            const dir = needProject();
            needPassphrase();
            const state = newBackendStack();
            writeStack(stateDir, name, state);
            // A passphrase stack's salt goes into its file at once, beside any config already there.
            const file = stackConfigPath(dir, name);
            const contents = readConfigFile(file);
            if (contents.header.encryptionsalt === undefined) {
              contents.header.encryptionsalt = state.encryptionSalt;
              writeConfigFile(file, contents);
            } else {
              writeStack(stateDir, name, { ...state, encryptionSalt: String(contents.header.encryptionsalt) });
            }
            if (sub === "init") out.push(`Created stack '${name}'`);
          }
          fs.mkdirSync(path.dirname(selectedFile), { recursive: true });
          fs.writeFileSync(selectedFile, name);
        } else if (sub === "output") {
          const { state } = needStack();
          const show = flags.has("--show-secrets");
          if (show) needPassphrase();
          const shown = (o: { value: unknown; secret: boolean }) => (o.secret && !show ? "[secret]" : o.value);
          const only = words[2];
          if (only !== undefined) {
            const o = state.outputs[only];
            if (!o) throw new CliExit(255, `error: current stack does not have output property '${only}'`);
            out.push(flags.has("--json") ? JSON.stringify(shown(o)) : String(shown(o)));
          } else {
            out.push(JSON.stringify(Object.fromEntries(Object.entries(state.outputs).map(([k, o]) => [k, shown(o)])), null, 2));
          }
        } else if (sub === "history" || sub === "hist") {
          const { state } = needStack();
          const show = flags.has("--show-secrets");
          if (show) {
            needProject();
            needPassphrase();
          }
          const pageSize = Number(flags.get("--page-size") ?? 10);
          const page = Math.max(1, Number(flags.get("--page") ?? 1));
          const newestFirst = [...state.history].reverse();
          const updates = pageSize > 0 ? newestFirst.slice((page - 1) * pageSize, page * pageSize) : newestFirst;
          if (!flags.has("--json") && !flags.has("-j")) {
            if (updates.length === 0) out.push(page > 1 ? `No stack updates found on page '${page}'` : "Stack has never been updated");
            for (const u of updates) out.push(`Version: ${u.version}`, "UpdateKind: update", `Status: ${u.result}`, `Message: ${u.message}`, "");
          } else {
            out.push(
              JSON.stringify(
                updates.map((u) => historyJson(u, show)),
                null,
                2,
              ),
            );
          }
        } else if (sub === "tag") {
          const { name, state } = needStack();
          const [action, tag, value] = words.slice(2);
          if (action === "ls") {
            const tags = compareVersions(version, "3.211.0") < 0 ? {} : state.tags;
            if (flags.has("--json") || flags.has("-j")) out.push(JSON.stringify(tags, null, 2));
            else
              out.push(
                "NAME  VALUE",
                ...Object.keys(tags)
                  .sort()
                  .map((k) => `${k}  ${tags[k]}`),
              );
          } else if (action === "get") {
            if (!tag) throw new CliExit(255, "error: accepts 1 arg(s), received 0");
            if (compareVersions(version, "3.211.0") < 0 || state.tags[tag] === undefined) {
              throw new CliExit(255, `error: stack tag '${tag}' not found for stack '${name}'`);
            }
            out.push(state.tags[tag]);
          } else if (action === "set") {
            if (tag === undefined || value === undefined) throw new CliExit(255, `error: accepts 2 arg(s), received ${words.length - 3}`);
            tagsSupported();
            const latest = readStack(stateDir, name)!;
            writeStack(stateDir, name, { ...latest, tags: { ...latest.tags, [tag]: value } });
          } else if (action === "rm") {
            if (!tag) throw new CliExit(255, "error: accepts 1 arg(s), received 0");
            tagsSupported();
            const latest = readStack(stateDir, name)!;
            const tags = { ...latest.tags };
            delete tags[tag];
            writeStack(stateDir, name, { ...latest, tags });
          } else {
            throw new CliExit(2, `error: fake pulumi: unsupported command: stack tag ${action ?? ""}`);
          }
        } else {
          throw new CliExit(2, `error: fake pulumi: unsupported command: stack ${sub ?? ""}`);
        }
        break;
      }
      case "config": {
        const sub = words[1];
        if (sub === undefined) {
          const { name } = needStack();
          const { contents } = configFileOf(name);
          const show = flags.has("--show-secrets");
          if (show) needPassphrase();
          const keys = Object.keys(contents.config).sort();
          if (flags.has("--json") || flags.has("-j")) {
            out.push(
              JSON.stringify(
                Object.fromEntries(
                  keys.map((k) => {
                    const v = viewOf(contents.config[k]!, show);
                    return [
                      k,
                      {
                        ...(v.value !== undefined ? { value: v.value } : {}),
                        ...(v.objectValue !== undefined ? { objectValue: v.objectValue } : {}),
                        secret: v.secret,
                      },
                    ];
                  }),
                ),
                null,
                2,
              ),
            );
          } else {
            out.push(
              "KEY  VALUE",
              ...keys.map((k) => `${k.startsWith(`${PROJECT}:`) ? k.slice(PROJECT.length + 1) : k}  ${viewOf(contents.config[k]!, show).value ?? "[secret]"}`),
            );
          }
        } else if (sub === "get") {
          const { name } = needStack();
          const { contents } = configFileOf(name);
          const rawKey = words[2];
          if (!rawKey) throw new CliExit(255, "error: accepts 1 arg(s), received 0");
          const target = flags.has("--path") ? parsePath(rawKey) : { key: fullKey(rawKey), steps: [] };
          const raw = getAtPath(contents.config[target.key], target.steps);
          if (raw === undefined) throw new CliExit(255, `error: configuration key '${rawKey}' not found for stack '${name}'`);
          if (viewOf(raw, false).secret) needPassphrase();
          const v = viewOf(raw, true);
          out.push(
            flags.has("--json") || flags.has("-j")
              ? JSON.stringify({ value: v.value, ...(v.objectValue !== undefined ? { objectValue: v.objectValue } : {}), secret: v.secret }, null, 2)
              : v.value!,
          );
        } else if (sub === "set") {
          const { name, state } = needStack();
          const rawKey = words[2];
          if (!rawKey) throw new CliExit(255, "error: accepts between 1 and 2 arg(s), received 0");
          if (flags.has("--secret")) needPassphrase();
          let value = words[3];
          if (value === undefined) {
            stdin = await io.readStdin();
            value = stdin;
          }
          const { file, contents } = configFileOf(name);
          setValue(contents, rawKey, value, flags.has("--secret"), flags.has("--path"));
          saveConfigFile(file, contents, state, flags.has("--secret"));
        } else if (sub === "set-all") {
          const { name, state } = needStack();
          if (flags.has("--json")) throw new CliExit(2, "error: fake pulumi: unsupported command: config set-all --json");
          if (pairs.some((x) => x.secret)) needPassphrase();
          const { file, contents } = configFileOf(name);
          // The CLI sets every --plaintext pair, then every --secret pair.
          for (const secret of [false, true]) {
            for (const p of pairs.filter((x) => x.secret === secret)) {
              const eq = p.pair.indexOf("=");
              if (eq < 0) throw new CliExit(255, `error: could not parse ${p.pair} as a configuration key/value pair`);
              setValue(contents, p.pair.slice(0, eq), p.pair.slice(eq + 1), secret, flags.has("--path"));
            }
          }
          saveConfigFile(
            file,
            contents,
            state,
            pairs.some((x) => x.secret),
          );
        } else if (sub === "rm") {
          const { name, state } = needStack();
          const rawKey = words[2];
          if (!rawKey) throw new CliExit(255, "error: accepts 1 arg(s), received 0");
          const { file, contents } = configFileOf(name);
          const target = flags.has("--path") ? parsePath(rawKey) : { key: fullKey(rawKey), steps: [] };
          const current = contents.config[target.key];
          if (current !== undefined) {
            if (target.steps.length === 0) delete contents.config[target.key];
            else contents.config[target.key] = removeAtPath(current, target.steps);
          }
          saveConfigFile(file, contents, state, false);
        } else if (sub === "refresh") {
          const { name, state } = needStack();
          const latest = state.history[state.history.length - 1];
          if (!latest) throw new CliExit(255, "error: no previous deployment");
          const { file, contents } = configFileOf(name);
          const next: StackConfigFile = { header: { ...contents.header, encryptionsalt: state.encryptionSalt }, config: { ...latest.config } };
          if (fs.existsSync(file) && !flags.has("--force") && !flags.has("-f")) {
            // As the CLI does: the existing file is moved aside (.bak, .bak.bak, ...), never overwritten silently.
            let backup = `${file}.bak`;
            while (fs.existsSync(backup)) backup += ".bak";
            fs.renameSync(file, backup);
            out.push(`backed up existing configuration file to ${backup}`);
            writeConfigFile(file, next);
            out.push(`refreshed configuration for stack '${name}'`);
          } else {
            writeConfigFile(file, next);
          }
        } else {
          throw new CliExit(2, `error: fake pulumi: unsupported command: config ${sub}`);
        }
        break;
      }
      case "up":
      case "update": {
        const dir = needProject();
        const { name, state } = needStack();
        if (!flags.has("--yes") && !flags.has("-y")) throw new CliExit(255, "error: --yes must be passed in to proceed when running in non-interactive mode");
        needPassphrase();
        // The backend's update lock, as a DIY backend holds it: a second `up` of the stack while one runs fails.
        const lock = `${stackFile(stateDir, name)}.update-lock`;
        try {
          fs.writeFileSync(lock, String(started), { flag: "wx" });
        } catch {
          throw new CliExit(255, `${LOCKED}\n  ${lock}: created by fake-user@localhost`);
        }
        try {
          // The config is read when `up` starts, from the work dir's file (as the real CLI does).
          const { contents } = configFileOf(name);
          if (state.upDelayMs) await new Promise((resolve) => setTimeout(resolve, state.upDelayMs));
          await runUp(name, state, contents.config, dir);
        } finally {
          fs.rmSync(lock, { force: true });
        }
        break;
      }
      default:
        throw new CliExit(2, `error: fake pulumi: unsupported command: ${words.join(" ")}`);
    }
  } catch (error) {
    if (!(error instanceof CliExit)) throw error;
    code = error.code;
    stderr = error.stderr;
  }
  record();
  return { code, stdout: out.length > 0 ? out.join("\n") + "\n" : "", stderr: stderr ? stderr + "\n" : "" };

  /**
   * The engine over the config as it was when `up` began; what it leaves (outputs, keys, a history entry with that
   * config, the tags every update sets) goes into the backend's stack as it is now, so a tag set meanwhile is kept.
   */
  async function runUp(name: string, state: StackState, config: Record<string, RawValue>, dir: string): Promise<void> {
    const now = engineNow(stateDir);
    out.push(`Updating (${name}):`);
    // The engine loads the project's config and lifecycle code: only `up` pays for it.
    const { runEngine, EngineError } = await import("./fake-pulumi");
    const plain: Record<string, ConfigEntry> = {};
    for (const [key, raw] of Object.entries(config)) {
      const v = viewOf(raw, true);
      plain[key] = { value: v.value ?? "", secret: v.secret };
    }
    const save = (result: "succeeded" | "failed") => {
      const latest = readStack(stateDir, name) ?? state;
      const history = [...latest.history, updateRecord(latest.history.length + 1, now, result, config, Object.keys(state.keys).length + 7)];
      const tags = { ...latest.tags, ...projectTags(dir) };
      if (result === "failed") writeStack(stateDir, name, { ...latest, history, tags });
      else writeStack(stateDir, name, { ...latest, outputs: state.outputs, keys: state.keys, lastUpdate: now.toISOString(), history, tags });
    };
    let warnings: string[];
    try {
      warnings = runEngine(state, plain, now, io.stateBase);
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
      save("failed");
      throw new CliExit(255, `error: ${error.message}`);
    }
    save("succeeded");
    // The program's warnings, as the CLI prints a stack's diagnostics.
    if (warnings.length > 0) out.push("Diagnostics:", `  pulumi:pulumi:Stack (${PROJECT}-${name}):`, ...warnings.map((w) => `    warning: ${w}`), "");
    out.push("Resources:", `    ${Object.keys(state.keys).length + 7} unchanged`, "Update succeeded");
  }

  function setValue(contents: StackConfigFile, rawKey: string, value: string, secret: boolean, usePath: boolean): void {
    const leaf: RawValue = secret ? { secure: encryptSecret(value) } : value;
    if (!usePath) {
      contents.config[fullKey(rawKey)] = leaf;
      return;
    }
    const target = parsePath(rawKey);
    contents.config[target.key] = target.steps.length === 0 ? leaf : setAtPath(contents.config[target.key], target.steps, adjustLeaf(leaf), rawKey);
  }
}

/** The tags every update sets from the project (the real CLI adds vcs:* ones from git too). */
function projectTags(dir: string): Record<string, string> {
  const tags: Record<string, string> = { "pulumi:project": PROJECT, "pulumi:runtime": "nodejs" };
  try {
    const project = yaml.load(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { description?: string };
    if (project?.description) tags["pulumi:description"] = project.description;
  } catch {
    // no description
  }
  return tags;
}

/** A history entry for an update that ran with `config` (the stack file's form, secrets encrypted). */
export function updateRecord(version: number, now: Date, result: UpdateRecord["result"], config: Record<string, RawValue>, same: number): UpdateRecord {
  // The backend keeps whole seconds; the CLI prints them as RFC 3339 with milliseconds, UTC.
  const at = now.toISOString().replace(/\.\d{3}Z$/, ".000Z");
  return {
    version,
    kind: "update",
    startTime: at,
    endTime: at,
    result,
    message: "",
    environment: { "exec.kind": "auto.local" },
    config: structuredClone(config),
    resourceChanges: { same },
  };
}

/**
 * An update as `stack history --json` prints it (pkg/cmd/pulumi/stack/stack_history.go): a secret has no value
 * unless `show` (the CLI decrypts only with --show-secrets), a map or list has its objectValue too.
 */
function historyJson(u: UpdateRecord, show: boolean): unknown {
  const config: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(u.config)) {
    const v = viewOf(raw, show);
    config[key] = {
      ...(v.value !== undefined ? { value: v.value } : {}),
      ...(v.objectValue !== undefined ? { objectValue: v.objectValue } : {}),
      secret: v.secret,
    };
  }
  return {
    version: u.version,
    kind: u.kind,
    startTime: u.startTime,
    message: u.message,
    environment: u.environment,
    config,
    result: u.result,
    endTime: u.endTime,
    resourceChanges: u.resourceChanges,
  };
}

/**
 * The daemon behind the `pulumi` shim: one node process per FakePulumi answers every call, so a call costs a bash
 * start and a loopback round trip instead of a node start (a rotation makes about ten calls). The shim writes the
 * arguments to <request>.args (NUL-separated) and sends "<request> <passphrase> <cwd>" on a line (<passphrase>: "-"
 * when neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set); the daemon answers "STDIN" when
 * the command reads standard input (the shim then writes it to <request>.stdin and says "GO"), then
 * "DONE <code>" once <request>.out and <request>.err hold what to print. The shim prints them and says "BYE"; the
 * daemon then removes the request's files (as it does when a killed shim's connection closes) and closes the
 * connection. State stays in the files (the backend's, the projects' stack files).
 * It exits when its parent (the test run) is gone, or after a minute without a call.
 */
function serve(stateDir: string): void {
  const parent = process.ppid;
  let lastCall = Date.now();
  const server = net.createServer((socket) => {
    lastCall = Date.now();
    let buffer = "";
    let stdinWaiter: ((text: string) => void) | undefined;
    let request: string | undefined;
    socket.setEncoding("utf8");
    socket.on("error", () => undefined);
    const removeRequestFiles = () => {
      for (const part of ["args", "base", "stdin", "out", "err"]) if (request !== undefined) fs.rmSync(`${request}.${part}`, { force: true });
    };
    socket.on("close", removeRequestFiles);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (request === undefined) {
          const [id, passphrase] = line.split(" ", 2) as [string, string];
          request = id;
          const cwd = line.slice(id.length + passphrase.length + 2);
          const argv = fs.readFileSync(`${request}.args`, "utf8").split("\0").slice(0, -1);
          const base = `${request}.base`;
          const io: CallIo = {
            cwd,
            passphrase: passphrase !== "-",
            ...(fs.existsSync(base) ? { stateBase: fs.readFileSync(base, "utf8") } : {}),
            readStdin: () =>
              new Promise((resolve) => {
                stdinWaiter = resolve;
                socket.write("STDIN\n");
              }),
          };
          const answer = (result: { stdout: string; stderr: string; code: number }) => {
            fs.writeFileSync(`${request}.out`, result.stdout);
            fs.writeFileSync(`${request}.err`, result.stderr);
            socket.write(`DONE ${result.code}\n`);
            if (socket.destroyed) removeRequestFiles(); // its shim was killed while the call ran
          };
          void handleCall(stateDir, argv, io).then(answer, (error: unknown) =>
            answer({ stdout: "", stderr: `fake pulumi: ${error instanceof Error ? error.stack : String(error)}\n`, code: 99 }),
          );
        } else if (line === "BYE") {
          removeRequestFiles();
          socket.end();
        } else if (line === "GO" && stdinWaiter) {
          stdinWaiter(fs.readFileSync(`${request}.stdin`, "utf8"));
          stdinWaiter = undefined;
        }
      }
    });
  });
  server.listen(0, "127.0.0.1", () => {
    const portFile = path.join(stateDir, "port");
    fs.writeFileSync(`${portFile}.tmp`, String((server.address() as net.AddressInfo).port));
    fs.renameSync(`${portFile}.tmp`, portFile);
  });
  const watchdog = setInterval(() => {
    let parentAlive = true;
    try {
      process.kill(parent, 0);
    } catch {
      parentAlive = false;
    }
    if (!parentAlive || Date.now() - lastCall > 60_000) process.exit(0);
  }, 1000);
  watchdog.unref();
}

if (require.main === module) {
  const stateDir = process.env.FAKE_PULUMI_STATE;
  if (!stateDir) {
    process.stderr.write("fake pulumi: FAKE_PULUMI_STATE is not set\n");
    process.exitCode = 2;
  } else if (process.argv[2] === "--serve") {
    serve(stateDir);
  } else {
    // Run directly (debugging): one call, standard input read when the command needs it.
    const passphrase = process.env.PULUMI_CONFIG_PASSPHRASE !== undefined || process.env.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined;
    const io: CallIo = { cwd: process.cwd(), passphrase, readStdin: async () => fs.readFileSync(0, "utf8") };
    void handleCall(stateDir, process.argv.slice(2), io).then((r) => {
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });
  }
}
