/**
 * npm run demo -- [--keep]
 * An offline tour of the kit: a stack made, its block written and verified, a due LWA secret rotated, the block
 * delivered into a sample job config, the access key rotated over two runs, status before and after; each step the
 * real command against the kit's own fakes on 127.0.0.1, in a throw-away directory (./run.ts).
 * Exit codes: 0 the tour ran through; 1 a step failed (named); 2 usage error; 3 internal error (runCommand).
 */
import { helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import { runDemo } from "./run";

export const USAGE = [
  "Usage: npm run demo -- [--keep]",
  "  Runs the kit's commands for real against its own fakes (a stand-in Pulumi CLI, fake IAM, STS, LWA, SP-API and",
  "  SQS on 127.0.0.1), in a throw-away directory: no AWS, Amazon or Pulumi backend of yours, none of your stacks,",
  "  files or settings. Takes about 10 seconds (more on a busy machine).",
  "  --keep    keep the throw-away directory (its path is printed) to look at the files the commands wrote",
].join("\n");

export type DemoArgs = { kind: "run"; keep: boolean } | { kind: "help" } | { kind: "error"; message: string };

export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const parsed = parseCommandLine(argv, { keep: { type: "boolean" } });
  if (parsed.kind !== "parsed") return parsed;
  return { kind: "run", keep: parsed.values.keep ?? false };
}

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseDemoArgs(argv);
  if (args.kind === "help") {
    process.stdout.write(helpText(USAGE));
    return 0;
  }
  if (args.kind === "error") {
    process.stderr.write(usageErrorText("demo", USAGE, args.message));
    return 2;
  }
  return runDemo({ keep: args.keep, print: (line) => process.stdout.write(`${line}\n`), columns: process.stdout.columns });
}

if (require.main === module) runCommand("demo", () => main(process.argv.slice(2)));
