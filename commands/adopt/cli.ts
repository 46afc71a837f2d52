/**
 * npm run adopt -- [--stack <name>|-s <name>] [--dry-run] [--json]
 * Exit codes: 0 a step taken, or nothing to do; 1 refused (not a connector setup, or IAM contradicts the stack), a
 * step failed, or the evidence could not be read; 2 a usage error; and runCommand's (lib/cli.ts): 1 the output's
 * reader went away, 3 internal error.
 */
import { errorLine, helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import { openStack, PulumiError } from "../../lib/pulumi";
import { Redactor } from "../../lib/output";
import { adopt, type AdoptReport } from "./run";

export const USAGE = [
  "Usage: npm run adopt -- [--stack <name>] [--dry-run] [--json]",
  "  Adopts a connector setup made by hand (the stack's userName and roleName) without changing the role's ARN,",
  "  one step per run: deployment 1 imports as found, deployment 2 applies the kit's properties, then the manual",
  "  leftovers go. Run it again until it says the adoption is complete.",
  "  -s, --stack <name>  the stack (default: the selected one)",
  "  --dry-run           read IAM, decide and print; change nothing",
  "  --json              print one JSON object on standard output, nothing else",
].join("\n");

export type CliArgs = { kind: "run"; stack?: string; dryRun: boolean; json: boolean } | { kind: "help" } | { kind: "error"; message: string; json: boolean };

export function parseArgs(argv: readonly string[]): CliArgs {
  const parsed = parseCommandLine(argv, { stack: { type: "string", short: "s" }, "dry-run": { type: "boolean" }, json: { type: "boolean" } });
  if (parsed.kind === "error") return { ...parsed, json: argv.includes("--json") };
  if (parsed.kind === "help") return parsed;
  const v = parsed.values;
  return { kind: "run", stack: v.stack, dryRun: v["dry-run"] ?? false, json: v.json ?? false };
}

function failure(stack: string, reason: string, exitCode: 1 | 2): AdoptReport {
  return { stack, phase: "unknown", step: "none", took: false, dryRun: false, reason, resumed: false, comparison: [], leftovers: [], removed: [], exitCode };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parseArgs(argv);
  if (args.kind === "help") {
    process.stdout.write(helpText(USAGE));
    return 0;
  }
  if (args.kind === "error") {
    if (args.json) process.stdout.write(`${JSON.stringify(failure("", args.message, 2))}\n`);
    process.stderr.write(usageErrorText("adopt", USAGE, args.message));
    return 2;
  }
  // With --json, standard output carries the one object; the running commentary goes to standard error.
  const print = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  let report: AdoptReport;
  try {
    const stack = await openStack(args.stack, { env });
    report = await adopt(stack, { dryRun: args.dryRun, env, print });
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    report = failure(args.stack ?? "", new Redactor().scrub(error.message), error.reason === "no-stack-selected" ? 2 : 1);
    process.stderr.write(`${errorLine("adopt", report.reason)}\n`);
  }
  if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return report.exitCode;
}

if (require.main === module) runCommand("adopt", () => main(process.argv.slice(2)));
