/**
 * npm run rotate-key -- [--stack <name>] [--if-due] [--dry-run] [--json] [--out <file>]
 * Exit codes: 0 a step taken, or nothing due / waiting as normal; 1 a step failed or the evidence could not be
 * read; 2 a usage error.
 */
import { openStack, PulumiError } from "../pulumi";
import { Redactor } from "../output";
import { rotateKey, type KeyRotationReport } from "./run";

export const USAGE = [
  "Usage: npm run rotate-key -- [--stack <name>] [--if-due] [--dry-run] [--json] [--out <file>]",
  "  Looks at IAM's record of the access keys' last use and takes at most one step of a key rotation.",
  "  --stack <name>  the stack (default: the selected one)",
  "  --if-due        start a rotation only when the key is due (for a daily scheduler); without it, start one now",
  "  --dry-run       decide and print; change nothing",
  "  --json          print one JSON object on standard output, nothing else",
  "  --out <file>    where a new rotation writes the new credentials block, mode 600 (default credentials.hjson)",
].join("\n");

export type CliArgs =
  | { kind: "run"; stack?: string; ifDue: boolean; dryRun: boolean; json: boolean; out: string }
  | { kind: "help" }
  | { kind: "error"; message: string; json: boolean };

export function parseArgs(argv: readonly string[]): CliArgs {
  const args = {
    kind: "run" as const,
    stack: undefined as string | undefined,
    ifDue: false,
    dryRun: false,
    json: argv.includes("--json"),
    out: "credentials.hjson",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string | undefined => {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) return undefined;
      i++;
      return v;
    };
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    else if (arg === "--if-due") args.ifDue = true;
    else if (arg === "--dry-run") args.dryRun = true;
    else if (arg === "--json") args.json = true;
    else if (arg === "--stack" || arg === "--out") {
      const v = value();
      if (!v) return { kind: "error", message: `${arg} needs a value`, json: args.json };
      if (arg === "--stack") args.stack = v;
      else args.out = v;
    } else return { kind: "error", message: `unknown argument: ${arg}`, json: args.json };
  }
  return args;
}

function failure(stack: string, reason: string, exitCode: 1 | 2): KeyRotationReport {
  return { stack, phase: "unknown", step: "none", took: false, dryRun: false, reason, evidence: [], changes: [], resumed: false, exitCode };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parseArgs(argv);
  if (args.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.kind === "error") {
    if (args.json) process.stdout.write(`${JSON.stringify(failure("", args.message, 2))}\n`);
    process.stderr.write(`rotate-key: ${args.message}\n${USAGE}\n`);
    return 2;
  }
  // With --json, standard output carries the one object; the running commentary goes to standard error.
  const print = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  let report: KeyRotationReport;
  try {
    const stack = await openStack(args.stack, { env });
    report = await rotateKey(stack, { ifDue: args.ifDue, dryRun: args.dryRun, out: args.out, env, print });
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    const code = error.reason === "no-stack-selected" ? 2 : 1;
    report = failure(args.stack ?? "", new Redactor().scrub(error.message), code);
    print(`Error: ${report.reason}`);
  }
  if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return report.exitCode;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`rotate-key: unexpected failure: ${(error as Error)?.name ?? "error"}\n`);
      process.exitCode = 1;
    },
  );
}
