/**
 * npm run adopt -- [--stack <name>|-s <name>] [--dry-run] [--json]
 * Exit codes: 0 a step taken, or nothing to do; 1 refused (not a connector setup, or IAM contradicts the stack), a
 * step failed, or the evidence could not be read; 2 a usage error; and runCommand's (lib/cli.ts): 1 the output's
 * reader went away, 3 internal error.
 */
import { parseCommandLine, runCommand } from "../../lib/cli";
import { runStackStepCommand } from "../../lib/pulumi";
import { implicitStackRefusal } from "../../lib/stack-choice";
import { adopt, type AdoptReport } from "./run";

export const USAGE = [
  "Usage: npm run adopt -- [--stack <name>] [--dry-run] [--narrow-trust] [--json]",
  "  Adopts a connector setup made by hand (the stack's userName and roleName) without changing the role's ARN,",
  "  one step per run: deployment 1 imports as found, deployment 2 applies the kit's properties, then the manual",
  "  leftovers go. Run it again until it says the adoption is complete.",
  "  -s, --stack <name>  the stack (default: the selected one)",
  "  --dry-run           read IAM, decide and print; change nothing",
  "  --narrow-trust      let deployment 2 narrow a trust that names the account root to the user (other",
  "                      principals of the account then lose the role; the report names what that trust allows)",
  "  --json              print one JSON object on standard output, nothing else",
].join("\n");

export type CliArgs =
  { kind: "run"; stack?: string; dryRun: boolean; narrowTrust: boolean; json: boolean } | { kind: "help" } | { kind: "error"; message: string; json: boolean };

export function parseArgs(argv: readonly string[]): CliArgs {
  const parsed = parseCommandLine(argv, {
    stack: { type: "string", short: "s" },
    "dry-run": { type: "boolean" },
    "narrow-trust": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (parsed.kind === "error") return { ...parsed, json: argv.includes("--json") };
  if (parsed.kind === "help") return parsed;
  const v = parsed.values;
  return { kind: "run", stack: v.stack, dryRun: v["dry-run"] ?? false, narrowTrust: v["narrow-trust"] ?? false, json: v.json ?? false };
}

function failure(stack: string, reason: string, exitCode: 1 | 2): AdoptReport {
  return {
    stack,
    phase: "unknown",
    step: "none",
    took: false,
    dryRun: false,
    reason,
    resumed: false,
    comparison: [],
    leftovers: [],
    removed: [],
    kept: [],
    exitCode,
  };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args = parseArgs(argv);
  // It changes the stack: the customer is named when the backend holds several (lib/stack-choice.ts).
  const refusal = args.kind === "run" ? await implicitStackRefusal("adopt", args.stack, { env }) : undefined;
  if (refusal && args.kind === "run") args = { kind: "error", message: refusal, json: args.json };
  return runStackStepCommand<AdoptReport, CliArgs>({
    name: "adopt",
    usage: USAGE,
    args,
    env,
    failure,
    step: (stack, print, args) => adopt(stack, { dryRun: args.dryRun, narrowTrust: args.narrowTrust, env, print }),
  });
}

if (require.main === module) runCommand("adopt", () => main(process.argv.slice(2)));
