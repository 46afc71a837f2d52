/**
 * npm run verify -- [file.hjson | -] [--expect-user <name or ARN>]
 * Checks a connector credentials block end to end (see run.ts); reads standard input when no file is given.
 * Exit code: 0 every step that ran passed, 1 a step failed (or the output's reader went away), 2 usage error
 * (including an unreadable or oversized input, a refused setting), 3 internal error.
 */
import * as tty from "tty";
import { readInput } from "./input";
import { EXIT, runVerify } from "./run";
import { ENV_VARS } from "./settings";

export const USAGE = [
  "usage: npm run verify -- [credentials.hjson | -] [--expect-user <user name or ARN>]",
  "       pulumi stack output --show-secrets credentials | npm run verify --silent",
  "Checks the block: parse, STS GetCallerIdentity, STS AssumeRole, LWA token, one read-only SP-API call.",
  "Exit code: 0 every step that ran passed, 1 a step failed, 2 usage error. Never prints a secret.",
  "Environment:",
  ...Object.entries(ENV_VARS).map(([name, what]) => `  ${name}: ${what}`),
].join("\n");

export type CliArgs = { kind: "run"; file?: string; expectUser?: string } | { kind: "help" } | { kind: "error"; message: string };

/** Pure: argv (after the script name) in, what to do out. */
export function parseArgs(argv: readonly string[]): CliArgs {
  let file: string | undefined;
  let expectUser: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") return { kind: "help" };
    if (arg === "--expect-user" || arg.startsWith("--expect-user=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
      if (!value) return { kind: "error", message: "--expect-user needs a user name or ARN" };
      expectUser = value;
    } else if (arg.startsWith("-") && arg !== "-") {
      return { kind: "error", message: `unknown option ${arg}` };
    } else if (file !== undefined) {
      return { kind: "error", message: "give one credentials file (or - for standard input)" };
    } else {
      file = arg;
    }
  }
  return { kind: "run", file: file === "-" ? undefined : file, expectUser };
}

async function main(): Promise<number> {
  // The SDK's notice that its 2027 releases need Node 22 says nothing about the block being checked.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const args = parseArgs(process.argv.slice(2));
  if (args.kind === "help") {
    process.stdout.write(USAGE + "\n");
    return EXIT.ok;
  }
  if (args.kind === "error") {
    process.stderr.write(`verify: ${args.message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  // tty.isatty, not process.stdin.isTTY: the latter opens standard input (see input.ts).
  if (args.file === undefined && tty.isatty(0)) {
    process.stderr.write(`verify: no file given and standard input is a terminal\n${USAGE}\n`);
    return EXIT.usage;
  }
  const read = await readInput(args.file);
  if (!read.ok) {
    process.stderr.write(`verify: ${read.message}\n`);
    return EXIT.usage;
  }
  const input = read.text;
  return runVerify({ input, source: args.file ?? "standard input", out: process.stdout, expectUser: args.expectUser });
}

/** Whoever reads our output went away (`npm run verify | head -1`): nothing more can be said, so stop at
 * once, quietly, rather than die on an unhandled EPIPE with a stack trace. */
function stopQuietlyWhenTheReaderLeaves(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(EXIT.failed);
      throw error;
    });
  }
}

if (require.main === module) {
  stopQuietlyWhenTheReaderLeaves();
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      // Not expected: every step maps its failures. Only the error's type is shown: its text may hold a value.
      process.stderr.write(`verify: internal error (${error instanceof Error ? error.name : typeof error})\n`);
      process.exitCode = EXIT.internal;
    },
  );
}
