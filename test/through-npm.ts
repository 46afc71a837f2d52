/**
 * A command run "through the user's door": `npm --prefix <repo> run <script> -- ...` from a directory of the
 * user's own, as the README tells them to run it. The in-process and `node cli.ts` tests cannot see what npm does
 * to the command's surroundings, and that is what these tests are about: npm puts the project's node_modules/.bin
 * first on PATH (so a `pulumi` there shadows the user's own) and sets INIT_CWD to the directory the user typed the
 * command in, while the script itself runs in the project's directory (so a relative path must be taken from
 * INIT_CWD, not from the process's working directory).
 *
 * Asynchronous (spawn, not spawnSync): several tests answer the command from this process with loopback fakes,
 * which an event loop blocked in spawnSync could not serve.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as path from "node:path";
import type { Writable } from "node:stream";

const REPO = path.resolve(__dirname, "..");

export interface NpmRunOptions {
  /** The user's directory, where npm is run from and what INIT_CWD names. */
  cwd: string;
  /** The environment the user's shell would give; npm's own variables (INIT_CWD, npm_*) are taken out of it. */
  env: NodeJS.ProcessEnv;
  /** `npm run --silent` (default): no "> script" banner on standard output, no npm error lines when it fails. */
  silent?: boolean;
  /**
   * Standard input: a string written and closed at once (default "": closed, as with nothing piped in), or a
   * function that is given the pipe and must end it itself (to feed it slowly).
   */
  stdin?: string | ((stdin: Writable) => void);
  /**
   * Arguments typed before the `--` (`npm run rotate-key --dry-run`): what npm reads as its own options when the
   * user forgets the `--`. `args` still go after it.
   */
  beforeDashes?: string[];
}

export interface NpmRunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts the run and hands back the child with the promise of its result, for a test that must act on the pipes
 * while it runs (a reader that leaves early). `done` holds all that each stream carried until the child closed.
 */
export function startThroughNpm(script: string, args: string[], opts: NpmRunOptions): { child: ChildProcessWithoutNullStreams; done: Promise<NpmRunResult> } {
  const env = { ...opts.env };
  for (const name of Object.keys(env)) if (name === "INIT_CWD" || name.startsWith("npm_")) delete env[name];
  const silent = opts.silent ?? true;
  const argv = ["--prefix", REPO, "run", ...(silent ? ["--silent"] : []), script, ...(opts.beforeDashes ?? []), "--", ...args];
  const child = spawn("npm", argv, { cwd: opts.cwd, env });
  let stdout = "";
  let stderr = "";
  // Decoded as text by the streams, so that a character split between two chunks stays whole.
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (d: string) => (stdout += d));
  child.stderr.on("data", (d: string) => (stderr += d));
  const done = new Promise<NpmRunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  const stdin = opts.stdin ?? "";
  if (typeof stdin === "string") child.stdin.end(stdin);
  else stdin(child.stdin);
  return { child, done };
}

/** Runs `npm --prefix <repo> run <script> -- ...args` from opts.cwd to its end. */
export function runThroughNpm(script: string, args: string[], opts: NpmRunOptions): Promise<NpmRunResult> {
  return startThroughNpm(script, args, opts).done;
}
