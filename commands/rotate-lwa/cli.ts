/**
 * npm run rotate-lwa -- [--stack <name>] [--if-due] [--wait <seconds>] [--out <file>] [--dry-run] [--request-again]
 * npm run rotate-lwa -- --stored-by-hand | --clear-set-aside [--stack <name>] [--dry-run] [--json] (by-hand.ts)
 * Rotates the stack's LWA client secret by Amazon's API and ends with a proven credentials block (run.ts).
 * Exit codes: 0 rotated, or nothing due (--if-due); 1 a failure (the message says what and how to fix it);
 * 2 a usage error; and runCommand's (lib/cli.ts): 1 the output's reader went away, 3 internal error.
 */
import { errorLine, helpText, parseCommandLine, runCommand, UsageError, usageErrorText } from "../../lib/cli";
import { prepareLockDir } from "../../lib/lock";
import { openStack, PulumiError } from "../../lib/pulumi";
import { implicitStackRefusal } from "../../lib/stack-choice";
import { DEFAULT_WAIT_SECONDS, rotateLwa } from "./run";
import { byHandMain } from "./by-hand";

export const USAGE = `Usage: npm run rotate-lwa -- [--stack <name>] [--if-due] [--wait <seconds>] [--out <file>] [--dry-run] [--request-again] | [--stored-by-hand | --clear-set-aside] [--json]
  -s, --stack <name> the stack (default: the selected one)
  --if-due           rotate only when the secret expires within lwaExpiryWarningDays (for a daily scheduler)
  --wait <seconds>   how long to wait for Amazon's new secret in the queue (default ${DEFAULT_WAIT_SECONDS}, at most 3600)
  --out <file>       where to write the new credentials block, mode 600 (default credentials.hjson); for a shared
                     app, each other stack's block goes only to credentials/<stack>.hjson (its own place, the
                     directory 700), and an --out named for one of them is refused
  --dry-run          read and decide, print what would happen, change nothing
  --request-again    ask Amazon although a recorded request (lwaRotationRequestedAt) is unanswered or the stored
                     secret is under 7 days old: only when you know Amazon did not rotate (docs/running-unattended.md)
By hand (docs/lwa-rotation.md): npm run rotate-lwa -- --stored-by-hand [--stack <name>] [--dry-run] [--json] < secret.txt
  --stored-by-hand   store a secret rotated in the Developer Console, read from standard input (never an argument),
                     in the stack and every stack of its LWA app, record it as issued now, and deploy each
Set aside: npm run rotate-lwa -- --clear-set-aside [--stack <name>] [--dry-run] [--json]
  --clear-set-aside  remove the kept set-aside secret (lwaRotationSetAside, lwaRotationSetAsideSecret), and deploy
  --json             with either: one JSON object on standard output, the commentary on standard error
Environment: SP_API_LWA_ENDPOINT, SP_API_ENDPOINT, AWS_ENDPOINT_URL_SQS point at other endpoints;
SP_API_ROTATE_LWA_TIMEOUT_MS bounds each LWA and SP-API request, SP_API_AWS_TIMEOUT_MS each SQS request;
SP_API_IAM_LOCK_DIR holds the locks (default /tmp/sp-api-iam-locks, shared by every user of the host);
SP_API_IAM_LOCK_WAIT_MS bounds the wait for one.`;

export interface CliArgs {
  stack?: string;
  ifDue: boolean;
  waitSeconds: number;
  out: string;
  dryRun: boolean;
  requestAgain: boolean;
  help: boolean;
  /** issue 20: --stored-by-hand, --clear-set-aside (by-hand.ts), and their --json. */
  byHand?: "stored-by-hand" | "clear-set-aside";
  json?: boolean;
}

export { UsageError };

