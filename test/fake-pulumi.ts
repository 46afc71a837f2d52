/**
 * A stand-in for the Pulumi CLI, for the tests of every command that drives stacks (credentials, rotate-lwa,
 * rotate-key, status, maintain). There is no Pulumi CLI on the machines the tests run on.
 *
 * Two halves in one file:
 * - FakePulumi, used by tests: makes a directory with `bin/pulumi` (a shim that runs this file) and the stacks'
 *   state, seeds stacks, injects failures, and reads back what happened: every call's arguments and standard input.
 * - main(), the executable: answers the CLI commands the Automation API and our own plumbing send (version, stack
 *   ls/select/output/history, config, config set/rm, up), keeping each stack in its own JSON file, so stacks driven
 *   in parallel never write the same file.
 *
 * Its `up` is a small engine built on the project's own pure code, so the commands meet the real rules: the config
 * is validated (validateConfig), the key slots are planned by the rotation guard (planAccessKeys: a refused rotation
 * fails `up`, as in a real run), a slot whose generation changes gets a new key, and the credentials block is
 * rendered from the template (renderCredentials).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, PROJECT, validateConfig } from "../src/config";
import { renderCredentials, PLACEHOLDERS } from "../src/credentials";
import { accessKeyRotateBy, lwaSecretStatus, planAccessKeys, RotationError, SlotRecord } from "../src/lifecycle";
import { awsRegionOf } from "../policies/regions";

const REPO = path.resolve(__dirname, "..");
export const FAKE_ACCOUNT = "123456789012";

export interface ConfigEntry {
  value: string;
  secret: boolean;
}

export interface FakeKey {
  id: string;
  secret: string;
  createDate: string;
  generation: number;
}

export interface StackState {
  /** Full keys ("sp-api-iam:lwaClientId", "aws:region") as the CLI stores them. */
  config: Record<string, ConfigEntry>;
  outputs: Record<string, { value: unknown; secret: boolean }>;
  /** The keys the fake engine holds per slot (what IAM would have). */
  keys: Partial<Record<"a" | "b", FakeKey>>;
  account: string;
  lastUpdate?: string;
  history: { version: number; startTime: string; endTime: string; result: "succeeded" | "failed" }[];
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

export const CONFLICT = "error: [409] Conflict: Another update is currently in progress.";

// ---------------------------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------------------------

const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function newKey(generation: number, now: Date): FakeKey {
  const bytes = crypto.randomBytes(16);
  let id = "AKIA";
  for (let i = 0; i < 16; i++) id += KEY_ALPHABET[bytes[i]! % 32];
  // 40 characters of [A-Za-z0-9/+], as IAM's secrets: '/' and '+' included on purpose.
  const secret = crypto.randomBytes(30).toString("base64").slice(0, 38) + "/+";
  return { id, secret, createDate: now.toISOString().replace(/\.\d{3}Z$/, "Z"), generation };
}

export class EngineError extends Error {}

