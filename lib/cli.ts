/**
 * The plumbing every command's CLI shares (plan, credentials, verify, rotate-lwa, rotate-key, status, maintain,
 * bench): one reading of the command line, one wording for its errors, and one way to run the command as a process.
 *
 * parseCommandLine: Node's util.parseArgs with its strict rules (an unknown option, a value a flag does not
 * take, a positional argument a command does not take are all refused) and one wording for every command's
 * usage errors. -h and --help are every command's, and win over anything else on the line; -s is short for
 * --stack wherever a command takes --stack.
 *
 * The wording, the same in every command: a usage text starts with its usage line, "Usage: npm run <cmd> -- ...";
 * an error is one line "<cmd>: error: <what>" on standard error; a usage error adds the usage line and a hint
 * to --help (usageErrorText), not the whole help.
 *
 * runCommand: the `require.main === module` block. Before the command runs it answers --version, and refuses
 * (exit 2) when npm kept one of the command's flags for itself (flagsNpmSwallowed). Exit codes it adds to the
 * command's own: 1 when whoever reads the output goes away (`| head -1`): the command stops at once and
 * quietly, not having said all it would have (so not a success); 3 on an internal error, for which only the
 * error's type is printed, never its message (it could hold a value); a CommandFailure's own line and code.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { printable } from "./output";

/** What --version prints: the kit's name and package.json's version. */
export const VERSION_LINE = (() => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as { name: string; version: string };
  return `${manifest.name} ${manifest.version}`;
})();

/** The whole help as printed: the command's usage text, then what every command takes. */
export function helpText(usage: string): string {
  const stack = usage.includes("--stack") ? "; -s is short for --stack" : "";
  return `${usage}\nEvery command: -h, --help this help; --version the kit's version${stack}.\n`;
}

/** "<cmd>: error: <message>": the one form of an error line, in every command. */
export function errorLine(command: string, message: string): string {
  return `${command}: error: ${message}`;
}

/**
 * A failure whose message is written for the user and holds no value (a lock directory that cannot be created, a
 * lock lost while suspended): runCommand prints it as the one error line and exits with its code, where any other
 * error is an internal one, printed by its type only.
 */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = "CommandFailure";
  }
}

/**
 * A usage error as printed (three lines, each ending in a newline): the error, the usage line (the first line of
 * `usage`), and where the whole help is. The whole help would bury the one line that says what was wrong.
 */
export function usageErrorText(command: string, usage: string, message: string): string {
  return `${errorLine(command, message)}\n${usage.split("\n")[0]}\nMore: npm run ${command} -- --help\n`;
}

/**
 * The flags npm keeps for itself when they come before `--` (`npm run rotate-key --dry-run`), by the variable it
 * then exports to the script: npm_config_<name>. Measured with npm 10.9.9 and 11.19.1, which behave alike
 * (`npm run <script> <flag> [value]` against a script that prints its environment and arguments). Every flag a
 * command takes is listed here or below, with why; a new command's new flag is added here. The variable is
 * exported when the flag was typed, or set in an .npmrc or the environment as npm_config_<name>: either way the
 * command would not see what the user meant.
 */
export const NPM_SWALLOWED_FLAGS: Readonly<Record<string, string>> = {
  // Not npm settings: npm warns "Unknown cli config", exports the name as "true" and passes the flag's value on as
  // a stray argument (`--stack acme-eu`: the command would see "acme-eu" alone, and credentials wrote the
  // default stack's block to a file of that name); with `--stack=acme-eu` it exports the value. Always refused.
  stack: "--stack",
  out: "--out",
  into: "--into",
  check: "--check",
  if_due: "--if-due",
  warn_days: "--warn-days",
  concurrency: "--concurrency",
  out_dir: "--out-dir",
  expect_user: "--expect-user",
  config: "--config",
  wait: "--wait",
  check_unused: "--check-unused",
  request_again: "--request-again",
  authorization: "--authorization",
  keep: "--keep",
  stored_by_hand: "--stored-by-hand",
  clear_set_aside: "--clear-set-aside",
  narrow_trust: "--narrow-trust",
  // bench's --no-test: npm reads --no-<name> as <name> set to false and exports it empty (npm_config_test=).
  test: "--no-test",
  // npm's own settings (`npm install --dry-run`, `npm ls --json`, `npm ls --all`): false by default, and npm
  // exports a setting only when it differs from its default, so the variable is there only when set to true.
  dry_run: "--dry-run",
  json: "--json",
  all: "--all",
  // Not in the table, by the same experiment:
  // - loglevel: -s and --silent (also -q, -d) set it, and `npm run -s verify` is ordinary use, so it is never
  //   refused. `-s acme` meant as --stack therefore cannot be told apart: npm takes -s, and "acme" reaches the
  //   command as a stray argument, which every command refuses (credentials: an output file must end in .hjson
  //   or .json).
  // - format: npm expands --format to its own --format-package-lock, true by default, so nothing is exported;
  //   the value ("json") reaches the command as a stray argument and is refused as above.
  // - version, help, h: npm answers them itself (its own version, or npm's help) and runs no script: nothing
  //   acts, and the user sees npm's answer rather than the kit's.
};

