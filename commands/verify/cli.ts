/**
 * npm run verify -- [file.hjson | - | --stack <name>] [--expect-user <name or ARN>] [--json]
 * Checks a connector credentials block end to end (see run.ts); reads standard input when no file is given.
 * Exit code: 0 every step that ran passed, 1 a step failed (or the output's reader went away), 2 usage error
 * (including an unreadable or oversized input, a refused setting), 3 internal error.
 */
import * as tty from "tty";
import { errorLine, helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import { readInput } from "./input";
import { EXIT, runVerify } from "./run";
import { ENV_VARS } from "../../lib/net";
import { openStack, PulumiError } from "../../lib/pulumi";

export const USAGE = [
  "Usage: npm run verify -- [credentials.hjson | - | --stack <name>] [--expect-user <user name or ARN>] [--json]",
  "       pulumi stack output --show-secrets credentials | npm run verify --silent",
  "Checks the block: parse, STS GetCallerIdentity, STS AssumeRole, LWA token, one read-only SP-API call.",
  "--stack: the stack's deployed block, then each of its authorizations' refresh tokens (one LWA exchange each).",
  "--json: one JSON document on standard output (the steps and their outcomes), nothing else; the lines go to standard error.",
  "Exit code: 0 every step that ran passed, 1 a step failed, 2 usage error. Never prints a secret.",
  "Environment:",
  ...Object.entries(ENV_VARS).map(([name, what]) => `  ${name}: ${what}`),
].join("\n");

export type CliArgs =
  { kind: "run"; file?: string; stack?: string; expectUser?: string; json: boolean } | { kind: "help" } | { kind: "error"; message: string };

/** Pure: argv (after the script name) in, what to do out. */
export function parseArgs(argv: readonly string[]): CliArgs {
  const parsed = parseCommandLine(argv, { stack: { type: "string" }, "expect-user": { type: "string" }, json: { type: "boolean" } }, { positionals: true });
  if (parsed.kind !== "parsed") return parsed;
  if (parsed.positionals.length > 1) return { kind: "error", message: "give one credentials file (or - for standard input)" };
  const file = parsed.positionals[0];
  const stack = parsed.values.stack;
  if (stack !== undefined && file !== undefined) return { kind: "error", message: "give a credentials file or --stack, not both" };
  return {
    kind: "run",
    file: file === "-" ? undefined : file,
    ...(stack !== undefined ? { stack } : {}),
    expectUser: parsed.values["expect-user"],
    json: parsed.values.json ?? false,
  };
}

/** The stack's deployed blocks: `credentials`, and each authorization's from `authorizationCredentials`. */
export async function stackBlocks(
  stack: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ ok: true; name: string; input: string; authorizations: { name: string; input: string }[] } | { ok: false; message: string }> {
  try {
    const opened = await openStack(stack, { env });
    const outputs = await opened.readOutputs();
    const input = outputs.credentials?.value;
    if (typeof input !== "string")
      return { ok: false, message: `Stack ${opened.name} has no credentials output yet: run \`npm run up -- ${opened.name}\` first.` };
    const blocks = outputs.authorizationCredentials?.value;
    const authorizations =
      blocks !== null && typeof blocks === "object"
        ? Object.entries(blocks as Record<string, unknown>)
            .filter((entry): entry is [string, string] => typeof entry[1] === "string")
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([name, block]) => ({ name, input: block }))
        : [];
    return { ok: true, name: opened.name, input, authorizations };
  } catch (error) {
    if (error instanceof PulumiError) return { ok: false, message: error.message };
    throw error;
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.kind === "help") {
    process.stdout.write(helpText(USAGE));
    return EXIT.ok;
  }
  if (args.kind === "error") {
    process.stderr.write(usageErrorText("verify", USAGE, args.message));
    return EXIT.usage;
  }
  if (args.stack !== undefined) {
    const blocks = await stackBlocks(args.stack, process.env);
    if (!blocks.ok) {
      process.stderr.write(`${errorLine("verify", blocks.message)}\n`);
      return EXIT.failed;
    }
    return runVerify({
      input: blocks.input,
      source: `stack ${blocks.name}`,
      authorizations: blocks.authorizations,
      out: process.stdout,
      json: args.json,
      progress: process.stderr,
      expectUser: args.expectUser,
    });
  }
  // tty.isatty, not process.stdin.isTTY: the latter opens standard input (see input.ts).
  if (args.file === undefined && tty.isatty(0)) {
    process.stderr.write(usageErrorText("verify", USAGE, "no file given and standard input is a terminal"));
    return EXIT.usage;
  }
  const read = await readInput(args.file);
  if (!read.ok) {
    process.stderr.write(`${errorLine("verify", read.message)}\n`);
    return EXIT.usage;
  }
  const input = read.text;
  return runVerify({
    input,
    source: args.file ?? "standard input",
    out: process.stdout,
    json: args.json,
    progress: process.stderr,
    expectUser: args.expectUser,
  });
}

if (require.main === module) runCommand("verify", main);
