/**
 * npm run credentials -- [--stack <name>] [--into <file|dir>...] [--check <file|dir>... [--json]] [--dry-run]
 *                        [--format hjson|json] [<file>]
 *
 * Without --into/--check: writes the stack's credentials block to <file> (default credentials.hjson, or
 * credentials.json with --format json), readable by its owner only.
 * --into: writes the block's values into this stack's credentials in job configs (files, or directories of
 * *.json and *.hjson files), leaving everything else in them as it was.
 * --check: writes nothing; says which of this stack's credentials in job configs are stale.
 * A target runner:<base URL> is the connector product's jobs, read and changed through its REST API (./runner.ts).
 * Relative paths are relative to the directory the command was run from.
 * Exit codes: 0 done; 1 a file could not be processed, a credential is stale (--check), or the stack could not
 * be read; 2 usage error; and runCommand's (lib/cli.ts): 1 the output's reader went away, 3 internal error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { errorLine, helpText, parseCommandLine, runCommand, UsageError, usageErrorText } from "../../lib/cli";
import { FileRefusal, gitExposureWarning, notABlockFile, previousBlockFile, userPath, writePrivateFile } from "../../lib/files";
import { printable, Redactor } from "../../lib/output";
import { openStack, PulumiError } from "../../lib/pulumi";
import { implicitStackRefusal } from "../../lib/stack-choice";
import { blockAsJson, BlockError, blockFromOutputs, DeliveryBlock } from "./block";
import { SECRET_FIELDS } from "./decide";
import { checkTargets, deliverBlock } from "./run";
import { isRunnerTarget, RunnerKey, runnerApiKeyOf } from "../../lib/runner";

export const USAGE = [
  "Usage: npm run credentials -- [--stack <name>] [--authorization <name>] [--into <file|dir>...] [--check <file|dir>... [--json]] [--dry-run] [--format hjson|json] [<file>]",
  "  Writes the stack's credentials block to <file> (default credentials.hjson, or credentials.json with --format json),",
  "  readable by its owner only; <file> ends in .hjson or .json.",
  "  -s, --stack <name>        the stack (default: the selected one)",
  "  --authorization <name>    write that authorization's block (config authorizations.<name>: its region, its token)",
  "  --into <file|dir>...      write the block's values into this stack's credentials in job configs instead",
  "  --check <file|dir>...     write nothing; say which of this stack's credentials in job configs are stale",
  "                            runner:<base URL> instead of a file: the connector product's jobs, through its API",
  "                            (key: the stack's secret runnerApiKey, else RUNNER_API_KEY; docs/delivery.md)",
  "  --json                    with --check: one JSON document on standard output, nothing else",
  "  --dry-run                 say what would be written; write nothing",
  "  --format hjson|json       the file's format (json: a named credential's content)",
  "Exit code: 0 done; 1 a file could not be processed, a credential is stale (--check), or the stack could not be read; 2 usage error.",
].join("\n");

export interface CredentialsArgs {
  stack?: string;
  authorization?: string;
  into: string[];
  check: string[];
  dryRun: boolean;
  json: boolean;
  format?: "hjson" | "json";
  file?: string;
  help: boolean;
}

export function parseArgs(argv: readonly string[]): CredentialsArgs {
  const parsed = parseCommandLine(
    argv,
    {
      stack: { type: "string" },
      authorization: { type: "string" },
      into: { type: "string", multiple: true },
      check: { type: "string", multiple: true },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
      format: { type: "string" },
    },
    { positionals: true },
  );
  if (parsed.kind === "error") throw new UsageError(parsed.message);
  const args: CredentialsArgs = { into: [], check: [], dryRun: false, json: false, help: parsed.kind === "help" };
  if (parsed.kind === "help") return args;
  // --into and --check take every argument up to the next option (`--into a.json jobs/`); other arguments are the
  // output file.
  let collecting: string[] | undefined;
  const positional: string[] = [];
  for (const token of parsed.tokens) {
    if (token.kind === "option") {
      collecting = token.name === "into" ? args.into : token.name === "check" ? args.check : undefined;
      collecting?.push(token.value!);
    } else if (token.kind === "positional") (collecting ?? positional).push(token.value);
    else collecting = undefined;
  }
  const v = parsed.values;
  if (v.stack !== undefined) args.stack = v.stack;
  if (v.authorization !== undefined) args.authorization = v.authorization;
  args.dryRun = v["dry-run"] ?? false;
  args.json = v.json ?? false;
  if (v.format !== undefined) {
    if (v.format !== "hjson" && v.format !== "json") throw new UsageError(`--format is hjson or json, not ${JSON.stringify(v.format)}`);
    args.format = v.format;
  }
  const delivering = args.into.length > 0 || args.check.length > 0;
  if (delivering && positional.length > 0)
    throw new UsageError(`${JSON.stringify(positional[0])}: give job configs after --into or --check, the output file only without them`);
  if (delivering && args.format) throw new UsageError("--format applies to the file the block is written to, not to --into or --check");
  if (args.json && (args.check.length === 0 || args.into.length > 0)) throw new UsageError("--json goes with --check (and not with --into)");
  if (positional.length > 1) throw new UsageError("one output file at most");
  if (delivering && args.authorization !== undefined) {
    throw new UsageError(
      "--authorization picks the block written to a file; --into and --check need none: delivery never writes a refresh token or a region (docs/delivery.md#the-field-rule)",
    );
  }
  args.file = positional[0];
  return args;
}

const out = (line: string) => console.log(line);
const err = (line: string) => console.error(errorLine("credentials", line));

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: CredentialsArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(usageErrorText("credentials", USAGE, error.message).trimEnd());
    return 2;
  }
  if (args.help) {
    out(helpText(USAGE).trimEnd());
    return 0;
  }

  const delivering = args.into.length > 0 || args.check.length > 0;
  const format = args.format ?? "hjson";
  const shown = args.file ?? `credentials.${format}`;
  const file = userPath(shown, env);
  // Refused before the stack is read: the output file is a regular file or nothing yet, never a directory
  // (nor a path that ends like one), a link (which would send the secrets elsewhere), a device or a pipe.
  if (!delivering) {
    const refused = outputFileRefusal(args, file, shown, format);
    if (refused !== undefined) return refused;
  }

  // Writing or delivering hands out a customer's secrets: the customer is named when the backend holds several
  // (lib/stack-choice.ts). --check only reads, and says which stack it read.
  const writes = !delivering || args.into.length > 0;
  const refusal = writes ? await implicitStackRefusal("credentials", args.stack, { env }) : undefined;
  if (refusal) {
    console.error(usageErrorText("credentials", USAGE, refusal).trimEnd());
    return 2;
  }

  const redactor = new Redactor();
  const read = await readStack(args, env, redactor);
  if (typeof read === "number") return read;
  const { stack, block, key } = read;

  if (args.json || delivering) return deliverToJobs(args, { stack, block, key, redactor, env });
  return writeBlockFile(args, { file, shown, format, block, redactor });
}

/**
 * Why the output file cannot be written, as the exit code after the message, checked before the stack is read;
 * undefined when it can.
 */
