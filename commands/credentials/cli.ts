/**
 * npm run credentials -- [--stack <name>] [--into <file|dir>...] [--check <file|dir>...] [--dry-run]
 *                        [--format hjson|json] [<file>]
 *
 * Without --into/--check: writes the stack's credentials block to <file> (default credentials.hjson, or
 * credentials.json with --format json), readable by its owner only.
 * --into: writes the block's values into this stack's credentials in job configs (files, or directories of
 * *.json and *.hjson files), leaving everything else in them as it was.
 * --check: writes nothing; says which of this stack's credentials in job configs are stale.
 * Relative paths are relative to the directory the command was run from.
 * Exit codes: 0 done; 1 a file could not be processed, a credential is stale (--check), or the stack could not
 * be read; 2 usage error; and runCommand's (lib/cli.ts): 1 the output's reader went away, 3 internal error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseCommandLine, runCommand, UsageError } from "../../lib/cli";
import { FileRefusal, gitExposureWarning, userPath, writePrivateFile } from "../../lib/files";
import { Redactor } from "../../lib/output";
import { openStack, PulumiError } from "../../lib/pulumi";
import { blockAsJson, BlockError, blockFromOutputs, DeliveryBlock } from "./block";
import { SECRET_FIELDS } from "./decide";
import { checkTargets, deliverBlock } from "./run";

const USAGE = "usage: npm run credentials -- [--stack <name>] [--into <file|dir>...] [--check <file|dir>...] [--dry-run] [--format hjson|json] [<file>]";

export interface CredentialsArgs {
  stack?: string;
  into: string[];
  check: string[];
  dryRun: boolean;
  format?: "hjson" | "json";
  file?: string;
  help: boolean;
}

export function parseArgs(argv: readonly string[]): CredentialsArgs {
  const parsed = parseCommandLine(
    argv,
    {
      stack: { type: "string" },
      into: { type: "string", multiple: true },
      check: { type: "string", multiple: true },
      "dry-run": { type: "boolean" },
      format: { type: "string" },
    },
    { positionals: true },
  );
  if (parsed.kind === "error") throw new UsageError(parsed.message);
  const args: CredentialsArgs = { into: [], check: [], dryRun: false, help: parsed.kind === "help" };
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
  args.dryRun = v["dry-run"] ?? false;
  if (v.format !== undefined) {
    if (v.format !== "hjson" && v.format !== "json") throw new UsageError(`--format is hjson or json, not ${JSON.stringify(v.format)}`);
    args.format = v.format;
  }
  const delivering = args.into.length > 0 || args.check.length > 0;
  if (delivering && positional.length > 0)
    throw new UsageError(`${JSON.stringify(positional[0])}: give job configs after --into or --check, the output file only without them`);
  if (delivering && args.format) throw new UsageError("--format applies to the file the block is written to, not to --into or --check");
  if (positional.length > 1) throw new UsageError("one output file at most");
  args.file = positional[0];
  return args;
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = (line: string) => console.log(line);
  const err = (line: string) => console.error(line);
  let args: CredentialsArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`credentials: ${error.message}`);
    err(USAGE);
    return 2;
  }
  if (args.help) {
    out(USAGE);
    return 0;
  }

  const delivering = args.into.length > 0 || args.check.length > 0;
  const format = args.format ?? "hjson";
  const shown = args.file ?? `credentials.${format}`;
  const file = userPath(shown, env);
  // Refused before the stack is read: the output file is a regular file or nothing yet, never a directory
  // (nor a path that ends like one), a link (which would send the secrets elsewhere), a device or a pipe.
  if (!delivering) {
    const existing = fs.lstatSync(file, { throwIfNoEntry: false });
    if (/[\\/]$/.test(shown) || existing?.isDirectory() || fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
      err(`${shown} is a directory; give a file name (e.g. ${path.join(shown, `credentials.${format}`)})`);
      return 1;
    }
    if (existing && !existing.isFile()) {
      err(`${shown} is not a regular file (a link, a device or a pipe); give a file name`);
      return 1;
    }
  }

  const redactor = new Redactor();
  let block: DeliveryBlock;
  let stack: string;
  try {
    const opened = await openStack(args.stack, { env });
    stack = opened.name;
    block = blockFromOutputs(stack, await opened.readOutputs());
    for (const field of SECRET_FIELDS) redactor.addSecret(block.values[field]);
    redactor.addKeyId(block.values.aws_access_key_id);
  } catch (error) {
    if (error instanceof PulumiError || error instanceof BlockError) {
      err(redactor.scrub(error.message));
      return 1;
    }
    throw error;
  }

  const baseDir = userPath(".", env);
  if (delivering) {
    let exitCode = 0;
    const print = (line: string) => out(line);
    print(`Stack ${stack}: role ${block.roleArn}`);
    if (args.into.length > 0) exitCode = Math.max(exitCode, (await deliverBlock(block, args.into, { dryRun: args.dryRun, print, baseDir, redactor })).exitCode);
    if (args.check.length > 0) exitCode = Math.max(exitCode, (await checkTargets(block, args.check, { print, baseDir, redactor })).exitCode);
    return exitCode;
  }

  const text = format === "json" ? blockAsJson(block.values) : block.hjson.endsWith("\n") ? block.hjson : `${block.hjson}\n`;
  if (args.dryRun) {
    out(`Would write ${shown} (mode 600); wrote nothing.`);
    return 0;
  }
  try {
    writePrivateFile(file, text);
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
  if (exposed) err(exposed);
  out(
    format === "json"
      ? `Wrote ${shown} (mode 600): the JSON content of a named credential ("Generic" type in the product's Credentials page). Paste it there; then delete the file or keep it private.`
      : `Wrote ${shown} (mode 600). Deliver it with \`npm run credentials -- --into <job config or directory>\`, or paste its credentials block into the job config; then delete the file or keep it private.`,
  );
  return 0;
}

if (require.main === module) runCommand("credentials", () => main(process.argv.slice(2)));