/**
 * The flags npm kept for itself, from the variables it exported (in the table's order); [] when none. Any value
 * counts ("true", a value given with =, or "" from --no-<name>), except "false": npm never exports a typed flag as
 * "false" (false is its own settings' default), so that one comes from somewhere else and asks for nothing.
 */
export function flagsNpmSwallowed(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(NPM_SWALLOWED_FLAGS)
    .filter(([name]) => {
      const value = env[`npm_config_${name}`];
      return value !== undefined && value !== "false";
    })
    .map(([, flag]) => flag);
}

/** The one line a command prints when npm swallowed its flags: which, and how to pass them. */
export function swallowedFlagsLine(command: string, flags: readonly string[], env: NodeJS.ProcessEnv): string {
  const script = env.npm_lifecycle_event || command;
  const names = Object.entries(NPM_SWALLOWED_FLAGS)
    .filter(([, flag]) => flags.includes(flag))
    .map(([name]) => `npm_config_${name}`)
    .join(", ");
  return errorLine(
    command,
    `npm kept ${flags.join(", ")} for itself (it set ${names}) and did not pass ${flags.length === 1 ? "it" : "them"} on; ` +
      `nothing was done. Put -- before the command's flags: npm run ${script} -- ${flags.join(" ")} ...`,
  );
}

/** The refusal as one JSON document, in the shape npm's own --json errors take: {error: {code, summary, detail}}. */
export function swallowedFlagsDocument(line: string): { error: { code: number; summary: string; detail: string } } {
  const [summary, detail] = line.replace(/^[\w-]+: error: /, "").split(/; (?=nothing was done)/);
  return { error: { code: 2, summary: summary!, detail: detail ?? "" } };
}

type Options = NonNullable<ParseArgsConfig["options"]>;

const HELP = { help: { type: "boolean", short: "h" } } as const;

/** -s for --stack, as Pulumi's own CLI has it, in every command that takes --stack. */
function withStackShort<O extends Options>(options: O): O {
  const stack = options.stack;
  return stack && stack.short === undefined ? { ...options, stack: { ...stack, short: "s" } } : options;
}

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
  const all = { ...withStackShort(options), ...HELP };
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
export function runCommand(name: string, main: () => number | Promise<number>, argv: readonly string[] = process.argv.slice(2)): void {
  // The reader went away (`npm run status | head -1`): nothing more can be said, so stop at once, quietly,
  // rather than die on an unhandled EPIPE with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(1);
      throw error;
    });
  }
  // Before anything else: a flag npm kept would change what the command does (a dry run that rotates for real).
  const swallowed = flagsNpmSwallowed(process.env);
  if (swallowed.length > 0) {
    const line = swallowedFlagsLine(name, swallowed, process.env);
    // `npm run <command> --json`: npm, in its own JSON mode, answers the exit code with an error document of its own
    // whose summary and detail are empty. Ours comes first on standard output, in npm's shape, saying what happened.
    if (swallowed.includes("--json")) process.stdout.write(`${JSON.stringify(swallowedFlagsDocument(line), null, 2)}\n`);
    process.stderr.write(line + "\n");
    process.exitCode = 2;
    return;
  }
  // --version anywhere before a `--` that ends the options, in every command.
  const optionsEnd = argv.indexOf("--");
  if ((optionsEnd < 0 ? argv : argv.slice(0, optionsEnd)).includes("--version")) {
    process.stdout.write(VERSION_LINE + "\n");
    process.exitCode = 0;
    return;
  }
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (error: unknown) => {
        if (error instanceof CommandFailure) {
          process.stderr.write(`${errorLine(name, printable(error.message, 2000))}\n`);
          process.exitCode = error.exitCode;
          return;
        }
        process.stderr.write(`${errorLine(name, `internal error (${error instanceof Error ? error.name : typeof error})`)}\n`);
        process.exitCode = 3;
      },
    );
}
