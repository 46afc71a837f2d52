/**
 * A stand-in for the Pulumi CLI, for the tests of every command that drives stacks (credentials, rotate-lwa,
 * rotate-key, status, maintain). There is no Pulumi CLI on the machines the tests run on.
 *
 * - FakePulumi, here, used by tests: makes a directory with `bin/pulumi` (a shim that runs test/fake-pulumi-cli.ts)
 *   and the stacks' state, seeds stacks, injects failures, and reads back what happened: every call's arguments and
 *   standard input.
 * - The executable, test/fake-pulumi-cli.ts: answers the CLI commands the Automation API and our own plumbing send
 *   (version, stack ls/select/output/history, config, config set/rm, up), keeping each stack in its own JSON file,
 *   so stacks driven in parallel never write the same file. It loads this file (the engine) for `up` only.
 *
 * Its `up` is a small engine built on the project's own pure code, so the commands meet the real rules: the config
 * is validated (validateConfig), the key slots are planned by the rotation guard (planAccessKeys: a refused rotation
 * fails `up`, as in a real run), a slot whose generation changes gets a new key, and the credentials block is
 * rendered from the template (renderCredentials).
 */
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, PROJECT, validateConfig } from "../src/config";
import { renderCredentials, renderLwaOnlyCredentials, PLACEHOLDERS } from "../src/credentials";
import { deployedStateFrom, operationalOutputs, resolveState } from "../src/state";
import { accessKeyRotateBy, lwaSecretStatus, lwaSwitchRefusal, planAccessKeys, RotationError, slotRecord, SlotRecord } from "../src/lifecycle";
import { awsRegionOf, type SpApiRegion } from "../policies/regions";
import {
  encryptSecret,
  engineNow,
  FAKE_ACCOUNT,
  isSecure,
  newBackendStack,
  parseConfigFile,
  readConfigFile,
  readStack,
  selectionFile,
  stackConfigPath,
  updateRecord,
  viewOf,
  writeConfigFile,
  writeStack,
} from "./fake-pulumi-cli";
import type { ConfigEntry, FakeKey, RawValue, RecordedCall, StackState } from "./fake-pulumi-cli";

export type { ConfigEntry, FakeKey, RawValue, RecordedCall, StackState, UpdateRecord } from "./fake-pulumi-cli";
export { CONFLICT, FAKE_ACCOUNT, LOCKED } from "./fake-pulumi-cli";

const REPO = path.resolve(__dirname, "..");

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

/**
 * What `pulumi up` would leave: the stack's new outputs (and keys). Throws EngineError as a failed update would.
 * `stateBase` is SP_API_IAM_STATE_BASE as the `up` was given it (the commands' compare-and-set). Returns the
 * state rule's warnings (the stale keys a working copy behind the deployment holds), as the program logs them.
 */
