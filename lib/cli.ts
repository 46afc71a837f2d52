/**
 * The plumbing every command's CLI shares (credentials, rotate-key, rotate-lwa, status, maintain, verify): one
 * reading of the command line, and one way to run the command as a process.
 *
 * parseCommandLine: Node's util.parseArgs with its strict rules (an unknown option, a value a flag does not
 * take, a positional argument a command does not take are all refused) and one wording for every command's
 * usage errors. -h and --help are every command's, and win over anything else on the line.
 *
 * runCommand: the `require.main === module` block. Exit codes it adds to the command's own: 1 when whoever
 * reads the output goes away (`| head -1`): the command stops at once and quietly, not having said all it
 * would have (so not a success); 3 on an internal error, for which only the error's type is printed, never
 * its message (it could hold a value).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { printable } from "./output";

type Options = NonNullable<ParseArgsConfig["options"]>;

const HELP = { help: { type: "boolean", short: "h" } } as const;

type Parsed<O extends Options, P extends boolean> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: P; tokens: true }>>;

export type CommandLine<O extends Options, P extends boolean = false> =
  ({ kind: "parsed" } & Parsed<O, P>) | { kind: "help" } | { kind: "error"; message: string };

/** A usage error, for commands whose own checks throw: the message says what is wrong, without the usage. */
export class UsageError extends Error {}

/**
 * Reads `argv` (after the script name) against `options` (util.parseArgs' form; help is added). Returns the
 * values, or { kind: "help" }, or the first usage error: an unknown option, a string option without its value
 * (none, an empty `--x=`, or a next argument that is itself a `--` flag: "--stack needs a value"), a value given
 * to a boolean flag, a positional argument unless `positionals` is set. A value that only starts with one dash
 * (`--wait -1`) is a value: what values are valid is the caller's to check.
 */
export function parseCommandLine<const O extends Options, const P extends boolean = false>(
  argv: readonly string[],
  options: O,
  settings: { positionals?: P } = {},
): CommandLine<O, P> {
  const all = { ...options, ...HELP };
  // Not strict to util.parseArgs itself: its own errors are long and name no flag in a form worth parsing. The
  // checks below are its strict checks (and the `--` one), each with a message naming the argument.
  const parsed = parseArgs({ args: [...argv], options: all, strict: false, allowPositionals: true, tokens: true });
  if (parsed.values.help === true) return { kind: "help" };
  for (const token of parsed.tokens) {
    if (token.kind === "positional") {
      if (!settings.positionals) return { kind: "error", message: `unexpected argument ${JSON.stringify(printable(token.value, 60))}` };
    } else if (token.kind === "option") {
      const flag = printable(token.rawName, 60);
      const type = Object.hasOwn(all, token.name) ? all[token.name]!.type : undefined;
      if (type === undefined) return { kind: "error", message: `unknown option ${flag}` };
      if (type === "boolean" && token.inlineValue) return { kind: "error", message: `${flag} takes no value` };
      if (type === "string" && (token.value === undefined || token.value === "" || (!token.inlineValue && token.value.startsWith("--"))))
        return { kind: "error", message: `${flag} needs a value` };
    }
  }
  // Every argument passed the checks, so the values are what strict parsing would have returned (in a plain
  // object rather than util.parseArgs' null-prototype one).
  const strict = parsed as unknown as Parsed<O, P>;
  return { kind: "parsed", ...strict, values: { ...strict.values } };
}

/**
 * Runs `main` as the process's command and sets the exit code from its result. `name` prefixes the one line
 * printed on an internal error. Call it from the `require.main === module` block, and nothing else there.
 */
export function runCommand(name: string, main: () => number | Promise<number>): void {
  // The reader went away (`npm run status | head -1`): nothing more can be said, so stop at once, quietly,
  // rather than die on an unhandled EPIPE with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(1);
      throw error;
    });
  }
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (error: unknown) => {
        process.stderr.write(`${name}: internal error (${error instanceof Error ? error.name : typeof error})\n`);
        process.exitCode = 3;
      },
    );
}