function outputFileRefusal(args: CredentialsArgs, file: string, shown: string, format: "hjson" | "json"): number | undefined {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (/[\\/]$/.test(shown) || existing?.isDirectory() || fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    err(`${shown} is a directory; give a file name (e.g. ${path.join(shown, `credentials.${format}`)})`);
    return 1;
  }
  if (existing && !existing.isFile()) {
    err(`${shown} is not a regular file (a link, a device or a pipe); give a file name`);
    return 1;
  }
  // A secrets file named for anything but its format is refused: most often it is the value of a flag npm kept
  // (`npm run credentials -s acme`: npm takes -s as its --silent, and "acme" arrives alone).
  if (args.file !== undefined && !/\.h?json$/i.test(args.file)) {
    const message = `the output file ${JSON.stringify(printable(args.file, 80))} does not end in .hjson or .json (a stack or a flag's value? put -- before the flags: npm run credentials -- --stack <name>)`;
    console.error(usageErrorText("credentials", USAGE, message).trimEnd());
    return 2;
  }
  // Never over what a person did not name: an existing file is replaced only when it is a block the kit wrote
  // (the block it held is then kept as <file>.previous). A job config is changed only through --into.
  const notBlock = notABlockFile(file, shown);
  if (notBlock) {
    err(notBlock);
    return 1;
  }
  return undefined;
}

/**
 * Reads the stack's block (and, when a runner: target needs it, the product's API key), teaching `redactor` their
 * secrets; the exit code after the message when the stack cannot be read.
 */
