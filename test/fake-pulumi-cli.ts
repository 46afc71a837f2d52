/**
 * The stand-in Pulumi CLI's executable (the harness and the engine are in test/fake-pulumi.ts). Kept free of the
 * project's modules so each call starts as fast as node does: a fleet test makes hundreds of calls.
 */
import * as fs from "fs";
import * as net from "net";
import * as path from "path";

const PROJECT = "sp-api-iam";
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

export function stackFile(stateDir: string, name: string): string {
  return path.join(stateDir, "stacks", `${encodeURIComponent(name)}.json`);
}

export function readStack(stateDir: string, name: string): StackState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stackFile(stateDir, name), "utf8")) as StackState;
  } catch {
    return undefined;
  }
}

export function writeStack(stateDir: string, name: string, state: StackState): void {
  const file = stackFile(stateDir, name);
  fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify(state, null, 2));
  fs.renameSync(`${file}.${process.pid}`, file);
}

export function stackNames(stateDir: string): string[] {
  return fs
    .readdirSync(path.join(stateDir, "stacks"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => decodeURIComponent(f.slice(0, -5)))
    .sort();
}

export function engineNow(stateDir: string): Date {
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

export interface CallIo {
  cwd: string;
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

/** One CLI call: what the real CLI would print and its exit code, with the stacks' files changed as it would. */
export async function handleCall(stateDir: string, argv: string[], io: CallIo): Promise<CallResult> {
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
      JSON.stringify({ argv, stdin, stack: stackName, cwd: io.cwd, startedAt: started, endedAt: Date.now() } satisfies RecordedCall) + "\n",
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
            stdin = await io.readStdin();
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
        // The backend's update lock, as a real backend holds it: a second `up` of the stack while one runs fails.
        const lock = `${stackFile(stateDir, name)}.update-lock`;
        try {
          fs.writeFileSync(lock, String(started), { flag: "wx" });
        } catch {
          throw new CliExit(255, CONFLICT);
        }
        try {
          if (state.upDelayMs) await new Promise((resolve) => setTimeout(resolve, state.upDelayMs));
          await runUp(name, state);
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
   * The engine over the config as it was when `up` began (as the real CLI reads it then); what it leaves (outputs,
   * keys, history) goes into the stack's file as it is now, so config set meanwhile is not lost.
   */
  async function runUp(name: string, state: StackState): Promise<void> {
    const now = engineNow(stateDir);
    out.push(`Updating (${name}):`);
    // The engine loads the project's config and lifecycle code: only `up` pays for it.
    const { runEngine, EngineError } = await import("./fake-pulumi");
    const save = (result: "succeeded" | "failed") => {
      const latest = readStack(stateDir, name) ?? state;
      const history = [...latest.history, { version: latest.history.length + 1, startTime: now.toISOString(), endTime: now.toISOString(), result }];
      if (result === "failed") writeStack(stateDir, name, { ...latest, history });
      else writeStack(stateDir, name, { ...latest, outputs: state.outputs, keys: state.keys, lastUpdate: now.toISOString(), history });
    };
    try {
      runEngine(state, now, io.stateBase);
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
      save("failed");
      throw new CliExit(255, `error: ${error.message}`);
    }
    save("succeeded");
    out.push("Resources:", `    ${Object.keys(state.keys).length + 7} unchanged`, "Update succeeded");
  }
}

/**
 * The daemon behind the `pulumi` shim: one node process per FakePulumi answers every call, so a call costs a bash
 * start and a loopback round trip instead of a node start (a rotation makes about ten calls). The shim writes the
 * arguments to <request>.args (NUL-separated) and sends "<request> <cwd>" on a line; the daemon answers "STDIN" when
 * the command reads standard input (the shim then writes it to <request>.stdin and says "GO"), then
 * "DONE <code>" once <request>.out and <request>.err hold what to print. State stays in the stacks' files.
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
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (request === undefined) {
          const space = line.indexOf(" ");
          request = line.slice(0, space);
          const cwd = line.slice(space + 1);
          const argv = fs.readFileSync(`${request}.args`, "utf8").split("\0").slice(0, -1);
          const base = `${request}.base`;
          const io: CallIo = {
            cwd,
            ...(fs.existsSync(base) ? { stateBase: fs.readFileSync(base, "utf8") } : {}),
            readStdin: () =>
              new Promise((resolve) => {
                stdinWaiter = resolve;
                socket.write("STDIN\n");
              }),
          };
          void handleCall(stateDir, argv, io).then(
            (result) => {
              fs.writeFileSync(`${request}.out`, result.stdout);
              fs.writeFileSync(`${request}.err`, result.stderr);
              socket.end(`DONE ${result.code}\n`);
            },
            (error: unknown) => {
              fs.writeFileSync(`${request}.out`, "");
              fs.writeFileSync(`${request}.err`, `fake pulumi: ${error instanceof Error ? error.stack : String(error)}\n`);
              socket.end("DONE 99\n");
            },
          );
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
    const io: CallIo = { cwd: process.cwd(), readStdin: async () => fs.readFileSync(0, "utf8") };
    void handleCall(stateDir, process.argv.slice(2), io).then((r) => {
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });
  }
}