export function runEngine(state: StackState, stackConfig: Record<string, ConfigEntry>, now: Date, stateBase?: string): string[] {
  const local: Record<string, string> = {};
  const localSecrets = new Set<string>();
  for (const [fullKey, entry] of Object.entries(stackConfig)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    local[key] = entry.value;
    if (entry.secret) localSecrets.add(key);
  }
  // The program's state rule (src/state.ts), over the last deployment's outputs, before validation.
  const deployedState = deployedStateFrom(state.outputs.operationalState?.value, state.outputs.operationalSecrets?.value);
  const resolution = resolveState({
    local: { values: local, secretKeys: localSecrets },
    deployed: deployedState,
    ...(stateBase?.trim() ? { expectedBase: Number(stateBase) } : {}),
  });
  if (resolution.kind === "conflict") throw new EngineError(resolution.message);
  const { values, secretKeys } = resolution;
  const operational = operationalOutputs(values, secretKeys, resolution.revision);
  const stateOutputs: StackState["outputs"] = {
    operationalState: { value: operational.state, secret: false },
    operationalSecrets: { value: operational.secrets, secret: true },
  };
  let config;
  try {
    config = validateConfig({ values, secretKeys, providerRegion: stackConfig["aws:region"]?.value }, now).config;
  } catch (error) {
    if (error instanceof ConfigError) throw new EngineError(error.message);
    throw error;
  }
  const deployed = state.outputs.accessKeySlots?.value as SlotRecord[] | undefined;
  if (config.connectorAuth === "lwa") {
    runLwaOnlyEngine(state, stackConfig, config, now, stateOutputs);
    return resolution.warnings;
  }
  let plan;
  try {
    plan = planAccessKeys({
      generation: config.accessKeyGeneration,
      previousKey: config.previousAccessKey,
      pgpKey: config.pgpKey,
      deployed,
      today: now.toISOString().slice(0, 10),
    });
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

  // An adopted user and role keep the paths they were found with (src/adoption.ts).
  const roleArn = `arn:aws:iam::${state.account}:role${config.adoption?.role.path ?? config.path}${config.roleName}`;
  const userArn = `arn:aws:iam::${state.account}:user${config.adoption?.user.path ?? config.path}${config.userName}`;
  // One block per authorization, as the program renders them: the same app, role and key; its region and token.
  const block = (region: SpApiRegion, token: string | undefined) =>
    renderCredentials(
      {
        region: awsRegionOf(region),
        role_arn: roleArn,
        aws_access_key_id: currentKey.id,
        aws_secret_access_key: currentKey.secret,
        client_id: config.lwaClientId ?? PLACEHOLDERS.client_id,
        client_secret: config.lwaClientSecret ?? PLACEHOLDERS.client_secret,
        refresh_token: token ?? PLACEHOLDERS.refresh_token,
      },
      region,
    );
  const credentials = block(config.spApiRegion, config.lwaRefreshToken);
  const plain = (value: unknown) => ({ value, secret: false });
  const outputs: StackState["outputs"] = {
    connectorAuth: plain("iam"),
    roleArn: plain(roleArn),
    userArn: plain(userArn),
    userName: plain(config.userName),
    accessKeyId: plain(currentKey.id),
    accessKeyCreatedAt: plain(currentKey.createDate),
    accessKeyRotateBy: plain(accessKeyRotateBy(currentKey.createDate, config.maxAccessKeyAgeDays)),
    // The program's own records (slotRecord), which carry inactiveSince from the last deployment.
    accessKeySlots: plain(plan.slots.map(slotRecord)),
    accessKeyIds: plain([
      ...new Set([
        currentKey.id,
        ...plan.slots.filter((s) => s !== current).map((s) => keys[s.slot]!.id),
        ...(config.adoption?.accessKeyId ? [config.adoption.accessKeyId] : []),
      ]),
    ]),
    credentials: { value: credentials, secret: true },
  };
  // ENGINE OUTPUTS: outputs that later features add (queue, inactiveSince) are computed here, from `config`,
  // `plan`, `state` and `now`, with the project's own pure functions where there are some.
  addLwaOutputs(state, stackConfig, config, outputs, now);
  addAuthorizationOutputs(config, outputs, block);
  if (config.adoption) outputs.adoptionDeployed = plain(config.adoption.phase === "import" ? "as-found" : "kit");
  state.outputs = { ...outputs, ...stateOutputs };
  return resolution.warnings;
}

type EngineConfig = ReturnType<typeof validateConfig>["config"];

/** The outputs every kind of stack has: the LWA secret's expiry and, with lwaRotation, the queue. */
function addLwaOutputs(state: StackState, stackConfig: Record<string, ConfigEntry>, config: EngineConfig, outputs: StackState["outputs"], now: Date): void {
  const plain = (value: unknown) => ({ value, secret: false });
  if (config.lwaClientSecretIssuedOn) {
    outputs.lwaClientSecretExpiresOn = plain(lwaSecretStatus(config.lwaClientSecretIssuedOn, config.lwaExpiryWarningDays, now).expiresOn);
  }
  if (config.lwaRotation) {
    // The queue lives in the provider's region, as the real provider would create it; its name is auto-named.
    const region = stackConfig["aws:region"]?.value ?? "us-east-1";
    const queueName = "sp-api-lwa-secrets-5e1f0a2";
    outputs.lwaNotificationQueueArn = plain(`arn:aws:sqs:${region}:${state.account}:${queueName}`);
    outputs.lwaNotificationQueueUrl = plain(`https://sqs.${region}.amazonaws.com/${state.account}/${queueName}`);
  }
}

/** With authorizations: the secret map of their blocks and the plain map of their regions, as the program exports them. */
function addAuthorizationOutputs(
  config: EngineConfig,
  outputs: StackState["outputs"],
  block: (region: SpApiRegion, token: string | undefined) => string,
): void {
  const entries = Object.entries(config.authorizations);
  if (entries.length === 0) return;
  outputs.authorizationCredentials = { value: Object.fromEntries(entries.map(([name, a]) => [name, block(a.spApiRegion, a.refreshToken)])), secret: true };
  outputs.authorizations = { value: Object.fromEntries(entries.map(([name, a]) => [name, a.spApiRegion])), secret: false };
}

/** connectorAuth lwa, as the program does it: the switch rule first, then no key and no IAM output, the three-field block. */
function runLwaOnlyEngine(
  state: StackState,
  stackConfig: Record<string, ConfigEntry>,
  config: EngineConfig,
  now: Date,
  stateOutputs: StackState["outputs"],
): void {
  const last = state.outputs;
  const userName = last.userName?.value;
  const createdAt = last.accessKeyCreatedAt?.value;
  const slots = last.accessKeySlots?.value;
  const refusal = lwaSwitchRefusal({
    deployed: {
      readable: true,
      holdsIam: (Array.isArray(slots) && slots.length > 0) || typeof userName === "string",
      ...(typeof userName === "string" ? { userName } : {}),
      ...(typeof createdAt === "string" ? { accessKeyCreatedAt: createdAt } : {}),
    },
    unusedAt: config.iamKeysUnusedAt,
    now,
  });
  if (refusal) throw new EngineError(refusal);
  state.keys = {};
  const block = (region: SpApiRegion, token: string | undefined) =>
    renderLwaOnlyCredentials(
      {
        client_id: config.lwaClientId ?? PLACEHOLDERS.client_id,
        client_secret: config.lwaClientSecret ?? PLACEHOLDERS.client_secret,
        refresh_token: token ?? PLACEHOLDERS.refresh_token,
      },
      region,
    );
  const credentials = block(config.spApiRegion, config.lwaRefreshToken);
  const outputs: StackState["outputs"] = { connectorAuth: { value: "lwa", secret: false }, credentials: { value: credentials, secret: true } };
  addLwaOutputs(state, stackConfig, config, outputs, now);
  addAuthorizationOutputs(config, outputs, block);
  state.outputs = { ...outputs, ...stateOutputs };
}

// ---------------------------------------------------------------------------------------------------------------
// The harness, for tests
// ---------------------------------------------------------------------------------------------------------------

export interface StackSeed {
  /**
   * Project config by key without the prefix, written to the project's Pulumi.<stack>.yaml as a person writes it:
   * text as text, numbers and booleans as their text (as `pulumi config set` stores them), lists and maps as
   * nested YAML (as `pulumi config set --path` writes them).
   */
  config?: Record<string, string | number | boolean | object>;
  /** Secret project config by key: `secure:` in the file. */
  secrets?: Record<string, string>;
  /** Provider config: aws:region, aws:profile. */
  provider?: { region?: string; profile?: string };
  selected?: boolean;
  /** Run the engine once, as if `pulumi up` had deployed the stack with that config (default true). */
  deployed?: boolean;
  account?: string;
}

/** A project's stack config as the CLI reports it: full keys ("sp-api-iam:lwaClientId", "aws:region"), decrypted. */
export type StackConfig = Record<string, ConfigEntry>;

/** A second project directory for the same backend: what a fresh clone of the repository holds. */
export interface FakeClone {
  dir: string;
  /** The environment of a command run from that clone (SP_API_IAM_PROJECT_DIR is the clone). */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** A stack's project config in the clone, prefix stripped. */
  config(stack: string): Record<string, ConfigEntry>;
}

/** Every harness not yet cleaned up: their daemons are stopped when the test run ends, whatever happened. */
const LIVE = new Set<FakePulumi>();
process.on("exit", () => LIVE.forEach((cli) => cli.cleanup()));

const toRaw = (value: string | number | boolean | object): RawValue => (typeof value === "object" ? (value as RawValue) : String(value));

/**
 * The stand-in CLI and the places it keeps things, as on a DIY backend: `state/` is the backend (deployments, tags,
 * the update lock); `project/` is the project directory commands run in (a copy of this repository's Pulumi.yaml,
 * and each stack's Pulumi.<stack>.yaml: its config); `committed/` is what a fresh clone of it holds.
 */
export class FakePulumi {
  private clones = 0;

  private constructor(
    readonly dir: string,
    private readonly daemon: ChildProcess,
  ) {}

  /** `parent`: the directory to make its own in (default the system's temporary directory; npm run demo's is its own). */
  static create(opts: { version?: string; parent?: string } = {}): FakePulumi {
    const dir = fs.mkdtempSync(path.join(opts.parent ?? os.tmpdir(), "fake-pulumi-"));
    const state = path.join(dir, "state");
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(state, "stacks"), { recursive: true });
    fs.mkdirSync(path.join(state, "requests"));
    fs.mkdirSync(path.join(state, "selected"));
    for (const project of ["project", "committed"]) {
      fs.mkdirSync(path.join(dir, project));
      fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(dir, project, "Pulumi.yaml"));
    }
    fs.writeFileSync(path.join(state, "version"), opts.version ?? "3.265.0");
    fs.writeFileSync(path.join(state, "calls.jsonl"), "");
    const daemon = spawn(process.execPath, ["-r", path.join(REPO, "tools", "register.js"), path.join(REPO, "test", "fake-pulumi-cli.ts"), "--serve"], {
      env: { ...process.env, FAKE_PULUMI_STATE: state },
      stdio: "ignore",
    });
    daemon.unref();
    // The shim hands each call to the daemon over loopback (bash's /dev/tcp): see serve() in fake-pulumi-cli.ts.
    // Only bash builtins (cat only for a call's standard input): a suite makes thousands of calls, and each further
    // process a call started (seq, cat, rm) cost more CPU than the call itself.
    fs.writeFileSync(
      path.join(dir, "bin", "pulumi"),
      `#!/bin/bash
state=${JSON.stringify(state)}
for ((i = 0; i < 1000; i++)); do [ -s "$state/port" ] && break; sleep 0.01; done
IFS= read -r port < "$state/port"
request="$state/requests/$$-$RANDOM$RANDOM"
printf '%s\\0' "$@" > "$request.args"
printf '%s' "\${SP_API_IAM_STATE_BASE-}" > "$request.base"
exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "fake pulumi: its daemon is gone" >&2; exit 98; }
printf '%s %s %s\\n' "$request" "\${PULUMI_CONFIG_PASSPHRASE+p}\${PULUMI_CONFIG_PASSPHRASE_FILE+f}-" "$PWD" >&3
code=99
while IFS= read -r line <&3; do
  case "$line" in
    STDIN) cat > "$request.stdin"; printf 'GO\\n' >&3 ;;
    DONE*) code=\${line#DONE }; break ;;
  esac
done
out="" err=""
IFS= read -r -d '' out 2>/dev/null < "$request.out"
IFS= read -r -d '' err 2>/dev/null < "$request.err"
printf '%s' "$out"
printf '%s' "$err" >&2
# The daemon removes the request's files (its standard input may be a secret), then closes the connection.
printf 'BYE\\n' >&3
IFS= read -r line <&3
exec 3<&-
exit "$code"
`,
      { mode: 0o755 },
    );
    const cli = new FakePulumi(dir, daemon);
    LIVE.add(cli);
    return cli;
  }

  get binDir(): string {
    return path.join(this.dir, "bin");
  }

  private get stateDir(): string {
    return path.join(this.dir, "state");
  }

  /** The project directory the commands run in (SP_API_IAM_PROJECT_DIR): Pulumi.yaml and the stacks' files. */
  get projectDir(): string {
    return path.join(this.dir, "project");
  }

  /** What a fresh clone holds: Pulumi.yaml and the stack files as seeded (or as commit() last took them). */
  private get committedDir(): string {
    return path.join(this.dir, "committed");
  }

  /** The environment a command under test runs with: this CLI first on PATH, a passphrase, no real backend. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith("PULUMI_") || name.startsWith("AWS_")) delete env[name];
    return {
      ...env,
      PATH: `${this.binDir}${path.delimiter}${process.env.PATH}`,
      PULUMI_CONFIG_PASSPHRASE: "test-passphrase",
      // The project directory the commands work in: this harness's, never the repository's own stack files.
      SP_API_IAM_PROJECT_DIR: this.projectDir,
      // The commands' locks (lib/lock.ts): this harness's own, never the host's shared /tmp/sp-api-iam-locks.
      SP_API_IAM_LOCK_DIR: path.join(this.dir, "locks"),
      ...extra,
    };
  }

  /** Makes the engine's clock (key creation dates) read `iso` instead of now. */
  setNow(iso: string): void {
    fs.writeFileSync(path.join(this.stateDir, "now"), iso);
  }

  /**
   * A stack in the backend, its config in the project's Pulumi.<name>.yaml (and in what a clone gets), deployed
   * once with that config unless `deployed: false`.
   */
  addStack(name: string, seed: StackSeed = {}): void {
    const state: StackState = newBackendStack(seed.account ?? FAKE_ACCOUNT);
    const config: Record<string, RawValue> = {};
    for (const [key, value] of Object.entries(seed.config ?? {})) config[`${PROJECT}:${key}`] = toRaw(value);
    for (const [key, value] of Object.entries(seed.secrets ?? {})) config[`${PROJECT}:${key}`] = { secure: encryptSecret(value) };
    if (seed.provider?.region) config["aws:region"] = seed.provider.region;
    if (seed.provider?.profile) config["aws:profile"] = seed.provider.profile;
    const file = stackConfigPath(this.projectDir, name);
    writeConfigFile(file, { header: { encryptionsalt: state.encryptionSalt }, config });
    fs.copyFileSync(file, stackConfigPath(this.committedDir, name));
    if (seed.deployed ?? true) {
      const now = engineNow(this.stateDir);
      runEngine(state, this.config(name, { prefixed: true }), now);
      state.lastUpdate = now.toISOString();
      state.history.push(updateRecord(1, now, "succeeded", config, Object.keys(state.keys).length + 7));
      state.tags = { "pulumi:project": PROJECT, "pulumi:runtime": "nodejs" };
    }
    writeStack(this.stateDir, name, state);
    if (seed.selected) this.select(name);
  }

  /** Selects `name` in a project directory (default the harness's), as `pulumi stack select` does. */
  select(name: string, projectDir: string = this.projectDir): void {
    fs.writeFileSync(selectionFile(this.stateDir, projectDir), name);
  }

  /** Leaves no stack selected in a project directory (default the harness's). */
  unselect(projectDir: string = this.projectDir): void {
    fs.rmSync(selectionFile(this.stateDir, projectDir), { force: true });
  }

  /** A stack as the backend holds it now: outputs, keys, history (each update with its config), tags. */
  stack(name: string): StackState {
    return readStack(this.stateDir, name)!;
  }

  /** Changes a stack's backend state in place (outputs a test wants, a delay for `up`). Config is not there: see setConfig. */
  update(name: string, change: (state: StackState) => void): void {
    const state = this.stack(name);
    change(state);
    writeStack(this.stateDir, name, state);
  }

  /**
   * A stack's config as the project directory's Pulumi.<name>.yaml holds it, decrypted: prefix stripped (this
   * project's keys only), or every key in full with `prefixed`.
   */
  config(name: string, opts: { projectDir?: string; prefixed?: boolean } = {}): StackConfig {
    const { config } = readConfigFile(stackConfigPath(opts.projectDir ?? this.projectDir, name));
    const out: StackConfig = {};
    for (const [key, raw] of Object.entries(config)) {
      const v = viewOf(raw, true);
      const entry = { value: v.value ?? "", secret: v.secret };
      if (opts.prefixed) out[key] = entry;
      else if (key.startsWith(`${PROJECT}:`)) out[key.slice(PROJECT.length + 1)] = entry;
    }
    return out;
  }

  /**
   * Edits a stack's Pulumi.<name>.yaml by hand, as a person would: `change` gets the config by full key, decrypted;
   * a value it adds or changes is written as text (or `secure:` when secret), a value it leaves alone keeps its form.
   */
  editConfig(name: string, change: (config: StackConfig) => void, projectDir: string = this.projectDir): void {
    const file = stackConfigPath(projectDir, name);
    const contents = readConfigFile(file);
    const before = this.config(name, { projectDir, prefixed: true });
    const after = structuredClone(before);
    change(after);
    const config: Record<string, RawValue> = {};
    for (const [key, entry] of Object.entries(after)) {
      const was = before[key];
      const unchanged = was && was.value === entry.value && was.secret === entry.secret;
      config[key] = unchanged ? contents.config[key]! : entry.secret ? { secure: encryptSecret(entry.value) } : entry.value;
    }
    if (Object.values(config).some(isSecure)) contents.header.encryptionsalt ??= this.stack(name)?.encryptionSalt;
    writeConfigFile(file, { header: contents.header, config });
  }

  /** Sets one of this project's keys in the stack's file (a person's edit): `secret` writes it `secure:`. */
  setConfig(name: string, key: string, value: string, opts: { secret?: boolean; projectDir?: string } = {}): void {
    this.editConfig(name, (c) => (c[`${PROJECT}:${key}`] = { value, secret: opts.secret ?? false }), opts.projectDir);
  }

  /** Removes one of this project's keys from the stack's file. */
  removeConfig(name: string, key: string, projectDir?: string): void {
    this.editConfig(name, (c) => delete c[`${PROJECT}:${key}`], projectDir);
  }

  /** The stack file's text, as a test would read it from the project directory. */
  configText(name: string, projectDir: string = this.projectDir): string {
    return fs.readFileSync(stackConfigPath(projectDir, name), "utf8");
  }

  /** Takes the project directory's stack files as they are now as what a fresh clone gets (a commit and push). */
  commit(): void {
    for (const file of fs.readdirSync(this.projectDir)) {
      if (/^Pulumi\.[^.]+\.yaml$/.test(file)) fs.copyFileSync(path.join(this.projectDir, file), path.join(this.committedDir, file));
    }
  }

  /**
   * A fresh clone of the project for the same backend: a new directory with the committed files only (Pulumi.yaml,
   * and each stack's file as seeded or last committed), none of what commands wrote since in the project directory.
   */
  cloneProject(): FakeClone {
    const dir = path.join(this.dir, `clone-${++this.clones}`);
    fs.cpSync(this.committedDir, dir, { recursive: true });
    return {
      dir,
      env: (extra: NodeJS.ProcessEnv = {}) => this.env({ SP_API_IAM_PROJECT_DIR: dir, ...extra }),
      config: (stack: string) => this.config(stack, { projectDir: dir }),
    };
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

  /** Runs the stand-in directly, as a test would run the real CLI, in the project directory (or `cwd`). */
  run(args: string[], input?: string, opts: { cwd?: string } = {}): { status: number | null; stdout: string; stderr: string } {
    return spawnSync(path.join(this.binDir, "pulumi"), args, { input, encoding: "utf8", env: this.env(), cwd: opts.cwd ?? this.projectDir });
  }

  /** Stops the daemon and keeps the directory (npm run demo -- --keep). */
  stop(): void {
    this.daemon.kill();
    LIVE.delete(this);
  }

  cleanup(): void {
    this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True when the stack file's text holds `key` encrypted (`secure:`): a test's check that a secret is not in plain text. */
export function isSecureIn(configText: string, key: string): boolean {
  const { config } = parseConfigFile(configText, "Pulumi.<stack>.yaml");
  return isSecure(config[key.includes(":") ? key : `${PROJECT}:${key}`]);
}
