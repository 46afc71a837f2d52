/**
 * npm run verify -- [file.hjson | -] [--expect-user <name or ARN>]
 * Checks a connector credentials block end to end (see run.ts); reads standard input when no file is given.
 * Exit code: 0 every step that ran passed, 1 a step failed, 2 usage error, 3 internal error.
 */
import * as fs from "fs";
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
  if (args.file === undefined && process.stdin.isTTY) {
    process.stderr.write(`verify: no file given and standard input is a terminal\n${USAGE}\n`);
    return EXIT.usage;
  }
  let input: string;
  try {
    input = fs.readFileSync(args.file ?? 0, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "read error";
    process.stderr.write(`verify: cannot read ${args.file ?? "standard input"} (${code})\n`);
    return EXIT.usage;
  }
  return runVerify({ input, source: args.file ?? "standard input", out: process.stdout, expectUser: args.expectUser });
}

if (require.main === module) {
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