/** What `pulumi up` would leave: the stack's new outputs (and keys). Throws EngineError as a failed update would. */
export function runEngine(state: StackState, now: Date): void {
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, entry] of Object.entries(state.config)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    values[key] = entry.value;
    if (entry.secret) secretKeys.add(key);
  }
  let config;
  try {
    config = validateConfig({ values, secretKeys }, now).config;
  } catch (error) {
    if (error instanceof ConfigError) throw new EngineError(error.message);
    throw error;
  }
  const deployed = state.outputs.accessKeySlots?.value as SlotRecord[] | undefined;
  let plan;
  try {
    plan = planAccessKeys({ generation: config.accessKeyGeneration, previousKey: config.previousAccessKey, pgpKey: config.pgpKey, deployed });
  } catch (error) {
    if (error instanceof RotationError) throw new EngineError(error.message);
    throw error;
  }

  const keys: StackState["keys"] = {};
  for (const slot of plan.slots) {
    const held = state.keys[slot.slot];
    keys[slot.slot] = held && held.generation === slot.generation ? held : newKey(slot.generation, now);
  }
  state.keys = keys;
  const current = plan.slots.find((s) => s.role === "current")!;
  const currentKey = keys[current.slot]!;

  const iamPath = config.path;
  const roleArn = `arn:aws:iam::${state.account}:role${iamPath}${config.roleName}`;
  const userArn = `arn:aws:iam::${state.account}:user${iamPath}${config.userName}`;
  const slots: SlotRecord[] = plan.slots.map(({ slot, generation, status, pgpKey }) => ({ slot, generation, status, pgpKey: pgpKey ?? null }));
  const credentials = renderCredentials(
    {
      region: awsRegionOf(config.spApiRegion),
      role_arn: roleArn,
      aws_access_key_id: currentKey.id,
      aws_secret_access_key: currentKey.secret,
      client_id: config.lwaClientId ?? PLACEHOLDERS.client_id,
      client_secret: config.lwaClientSecret ?? PLACEHOLDERS.client_secret,
      refresh_token: config.lwaRefreshToken ?? PLACEHOLDERS.refresh_token,
    },
    config.spApiRegion,
  );
  const plain = (value: unknown) => ({ value, secret: false });
  const outputs: StackState["outputs"] = {
    roleArn: plain(roleArn),
    userArn: plain(userArn),
    userName: plain(config.userName),
    accessKeyId: plain(currentKey.id),
    accessKeyCreatedAt: plain(currentKey.createDate),
    accessKeyRotateBy: plain(accessKeyRotateBy(currentKey.createDate, config.maxAccessKeyAgeDays)),
    accessKeySlots: plain(slots),
    credentials: { value: credentials, secret: true },
  };
  if (config.lwaClientSecretIssuedOn) {
    outputs.lwaClientSecretExpiresOn = plain(lwaSecretStatus(config.lwaClientSecretIssuedOn, config.lwaExpiryWarningDays, now).expiresOn);
  }
  // ENGINE OUTPUTS: outputs that later features add (queue, inactiveSince) are computed here, from `config`,
  // `plan`, `state` and `now`, with the project's own pure functions where there are some.
  if (config.lwaRotation) {
    // The queue lives in the provider's region, as the real provider would create it; its name is auto-named.
    const region = state.config["aws:region"]?.value ?? "us-east-1";
    const queueName = "sp-api-lwa-secrets-5e1f0a2";
    outputs.lwaNotificationQueueArn = plain(`arn:aws:sqs:${region}:${state.account}:${queueName}`);
    outputs.lwaNotificationQueueUrl = plain(`https://sqs.${region}.amazonaws.com/${state.account}/${queueName}`);
  }
  state.outputs = outputs;
}

// ---------------------------------------------------------------------------------------------------------------
// The harness, for tests
// ---------------------------------------------------------------------------------------------------------------

export interface StackSeed {
  /** Project config by key without the prefix; numbers, booleans, lists and maps are stored as the CLI would (JSON). */
  config?: Record<string, string | number | boolean | object>;
  /** Secret project config by key. */
  secrets?: Record<string, string>;
  /** Provider config: aws:region, aws:profile. */
  provider?: { region?: string; profile?: string };
  selected?: boolean;
  /** Run the engine once, as if `pulumi up` had deployed the stack (default true). */
  deployed?: boolean;
  account?: string;
}

export class FakePulumi {
  private constructor(readonly dir: string) {}

