/**
 * The one place the commands that drive stacks (credentials, rotate-lwa, rotate-key, status, maintain) talk to
 * Pulumi: find the CLI, open a stack, read its config and outputs, set config (secrets through standard input),
 * run `up`, list the stacks. The only importer of @pulumi/pulumi/automation.
 *
 * Errors leave here as PulumiError: a cause and a fix, never a secret and never the CLI's command line (the
 * Automation API's CommandError repeats the command line and the whole stdout, which may hold either).
 */
import { spawn } from "child_process";
import { CommandError, ConcurrentUpdateError, LocalWorkspace, PulumiCommand, Stack, StackNotFoundError } from "@pulumi/pulumi/automation";
import { PROJECT } from "../src/config";
import { errorLine, helpText, usageErrorText } from "./cli";
import { Redactor } from "./output";
import { checkedPulumiVersion, findPulumiCli, PulumiError, REPO_ROOT } from "./pulumi-cli";

export { findPulumiCli, PulumiError, REPO_ROOT, type PulumiErrorReason } from "./pulumi-cli";

export interface OutputValue {
  value: unknown;
  secret: boolean;
}

export interface StackConfigView {
  /** This project's keys, prefix stripped, as the raw strings the CLI stores (lists and maps as JSON). */
  values: Record<string, string>;
  /** Which of them are secrets. */
  secretKeys: Set<string>;
  /** The AWS provider's settings, which choose the operator's credentials as `pulumi up` does. */
  provider: { profile?: string; region?: string };
}

/** Every secret value a stack's config and outputs hold, for a Redactor to scrub from whatever is printed. */
export function secretsOf(view?: StackConfigView, outputs?: Record<string, OutputValue>): string[] {
  const fromConfig = view ? [...view.secretKeys].map((key) => view.values[key]) : [];
  const fromOutputs = Object.values(outputs ?? {}).map((o) => (o.secret && typeof o.value === "string" ? o.value : undefined));
  return [...fromConfig, ...fromOutputs].filter((v): v is string => typeof v === "string");
}

export interface PulumiOptions {
  /** The environment the CLI runs with (default process.env): PATH, PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE... */
  env?: NodeJS.ProcessEnv;
  /** The project directory, holding Pulumi.yaml (default: this repository). */
  workDir?: string;
}

export interface StackSummary {
  name: string;
  current: boolean;
  lastUpdate?: string;
  updateInProgress?: boolean;
}

export interface PulumiStack {
  readonly name: string;
  /**
   * `secrets: false` reads without decrypting (no passphrase or secrets provider needed): secret keys are listed
   * in secretKeys with no value, secret outputs read "[secret]". Default: with secrets.
   */
  readConfig(opts?: { secrets?: boolean }): Promise<StackConfigView>;
  readOutputs(opts?: { secrets?: boolean }): Promise<Record<string, OutputValue>>;
  /** Sets a plain value (a project key, without the prefix). */
  setConfig(key: string, value: string): Promise<void>;
  /** Sets a secret: `pulumi config set --secret`, the value on standard input, never in a process's arguments. */
  setSecret(key: string, value: string): Promise<void>;
  removeConfig(key: string): Promise<void>;
  /** `pulumi up --yes`; resolves to the new outputs. `onOutput` gets the CLI's lines as they come (scrubbed). */
  up(onOutput?: (line: string) => void): Promise<Record<string, OutputValue>>;
}

/** A failed CLI run of our own (not through the SDK): its standard error, to be reduced to a reason. */
class CliFailure extends Error {
  constructor(readonly stderr: string) {
    super("the Pulumi CLI failed");
  }
}

const BUSY = ["[409] Conflict: Another update is currently in progress.", "the stack is currently locked by"];

