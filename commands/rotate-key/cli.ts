/**
 * npm run rotate-key -- [--stack <name>] [--if-due] [--dry-run] [--json] [--out <file>]
 * npm run rotate-key -- --check-unused [--stack <name>] [--dry-run] [--json]
 * Exit codes: 0 a step taken, or nothing due / waiting as normal, or no key (connectorAuth lwa); 1 a step failed or
 * the evidence could not be read; 2 a usage error; and runCommand's (lib/cli.ts): 1 the output's reader went away,
 * 3 internal error. --check-unused: 0 recorded (or no IAM user to check), 1 a key is still in use (nothing recorded)
 * or the evidence could not be read.
 */
import { parseCommandLine, runCommand } from "../../lib/cli";
import { runStackStepCommand } from "../../lib/pulumi";
import { implicitStackRefusal } from "../../lib/stack-choice";
import { checkUnused, rotateKey, type KeyRotationReport, type UnusedCheckReport } from "./run";

export const USAGE = [
  "Usage: npm run rotate-key -- [--stack <name>] [--if-due | --check-unused] [--dry-run] [--json] [--out <file>]",
  "  Looks at IAM's record of the access keys' last use and takes at most one step of a key rotation.",
  "  -s, --stack <name>  the stack (default: the selected one)",
  "  --if-due            start a rotation only when the key is due (for a daily scheduler); without it, start one now",
  "  --dry-run           decide and print; change nothing",
  "  --json              print one JSON object on standard output, nothing else",
  "  --out <file>        where a new rotation writes the new credentials block, mode 600 (default credentials.hjson)",
  "  --check-unused      instead of a rotation step: when IAM shows every active key of the stack's user unused for",
  "                      keyQuietHours, record it (iamKeysUnusedAt), which lets pulumi up switch the stack to connectorAuth lwa",
].join("\n");

export type CliArgs =
  | { kind: "run"; stack?: string; ifDue: boolean; dryRun: boolean; json: boolean; out: string; checkUnused: boolean }
  | { kind: "help" }
  | { kind: "error"; message: string; json: boolean };

export function parseArgs(argv: readonly string[]): CliArgs {
  const parsed = parseCommandLine(argv, {
    stack: { type: "string" },
    "if-due": { type: "boolean" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
    out: { type: "string" },
    "check-unused": { type: "boolean" },
  });
  // A usage error is one JSON object too when --json is anywhere on the line.
  if (parsed.kind === "error") return { ...parsed, json: argv.includes("--json") };
  if (parsed.kind === "help") return parsed;
  const v = parsed.values;
  const checkUnused = v["check-unused"] ?? false;
  if (checkUnused && (v["if-due"] || v.out !== undefined)) {
    return { kind: "error", message: "--check-unused takes a rotation step of none: it does not go with --if-due or --out", json: v.json ?? false };
  }
  return {
    kind: "run",
    stack: v.stack,
    ifDue: v["if-due"] ?? false,
    dryRun: v["dry-run"] ?? false,
    json: v.json ?? false,
    out: v.out ?? "credentials.hjson",
    checkUnused,
  };
}

function failure(stack: string, reason: string, exitCode: 1 | 2): KeyRotationReport {
  return { stack, phase: "unknown", step: "none", took: false, dryRun: false, reason, evidence: [], changes: [], resumed: false, exitCode };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args = parseArgs(argv);
  // It changes the stack: the customer is named when the backend holds several (lib/stack-choice.ts).
  const refusal = args.kind === "run" ? await implicitStackRefusal("rotate-key", args.stack, { env }) : undefined;
  if (refusal && args.kind === "run") args = { kind: "error", message: refusal, json: args.json };
  return runStackStepCommand<KeyRotationReport | UnusedCheckReport, CliArgs>({
    name: "rotate-key",
    usage: USAGE,
    args,
    env,
    failure,
    step: (stack, print, args) =>
      args.checkUnused
        ? checkUnused(stack, { dryRun: args.dryRun, env, print })
        : rotateKey(stack, { ifDue: args.ifDue, dryRun: args.dryRun, out: args.out, env, print }),
  });
}

if (require.main === module) runCommand("rotate-key", () => main(process.argv.slice(2)));