/** The arguments, or a UsageError thrown. */
export function parseArgs(argv: readonly string[]): CliArgs {
  const parsed = parseCommandLine(argv, {
    stack: { type: "string" },
    "if-due": { type: "boolean" },
    "dry-run": { type: "boolean" },
    wait: { type: "string" },
    out: { type: "string" },
    "request-again": { type: "boolean" },
    "stored-by-hand": { type: "boolean" },
    "clear-set-aside": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (parsed.kind === "error") {
    // issue 20: a secret given as an argument is not repeated in the error (the process list has already shown it).
    if (argv.includes("--stored-by-hand") && /^unexpected argument/.test(parsed.message)) {
      throw new UsageError(
        "--stored-by-hand reads the secret from standard input, never from the command line (the argument is not shown): npm run rotate-lwa -- --stored-by-hand < secret.txt",
      );
    }
    throw new UsageError(parsed.message);
  }
  const args: CliArgs = {
    ifDue: false,
    waitSeconds: DEFAULT_WAIT_SECONDS,
    out: "credentials.hjson",
    dryRun: false,
    requestAgain: false,
    help: parsed.kind === "help",
  };
  if (parsed.kind === "help") return args;
  const v = parsed.values;
  if (v.wait !== undefined) {
    if (!/^\d{1,4}$/.test(v.wait) || Number(v.wait) > 3600) throw new UsageError(`--wait takes whole seconds from 0 to 3600; given ${JSON.stringify(v.wait)}`);
    args.waitSeconds = Number(v.wait);
  }
  // A scheduler's line must never carry the override: it is a person's decision about one unanswered request.
  if (v["request-again"] && v["if-due"]) throw new UsageError("--request-again is for a person, once: not with --if-due");
  // issue 20: the by-hand modes take --stack, --dry-run and --json only.
  const byHand = v["stored-by-hand"] ? "stored-by-hand" : v["clear-set-aside"] ? "clear-set-aside" : undefined;
  if (v["stored-by-hand"] && v["clear-set-aside"]) throw new UsageError("--stored-by-hand and --clear-set-aside are two commands: one at a time");
  const rotationOnly = (["if-due", "wait", "out", "request-again"] as const).filter((k) => v[k] !== undefined);
  if (byHand && rotationOnly.length > 0) throw new UsageError(`--${byHand} does not go with --${rotationOnly[0]}`);
  if (v.json && !byHand) throw new UsageError("--json goes with --stored-by-hand or --clear-set-aside");
  return {
    ...args,
    stack: v.stack,
    ifDue: v["if-due"] ?? false,
    dryRun: v["dry-run"] ?? false,
    requestAgain: v["request-again"] ?? false,
    out: v.out ?? args.out,
    ...(byHand ? { byHand, json: v.json ?? false } : {}),
  };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(usageErrorText("rotate-lwa", USAGE, error.message));
    return 2;
  }
  if (args.help) {
    process.stdout.write(helpText(USAGE));
    return 0;
  }
  const print = (line: string) => process.stdout.write(`${line}\n`);
  // Before anything is read: a lock directory that cannot be made is one line (runCommand prints it), exit 1.
  if (!args.dryRun) prepareLockDir(env);
  // It changes the stack: the customer is named when the backend holds several (lib/stack-choice.ts).
  const refusal = await implicitStackRefusal("rotate-lwa", args.stack, { env });
  if (refusal) {
    process.stderr.write(usageErrorText("rotate-lwa", USAGE, refusal));
    return 2;
  }
  if (args.byHand) return byHandMain({ mode: args.byHand, stack: args.stack, dryRun: args.dryRun, json: args.json ?? false }, USAGE, env);
  let stack;
  try {
    stack = await openStack(args.stack, { env });
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    process.stderr.write(`${errorLine("rotate-lwa", error.message)}\n`);
    return error.reason === "no-stack-selected" ? 2 : 1;
  }
  const result = await rotateLwa(stack, {
    ifDue: args.ifDue,
    waitSeconds: args.waitSeconds,
    out: args.out,
    dryRun: args.dryRun,
    requestAgain: args.requestAgain,
    env,
    print,
  });
  return result.exitCode;
}

if (require.main === module) runCommand("rotate-lwa", () => main(process.argv.slice(2)));
