/**
 * A command's `main` run in this process, as its cli.ts runs it, with what it writes to standard output and standard
 * error collected: what a process would show, without a process start (about half a second each) where nothing
 * about the process itself is tested. The end-to-end suite runs each command as a process and through npm.
 */
import { main as maintainMain } from "../commands/maintain/cli";
import { realSteps } from "../commands/maintain/steps";

/** A `main(argv, env)` (adopt, credentials, rotate-key, rotate-lwa...), which writes to process.stdout and stderr. */
export async function runMain(
  main: (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string | Uint8Array) => ((out.stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((out.stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv, env), ...out };
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
}

/** `npm run maintain`'s main in this process with the real steps (rotate-lwa, rotate-key, the jobs), its output collected. */
export async function runMaintain(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const code = await maintainMain(argv, {
    env,
    stdout: { write: (t: string) => (out.stdout += t), isTTY: false },
    stderr: { write: (t: string) => (out.stderr += t) },
    steps: realSteps,
  });
  return { code, ...out };
}