  static create(opts: { version?: string } = {}): FakePulumi {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "state", "stacks"), { recursive: true });
    fs.writeFileSync(path.join(dir, "state", "version"), opts.version ?? "3.265.0");
    fs.writeFileSync(path.join(dir, "state", "calls.jsonl"), "");
    const shim = path.join(dir, "bin", "pulumi");
    fs.writeFileSync(
      shim,
      `#!/bin/sh\nFAKE_PULUMI_STATE=${JSON.stringify(path.join(dir, "state"))} exec ${JSON.stringify(process.execPath)} ` +
        `-r ${JSON.stringify(path.join(REPO, "scripts", "register.js"))} ${JSON.stringify(path.join(REPO, "test", "fake-pulumi.ts"))} "$@"\n`,
      { mode: 0o755 },
    );
    return new FakePulumi(dir);
  }

  get binDir(): string {
    return path.join(this.dir, "bin");
  }

  private get stateDir(): string {
    return path.join(this.dir, "state");
  }

  /** The environment a command under test runs with: this CLI first on PATH, a passphrase, no real backend. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith("PULUMI_") || name.startsWith("AWS_")) delete env[name];
    return { ...env, PATH: `${this.binDir}${path.delimiter}${process.env.PATH}`, PULUMI_CONFIG_PASSPHRASE: "test-passphrase", ...extra };
  }

  /** Makes the engine's clock (key creation dates) read `iso` instead of now. */
  setNow(iso: string): void {
    fs.writeFileSync(path.join(this.stateDir, "now"), iso);
  }

  addStack(name: string, seed: StackSeed = {}): void {
    const config: StackState["config"] = {};
    for (const [key, value] of Object.entries(seed.config ?? {})) {
      config[`${PROJECT}:${key}`] = { value: typeof value === "string" ? value : JSON.stringify(value), secret: false };
    }
    for (const [key, value] of Object.entries(seed.secrets ?? {})) config[`${PROJECT}:${key}`] = { value, secret: true };
    if (seed.provider?.region) config["aws:region"] = { value: seed.provider.region, secret: false };
    if (seed.provider?.profile) config["aws:profile"] = { value: seed.provider.profile, secret: false };
    const state: StackState = { config, outputs: {}, keys: {}, account: seed.account ?? FAKE_ACCOUNT, history: [], failNext: [] };
    if (seed.deployed ?? true) {
      const now = engineNow(this.stateDir);
      runEngine(state, now);
      state.lastUpdate = now.toISOString();
      state.history.push({ version: 1, startTime: state.lastUpdate, endTime: state.lastUpdate, result: "succeeded" });
    }
    writeStack(this.stateDir, name, state);
    if (seed.selected) fs.writeFileSync(path.join(this.stateDir, "selected"), name);
  }

  /** A stack's state as the fake holds it now. */
  stack(name: string): StackState {
    return readStack(this.stateDir, name)!;
  }

  /** Changes a stack's state in place (outputs a test wants, a delay for `up`). */
  update(name: string, change: (state: StackState) => void): void {
    const state = this.stack(name);
    change(state);
    writeStack(this.stateDir, name, state);
  }

  /** A stack's project config, prefix stripped. */
  config(name: string): Record<string, ConfigEntry> {
    const out: Record<string, ConfigEntry> = {};
    for (const [key, entry] of Object.entries(this.stack(name).config)) if (key.startsWith(`${PROJECT}:`)) out[key.slice(PROJECT.length + 1)] = entry;
    return out;
  }

  failNext(name: string, command: string, failure: { stderr?: string; code?: number } = {}): void {
    this.update(name, (s) => s.failNext.push({ command, stderr: failure.stderr ?? "error: update failed (injected by the test)", code: failure.code ?? 255 }));
  }

  calls(): RecordedCall[] {
    return fs
      .readFileSync(path.join(this.stateDir, "calls.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RecordedCall);
  }

  /** Calls whose arguments start with `words` (e.g. "up", "config set"). */
  callsOf(words: string, stack?: string): RecordedCall[] {
    const prefix = words.split(" ");
    return this.calls().filter((c) => prefix.every((w, i) => c.argv[i] === w) && (stack === undefined || c.stack === stack));
  }

  /** Runs the stand-in directly, as a test would run the real CLI. */
  run(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
    return spawnSync(path.join(this.binDir, "pulumi"), args, { input, encoding: "utf8", env: this.env() });
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The executable
// ---------------------------------------------------------------------------------------------------------------

function stackFile(stateDir: string, name: string): string {
  return path.join(stateDir, "stacks", `${encodeURIComponent(name)}.json`);
}

function readStack(stateDir: string, name: string): StackState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stackFile(stateDir, name), "utf8")) as StackState;
  } catch {
    return undefined;
  }
}

function writeStack(stateDir: string, name: string, state: StackState): void {
  const file = stackFile(stateDir, name);
  fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify(state, null, 2));
  fs.renameSync(`${file}.${process.pid}`, file);
}

function stackNames(stateDir: string): string[] {
  return fs
    .readdirSync(path.join(stateDir, "stacks"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => decodeURIComponent(f.slice(0, -5)))
    .sort();
}

function engineNow(stateDir: string): Date {
  try {
    return new Date(fs.readFileSync(path.join(stateDir, "now"), "utf8").trim());
  } catch {
    return new Date();
  }
}

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
}