/** The CLI's own reason, without the command line or stdout the SDK wraps around it, scrubbed. */
function cliReason(error: unknown, redactor: Redactor): string {
  const stderr = error instanceof CliFailure ? error.stderr : ((error as { commandResult?: { stderr?: string } }).commandResult?.stderr ?? "");
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^(warning: A new version of Pulumi|Run `pulumi|please run|info:)/i.test(l));
  const last = lines.find((l) => /^error:/i.test(l)) ?? lines[lines.length - 1] ?? "no reason given";
  return redactor.scrub(last.replace(/^error:\s*/i, "")).slice(0, 500);
}

function toPulumiError(error: unknown, what: string, stackName: string | undefined, redactor: Redactor): PulumiError {
  if (error instanceof PulumiError) return error;
  const on = stackName ? ` on stack ${stackName}` : "";
  if (error instanceof StackNotFoundError) {
    return new PulumiError(
      "stack-not-found",
      `there is no stack named ${stackName ?? "?"} in the current backend. Fix: pulumi stack ls (to see the names), or pulumi login <backend> if it lives elsewhere.`,
    );
  }
  const busy = error instanceof CliFailure && BUSY.some((text) => error.stderr.includes(text));
  if (error instanceof ConcurrentUpdateError || busy) {
    return new PulumiError("busy", `${what}${on}: another update of this stack is in progress. Fix: wait for it to finish, then run again.`);
  }
  if (error instanceof CommandError || error instanceof CliFailure) {
    return new PulumiError("failed", `${what}${on} failed: ${cliReason(error, redactor)}`);
  }
  const code = (error as NodeJS.ErrnoException)?.code;
  return new PulumiError("failed", `${what}${on} failed (${code ?? (error instanceof Error ? error.name : "unknown error")}).`);
}

const projectKey = (key: string) => `${PROJECT}:${key}`;

class WorkspaceSession {
  readonly redactor = new Redactor();
  /** Stacks the backend has just listed: opening them needs no existence check of its own. */
  readonly known = new Set<string>();
  private workspace?: Promise<LocalWorkspace>;

  constructor(
    readonly cli: string,
    readonly env: NodeJS.ProcessEnv,
    readonly workDir: string,
  ) {}

  open(): Promise<LocalWorkspace> {
    this.workspace ??= (async () => {
      checkedPulumiVersion(this.cli, this.env);
      // The SDK's constructor is private only in its types: this is PulumiCommand.get without a second `pulumi version`
      // and without requiring the CLI to sit in a <root>/bin directory (node_modules/.bin does not).
      // The version is checked above; the SDK needs it only for event logs, which these commands do not use.
      const Command = PulumiCommand as unknown as new (command: string, version: null) => PulumiCommand;
      const ws = await LocalWorkspace.create({
        workDir: this.workDir,
        pulumiCommand: new Command(this.cli, null),
        envVars: Object.fromEntries(Object.entries(this.env).filter((e): e is [string, string] => e[1] !== undefined)),
      });
      // Selecting a stack rewrites the user's current selection, and stacks selected in parallel would race: only
      // check that it exists. Every later command names it with --stack.
      ws.selectStack = async (name: string) => {
        if (!this.known.has(name)) await this.run(["stack", "--show-name", "--stack", name]);
      };
      return ws;
    })();
    return this.workspace;
  }

  /** Runs a CLI command through the SDK (its error classes, its environment); resolves to standard output. */
  async run(args: string[]): Promise<string> {
    const ws = await this.open();
    const result = await (ws as unknown as { runPulumiCmd(args: string[]): Promise<{ stdout: string }> }).runPulumiCmd(args);
    return result.stdout;
  }

  /** Runs the CLI with `input` on standard input: the only way a secret reaches it. */
  runWithInput(args: string[], input: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.cli, [...args, "--non-interactive"], {
        cwd: this.workDir,
        env: { ...this.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
        stdio: ["pipe", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (d: string) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => {
        if (code === 0) resolve();
        else reject(new CliFailure(stderr));
      });
      child.stdin.on("error", () => undefined); // a CLI that exits early must not crash us with EPIPE
      child.stdin.end(input);
    });
  }
}

class AutomationStack implements PulumiStack {
  constructor(
    private readonly stack: Stack,
    private readonly session: WorkspaceSession,
  ) {}

  get name(): string {
    return this.stack.name;
  }

  private async guard<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw toPulumiError(error, what, this.name, this.session.redactor);
    }
  }

  async readConfig({ secrets = true }: { secrets?: boolean } = {}): Promise<StackConfigView> {
    const all: Record<string, { value?: string; secret: boolean }> = secrets
      ? await this.guard("reading the config", () => this.stack.getAllConfig())
      : JSON.parse(await this.guard("reading the config", () => this.session.run(["config", "--json", "--stack", this.name])));
    const view: StackConfigView = { values: {}, secretKeys: new Set(), provider: {} };
    for (const [fullKey, { value, secret }] of Object.entries(all)) {
      if (value === undefined) {
        if (secret && fullKey.startsWith(`${PROJECT}:`)) view.secretKeys.add(fullKey.slice(PROJECT.length + 1));
        continue;
      }
      if (secret) this.session.redactor.addSecret(value);
      if (fullKey === "aws:profile") view.provider.profile = value;
      if (fullKey === "aws:region") view.provider.region = value;
      if (!fullKey.startsWith(`${PROJECT}:`)) continue;
      const key = fullKey.slice(PROJECT.length + 1);
      view.values[key] = value;
      if (secret) view.secretKeys.add(key);
    }
    return view;
  }

  async readOutputs({ secrets = true }: { secrets?: boolean } = {}): Promise<Record<string, OutputValue>> {
    if (!secrets) {
      const masked = JSON.parse(await this.guard("reading the outputs", () => this.session.run(["stack", "output", "--json", "--stack", this.name]))) as Record<
        string,
        unknown
      >;
      return Object.fromEntries(Object.entries(masked).map(([k, value]) => [k, { value, secret: value === "[secret]" }]));
    }
    const outputs = await this.guard("reading the outputs", () => this.stack.outputs());
    for (const { value, secret } of Object.values(outputs)) if (secret && typeof value === "string") this.session.redactor.addSecret(value);
    return outputs;
  }

  async setConfig(key: string, value: string): Promise<void> {
    await this.guard(`setting ${key}`, () => this.stack.setConfig(projectKey(key), { value }));
  }

  async setSecret(key: string, value: string): Promise<void> {
    this.session.redactor.addSecret(value);
    await this.guard(`setting the secret ${key}`, () => this.session.runWithInput(["config", "set", "--secret", "--stack", this.name, projectKey(key)], value));
  }

  async removeConfig(key: string): Promise<void> {
    await this.guard(`removing ${key}`, () => this.stack.removeConfig(projectKey(key)));
  }

  async up(onOutput?: (line: string) => void): Promise<Record<string, OutputValue>> {
    let pending = "";
    const emit = (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onOutput?.(this.session.redactor.scrub(line));
    };
    const result = await this.guard("pulumi up", () => this.stack.up({ onOutput: onOutput ? emit : undefined }));
    if (pending) onOutput?.(this.session.redactor.scrub(pending));
    for (const { value, secret } of Object.values(result.outputs)) if (secret && typeof value === "string") this.session.redactor.addSecret(value);
    return result.outputs;
  }
}

function sessionFor(opts: PulumiOptions): WorkspaceSession {
  const env = opts.env ?? process.env;
  return new WorkspaceSession(findPulumiCli(env), env, opts.workDir ?? (env.SP_API_IAM_PROJECT_DIR || REPO_ROOT));
}

/** The project's stacks in the current backend, through one workspace: one CLI check for a whole fleet. */
export class PulumiWorkspace {
  private constructor(
    private readonly session: WorkspaceSession,
    private readonly workspace: LocalWorkspace,
  ) {}

  static async connect(opts: PulumiOptions = {}): Promise<PulumiWorkspace> {
    const session = sessionFor(opts);
    try {
      return new PulumiWorkspace(session, await session.open());
    } catch (error) {
      throw toPulumiError(error, "opening the Pulumi workspace", undefined, session.redactor);
    }
  }

  /** Every stack of this project in the current backend. */
  async list(): Promise<StackSummary[]> {
    let stacks;
    try {
      stacks = await this.workspace.listStacks();
    } catch (error) {
      throw toPulumiError(error, "listing the stacks", undefined, this.session.redactor);
    }
    for (const s of stacks) this.session.known.add(s.name);
    return stacks.map((s) => ({ name: s.name, current: s.current, lastUpdate: s.lastUpdate, updateInProgress: s.updateInProgress }));
  }

  /**
   * A stack by name, or the selected one when `name` is undefined. A mistyped name fails (stack-not-found);
   * nothing is ever created here.
   */
  async open(name?: string): Promise<PulumiStack> {
    let wanted = name;
    if (wanted === undefined) {
      wanted = (await this.list()).find((s) => s.current)?.name;
      if (!wanted) {
        throw new PulumiError(
          "no-stack-selected",
          "no stack is selected and none was named. Fix: pass --stack <name>, or pulumi stack select <name> (pulumi stack ls lists them).",
        );
      }
    }
    try {
      return new AutomationStack(await Stack.select(wanted, this.workspace), this.session);
    } catch (error) {
      throw toPulumiError(error, "opening the stack", wanted, this.session.redactor);
    }
  }
}

/** One stack: by name, or the selected one when `name` is undefined. */
export async function openStack(name?: string, opts: PulumiOptions = {}): Promise<PulumiStack> {
  return (await PulumiWorkspace.connect(opts)).open(name);
}

/** Every stack of this project in the current backend. */
export async function listStacks(opts: PulumiOptions = {}): Promise<StackSummary[]> {
  return (await PulumiWorkspace.connect(opts)).list();
}

/** Runs `work` over `items` with at most `limit` in flight (lib/net.ts; here too, where the commands have imported it from). */
export { mapWithConcurrency } from "./net";

/** A single-stack command's parsed command line, as far as its shell needs it. */
export type StackCommandArgs = { kind: "help" } | { kind: "error"; message: string; json: boolean } | { kind: "run"; stack?: string; json: boolean };

/**
 * The shell of a command that takes one step on one stack and reports it (rotate-key, adopt): --help, a usage error
 * (exit 2; with --json also the report), the stack opened, --json's one document on standard output with the
 * commentary on standard error, and a Pulumi failure (no stack selected: 2, else 1) as a report naming its reason.
 */
export async function runStackStepCommand<R extends { exitCode: number; reason: string }, A extends StackCommandArgs = StackCommandArgs>(cmd: {
  name: string;
  usage: string;
  args: A;
  env: NodeJS.ProcessEnv;
  /** The report of a run that did not get as far as the step. */
  failure: (stack: string, reason: string, exitCode: 1 | 2) => R;
  step: (stack: PulumiStack, print: (line: string) => void, args: Extract<A, { kind: "run" }>) => Promise<R>;
}): Promise<number> {
  const { name, usage } = cmd;
  const args: StackCommandArgs = cmd.args;
  if (args.kind === "help") {
    process.stdout.write(helpText(usage));
    return 0;
  }
  if (args.kind === "error") {
    if (args.json) process.stdout.write(`${JSON.stringify(cmd.failure("", args.message, 2))}\n`);
    process.stderr.write(usageErrorText(name, usage, args.message));
    return 2;
  }
  const print = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  let report: R;
  try {
    report = await cmd.step(await openStack(args.stack, { env: cmd.env }), print, cmd.args as Extract<A, { kind: "run" }>);
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    report = cmd.failure(args.stack ?? "", new Redactor().scrub(error.message), error.reason === "no-stack-selected" ? 2 : 1);
    process.stderr.write(`${errorLine(name, report.reason)}\n`);
  }
  if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return report.exitCode;
}