async function readStack(
  args: CredentialsArgs,
  env: NodeJS.ProcessEnv,
  redactor: Redactor,
): Promise<{ stack: string; block: DeliveryBlock; key: RunnerKey } | number> {
  let block: DeliveryBlock;
  let stack: string;
  let key: RunnerKey = { ok: true };
  try {
    const opened = await openStack(args.stack, { env });
    stack = opened.name;
    block = blockFromOutputs(stack, await opened.readOutputs(), args.authorization);
    for (const field of SECRET_FIELDS) redactor.addSecret(block.values[field]);
    redactor.addKeyId(block.values.aws_access_key_id);
    // The product's API key, only when a runner: target needs it: the stack's runnerApiKey, else RUNNER_API_KEY.
    if ([...args.into, ...args.check].some(isRunnerTarget)) key = await runnerApiKeyOf(opened, env);
    if (key.ok) redactor.addSecret(key.apiKey);
    else throw new BlockError(key.problem);
  } catch (error) {
    if (error instanceof PulumiError || error instanceof BlockError) {
      const message = redactor.scrub(error.message);
      err(message);
      if (args.json) out(JSON.stringify({ stack: args.stack ?? null, exitCode: 1, error: message }, null, 2));
      return 1;
    }
    throw error;
  }
  return { stack, block, key };
}

/** --into and --check (and --check --json): the block delivered to, or checked against, job configs; the exit code. */
async function deliverToJobs(
  args: CredentialsArgs,
  read: { stack: string; block: DeliveryBlock; key: RunnerKey; redactor: Redactor; env: NodeJS.ProcessEnv },
): Promise<number> {
  const { stack, block, key, redactor, env } = read;
  const baseDir = userPath(".", env);
  if (args.json) {
    // The lines that would have been printed become the document's findings: standard output holds the document alone.
    const findings: string[] = [];
    const report = await checkTargets(block, args.check, { print: (line) => findings.push(line), baseDir, redactor, runner: { ...runnerKey(key), env } });
    out(JSON.stringify({ stack, roleArn: block.roleArn, ...report, findings }, null, 2));
    return report.exitCode;
  }
  let exitCode = 0;
  const print = (line: string) => out(line);
  // An LWA-only block (connectorAuth lwa) names no role.
  print(`Stack ${stack}: ${block.roleArn !== undefined ? `role ${block.roleArn}` : `LWA only (no IAM role), client ${block.lwaClientId ?? "not set yet"}`}`);
  if (args.into.length > 0)
    exitCode = Math.max(
      exitCode,
      (await deliverBlock(block, args.into, { dryRun: args.dryRun, print, baseDir, redactor, runner: { ...runnerKey(key), env } })).exitCode,
    );
  if (args.check.length > 0)
    exitCode = Math.max(exitCode, (await checkTargets(block, args.check, { print, baseDir, redactor, runner: { ...runnerKey(key), env } })).exitCode);
  return exitCode;
}

/** Writes the block to the output file (mode 600), keeping a block it replaces; the exit code. */
function writeBlockFile(
  args: CredentialsArgs,
  to: { file: string; shown: string; format: "hjson" | "json"; block: DeliveryBlock; redactor: Redactor },
): number {
  const { file, shown, format, block, redactor } = to;
  const text = format === "json" ? blockAsJson(block.values) : block.hjson.endsWith("\n") ? block.hjson : `${block.hjson}\n`;
  const replacing = fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() !== "" && fs.readFileSync(file, "utf8") !== text;
  if (args.dryRun) {
    out(`Would write ${shown} (mode 600)${replacing ? `, keeping the block it holds as ${previousBlockFile(shown)}` : ""}; wrote nothing.`);
    return 0;
  }
  let previous: string | undefined;
  try {
    previous = writePrivateFile(file, text).previous;
  } catch (error) {
    if (error instanceof FileRefusal) {
      err(redactor.scrub(error.message.split(file).join(shown)));
      return 1;
    }
    const code = (error as NodeJS.ErrnoException).code;
    err(`Could not write ${shown} (${code === "ENOENT" ? "its directory does not exist" : (code ?? "error")}).`);
    return 1;
  }
  const exposed = gitExposureWarning(file, shown);
  // A warning, not an error: the file is written; printed as it is, not in the error form.
  if (exposed) console.error(exposed);
  out(
    format === "json"
      ? `Wrote ${shown} (mode 600): the JSON content of a named credential ("Generic" type in the product's Credentials page). Paste it there; then delete the file or keep it private.`
      : `Wrote ${shown} (mode 600). Deliver it with \`npm run credentials -- --into <job config or directory>\`, or paste its credentials block into the job config; then delete the file or keep it private.`,
  );
  if (previous) out(`Kept the block it replaced as ${previousBlockFile(shown)} (mode 600): delete it once no job uses its values.`);
  return 0;
}

function runnerKey(key: RunnerKey): { apiKey?: string } {
  return key.ok && key.apiKey !== undefined ? { apiKey: key.apiKey } : {};
}

if (require.main === module) runCommand("credentials", () => main(process.argv.slice(2)));
