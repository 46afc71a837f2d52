/**
 * The customer is named, never guessed. A command that changes anything (rotate-key, rotate-lwa, adopt, credentials
 * when it writes or delivers) acts on the stack Pulumi has selected only when it is the backend's one stack: with
 * several, the selection is a side effect of whatever ran last (`npm run up -- hooli` selects hooli), and acting on it
 * would rotate or deliver one customer's credentials for another. Read-only commands say which stack they read.
 */
import { listStacks, PulumiError, type PulumiOptions } from "./pulumi";

/**
 * Why `command` may not act on the implicitly selected stack, or undefined: a stack was named, or the backend holds
 * one stack (or none, or cannot be listed: the command's own opening of the stack then says what is wrong).
 */
export async function implicitStackRefusal(command: string, named: string | undefined, opts: PulumiOptions = {}): Promise<string | undefined> {
  if (named !== undefined) return undefined;
  let stacks;
  try {
    stacks = await listStacks(opts);
  } catch (error) {
    if (error instanceof PulumiError) return undefined;
    throw error;
  }
  if (stacks.length <= 1) return undefined;
  const selected = stacks.find((s) => s.current)?.name;
  const names = stacks.map((s) => s.name).sort();
  const listed = names.length <= 12 ? names.join(", ") : `${names.slice(0, 12).join(", ")}, ...`;
  return (
    `no stack named, and the backend holds ${names.length} stacks (${listed}): name the customer with --stack <name> ` +
    `(npm run ${command} -- --stack ${selected ?? names[0]} ...)` +
    (selected ? `; the selected one, ${selected}, is not taken as a guess` : "")
  );
}