function parseArgv(argv: string[]): Parsed {
  const words: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      const eq = arg.indexOf("=");
      if (eq > 0) flags.set(arg.slice(0, eq), arg.slice(eq + 1));
      else if (VALUE_FLAGS.has(arg)) flags.set(arg, argv[++i] ?? "");
      else flags.set(arg, true);
    } else {
      words.push(arg);
    }
  }
  return { words, flags };
}

class CliExit extends Error {
  constructor(
    readonly code: number,
    readonly stderr: string,
  ) {
    super(stderr);
  }
}

function readStdin(): string {
  try {
    return fs.readFileSync(0, "utf8");
  } catch {
    return "";
  }
}

/** A `--path` key such as `jobConfigs[0]` or `tags.team`, applied to the stored JSON value. */
function setPath(current: string | undefined, pathExpr: string, value: string): { key: string; value: string } {
  const m = /^([^.[]+)(.*)$/.exec(pathExpr)!;
  const key = m[1]!;
  const rest = m[2]!;
  if (!rest) return { key, value };
  let root: any;
  try {
    root = current === undefined ? undefined : JSON.parse(current);
  } catch {
    root = undefined;
  }
  const parts = [...rest.matchAll(/\[(\d+)\]|\.([^.[]+)/g)].map((p) => (p[1] !== undefined ? Number(p[1]) : p[2]!));
  root ??= typeof parts[0] === "number" ? [] : {};
  let node = root;
  parts.forEach((part, i) => {
    if (i === parts.length - 1) {
      node[part] = value;
      return;
    }
    node[part] ??= typeof parts[i + 1] === "number" ? [] : {};
    node = node[part];
  });
  return { key, value: JSON.stringify(root) };
}

function fullKey(key: string): string {
  return key.includes(":") ? key : `${PROJECT}:${key}`;
}

function main(argv: string[]): number {
  const stateDir = process.env.FAKE_PULUMI_STATE;
  if (!stateDir) {
    process.stderr.write("fake pulumi: FAKE_PULUMI_STATE is not set\n");
    return 2;
  }
  const started = Date.now();
  const { words, flags } = parseArgv(argv);
  const selectedFile = path.join(stateDir, "selected");
  const selected = fs.existsSync(selectedFile) ? fs.readFileSync(selectedFile, "utf8").trim() : undefined;
  const stackFlag = (flags.get("--stack") ?? flags.get("-s")) as string | undefined;
  const stackName = stackFlag ?? selected;
  const command = words.slice(0, 2).join(" ");
  let stdin = "";
  const out: string[] = [];
  let code = 0;
  let stderr = "";

  const record = () =>
    fs.appendFileSync(
      path.join(stateDir, "calls.jsonl"),
      JSON.stringify({ argv, stdin, stack: stackName, cwd: process.cwd(), startedAt: started, endedAt: Date.now() } satisfies RecordedCall) + "\n",
    );

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

  try {
    switch (words[0]) {
      case "version":
        out.push(`v${fs.readFileSync(path.join(stateDir, "version"), "utf8").trim()}`);
        break;
      case "whoami":
        out.push("fake-user");
        break;
      case "login":
        break;
      case "stack": {
        const sub = words[1];
        if (sub === undefined && flags.has("--show-name")) {
          out.push(needStack().name);
        } else if (sub === "ls") {
          const list = stackNames(stateDir).map((name) => {
            const s = readStack(stateDir, name)!;
            return { name, current: name === selected, lastUpdate: s.lastUpdate, updateInProgress: false, resourceCount: Object.keys(s.keys).length + 7 };
          });
          out.push(JSON.stringify(list, null, 2));
        } else if (sub === "select") {
          const name = words[2] ?? stackFlag;
          if (!name) throw new CliExit(255, "error: no stack name given");
          if (!readStack(stateDir, name)) {
            if (!flags.has("--create") && !flags.has("-c")) throw new CliExit(255, `error: no stack named '${name}' found`);
            writeStack(stateDir, name, { config: {}, outputs: {}, keys: {}, account: FAKE_ACCOUNT, history: [], failNext: [] });
          }
          fs.writeFileSync(selectedFile, name);
        } else if (sub === "output") {
          const { state } = needStack();
          const show = flags.has("--show-secrets");
          const shown = (o: { value: unknown; secret: boolean }) => (o.secret && !show ? "[secret]" : o.value);
          const only = words[2];
          if (only !== undefined) {
            const o = state.outputs[only];
            if (!o) throw new CliExit(255, `error: current stack does not have output property '${only}'`);
            out.push(flags.has("--json") ? JSON.stringify(shown(o)) : String(shown(o)));
          } else {
            out.push(JSON.stringify(Object.fromEntries(Object.entries(state.outputs).map(([k, o]) => [k, shown(o)])), null, 2));
          }
        } else if (sub === "history") {
          const { state } = needStack();
          const page = [...state.history].reverse().slice(0, Number(flags.get("--page-size") ?? 10));
          out.push(
            JSON.stringify(
              page.map((h) => ({ ...h, kind: "update", message: "", environment: {}, config: {}, resourceChanges: { same: 8 } })),
              null,
              2,
            ),
          );
        } else {
          throw new CliExit(2, `error: fake pulumi: unsupported command: stack ${sub ?? ""}`);
        }
        break;
      }
      case "config": {
        const sub = words[1];
        if (sub === undefined) {
          const { state } = needStack();
          const show = flags.has("--show-secrets");
          out.push(
            JSON.stringify(
              Object.fromEntries(
                Object.entries(state.config).map(([k, e]) => [k, e.secret && !show ? { secret: true } : { value: e.value, secret: e.secret }]),
              ),
              null,
              2,
            ),
          );
        } else if (sub === "set") {
          const { name, state } = needStack();
          const rawKey = words[2];
          if (!rawKey) throw new CliExit(255, "error: accepts between 1 and 2 arg(s), received 0");
          let value = words[3];
          if (value === undefined) {
            stdin = readStdin();
            value = stdin;
          }
          const secret = flags.has("--secret");
          const target = flags.has("--path") ? setPath(state.config[fullKey(rawKey.replace(/[.[].*$/, ""))]?.value, rawKey, value) : { key: rawKey, value };
          state.config[fullKey(target.key)] = { value: target.value, secret };
          writeStack(stateDir, name, state);
        } else if (sub === "rm") {
          const { name, state } = needStack();
          delete state.config[fullKey(words[2] ?? "")];
          writeStack(stateDir, name, state);
        } else if (sub === "get") {
          const { state } = needStack();
          const entry = state.config[fullKey(words[2] ?? "")];
          if (!entry) throw new CliExit(255, `error: configuration key '${words[2]}' not found for stack '${stackName}'`);
          out.push(flags.has("--json") ? JSON.stringify({ value: entry.value, secret: entry.secret }) : entry.value);
        } else {
          throw new CliExit(2, `error: fake pulumi: unsupported command: config ${sub}`);
        }
        break;
      }
      case "up": {
        const { name, state } = needStack();
        if (!flags.has("--yes") && !flags.has("-y")) throw new CliExit(255, "error: --yes must be passed in to proceed when running in non-interactive mode");
        if (state.upDelayMs) spawnSync("sleep", [String(state.upDelayMs / 1000)]);
        const now = engineNow(stateDir);
        out.push(`Updating (${name}):`);
        try {
          runEngine(state, now);
        } catch (error) {
          if (!(error instanceof EngineError)) throw error;
          state.history.push({ version: state.history.length + 1, startTime: now.toISOString(), endTime: now.toISOString(), result: "failed" });
          writeStack(stateDir, name, state);
          throw new CliExit(255, `error: ${error.message}`);
        }
        state.lastUpdate = now.toISOString();
        state.history.push({ version: state.history.length + 1, startTime: state.lastUpdate, endTime: state.lastUpdate, result: "succeeded" });
        writeStack(stateDir, name, state);
        out.push("Resources:", `    ${Object.keys(state.keys).length + 7} unchanged`, "Update succeeded");
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
  if (out.length > 0) process.stdout.write(out.join("\n") + "\n");
  if (stderr) process.stderr.write(stderr + "\n");
  return code;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
