/**
 * npm run doctor: one line per check of what the commands need (Node, the Pulumi CLI, the backend, each stack's
 * passphrase or secrets provider and aws:profile, the lock directory, proxies). Changes nothing.
 * Exit code: 0 nothing would stop a command; 1 something would (each ✗ line says what to do); 2 usage error.
 */
import { helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import { runDoctor } from "./run";

export const USAGE = [
  "Usage: npm run doctor -- [--help]",
  "Checks what the commands need, one line each: Node, the Pulumi CLI (which one, its version), the backend (pulumi whoami),",
  "each stack's passphrase or secrets provider and aws:profile, the lock directory, the proxies set. Changes nothing.",
  "Exit code: 0 nothing would stop a command, 1 something would (each ✗ line says what to do), 2 usage error.",
].join("\n");

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandLine(argv, {});
  if (parsed.kind === "help") {
    process.stdout.write(helpText(USAGE));
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(usageErrorText("doctor", USAGE, parsed.message));
    return 2;
  }
  return runDoctor(env, (line) => process.stdout.write(`${line}\n`));
}

if (require.main === module) runCommand("doctor", () => main(process.argv.slice(2)));
