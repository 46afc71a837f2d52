/**
 * lib/cli.ts, the plumbing every command's CLI shares: the command line read one way (the commands' own tests
 * check their options), and runCommand in a real process: a reader that leaves early, an internal error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import * as fs from "node:fs";
import { flagsNpmSwallowed, helpText, NPM_SWALLOWED_FLAGS, parseCommandLine, usageErrorText, VERSION_LINE } from "../lib/cli";
import { USAGE as CREDENTIALS_USAGE } from "../commands/credentials/cli";
import { USAGE as MAINTAIN_USAGE } from "../commands/maintain/cli";
import { USAGE as PLAN_USAGE } from "../commands/plan/cli";
import { USAGE as ROTATE_KEY_USAGE } from "../commands/rotate-key/cli";
import { USAGE as ROTATE_LWA_USAGE } from "../commands/rotate-lwa/cli";
import { USAGE as STATUS_USAGE } from "../commands/status/cli";
import { USAGE as VERIFY_USAGE } from "../commands/verify/cli";
import { USAGE as BENCH_USAGE } from "../tools/bench";
import { USAGE as ADOPT_USAGE } from "../commands/adopt/cli";
import { USAGE as DEMO_USAGE } from "../commands/demo/cli";
import { USAGE as DOCTOR_USAGE } from "../commands/doctor/cli";
import { dayFromToday, fitLine, namesThatFit, outputWidth, wrapLine } from "../lib/output";
import { runThroughNpm } from "./through-npm";
import { LEAKED } from "./fixtures/cli-command";

const REPO = path.resolve(__dirname, "..");
const OPTIONS = { stack: { type: "string", multiple: true }, out: { type: "string" }, "dry-run": { type: "boolean" } } as const;

describe("lib/cli: parseCommandLine", () => {
  const error = (argv: string[], positionals = false) => {
    const parsed = parseCommandLine(argv, OPTIONS, { positionals });
    return parsed.kind === "error" ? parsed.message : `not an error: ${JSON.stringify(parsed)}`;
  };

  it("reads flags, a repeated flag in order, and --x=value", () => {
    const parsed = parseCommandLine(["--stack", "a", "--dry-run", "--stack=b", "--out=x.hjson"], OPTIONS);
    assert.equal(parsed.kind, "parsed");
    assert.deepEqual(parsed.kind === "parsed" && parsed.values, { stack: ["a", "b"], "dry-run": true, out: "x.hjson" });
    assert.deepEqual(parsed.kind === "parsed" && parsed.positionals, []);
  });

  it("a string option without its value is a usage error naming the flag: at the end, empty, or followed by a flag", () => {
    assert.equal(error(["--out"]), "--out needs a value");
    assert.equal(error(["--out="]), "--out needs a value");
    assert.equal(error(["--stack", "--dry-run"]), "--stack needs a value");
    // One dash is a value (`--wait -1`): the caller says what values are valid.
    const parsed = parseCommandLine(["--out", "-1"], OPTIONS);
    assert.deepEqual(parsed.kind === "parsed" && parsed.values, { out: "-1" });
  });

  it("refuses an unknown flag, a value given to a boolean, and a positional argument unless the command takes them", () => {
    assert.equal(error(["--bogus"]), "unknown option --bogus");
    assert.equal(error(["--bogus=secret"]), "unknown option --bogus");
    assert.equal(error(["-x"]), "unknown option -x");
    assert.equal(error(["--dry-run=yes"]), "--dry-run takes no value");
    assert.equal(error(["file.hjson"]), 'unexpected argument "file.hjson"');
    assert.equal(error(["--", "--stack"]), 'unexpected argument "--stack"');
    const parsed = parseCommandLine(["a.hjson", "--out", "o", "-"], OPTIONS, { positionals: true });
    assert.deepEqual(parsed.kind === "parsed" && parsed.positionals, ["a.hjson", "-"]);
  });

  it("-h and --help ask for the usage, even beside a usage error", () => {
    for (const argv of [["-h"], ["--help"], ["--bogus", "--help"], ["--out=", "-h"]])
      assert.deepEqual(parseCommandLine(argv, OPTIONS), { kind: "help" }, argv.join(" "));
  });

  it("-s is short for --stack where a command takes --stack, and unknown where it does not", () => {
    const parsed = parseCommandLine(["-s", "acme", "-sglobex", "--stack", "initech"], OPTIONS);
    assert.deepEqual(parsed.kind === "parsed" && parsed.values.stack, ["acme", "globex", "initech"]);
    assert.equal(error(["-s"]), "-s needs a value");
    const withoutStack = parseCommandLine(["-s", "acme"], { out: { type: "string" } });
    assert.deepEqual(withoutStack, { kind: "error", message: "unknown option -s" });
  });

  it("keeps control characters of what it quotes out of the message", () => {
    assert.equal(error(["--bo\x1b[2Jgus"]), "unknown option --bogus");
  });
});

describe("lib/cli: npm kept --json", function () {
  this.timeout(60_000);
  it("`npm run rotate-key --json` (no --): the first JSON document on standard output says what happened, not an empty error", async () => {
    const result = await runThroughNpm("rotate-key", [], { cwd: REPO, env: process.env, beforeDashes: ["--json"] });
    assert.equal(result.code, 2);
    const first = JSON.parse(result.stdout.slice(0, result.stdout.indexOf("\n}\n") + 2)) as { error: { code: number; summary: string; detail: string } };
    assert.equal(first.error.code, 2);
    assert.match(first.error.summary, /^npm kept --json for itself \(it set npm_config_json\) and did not pass it on$/);
    assert.match(first.error.detail, /Put -- before the command's flags: npm run rotate-key -- --json/);
  });
});

describe("lib/cli: one wording for every command", () => {
  const usages = {
    plan: PLAN_USAGE,
    credentials: CREDENTIALS_USAGE,
    verify: VERIFY_USAGE,
    "rotate-lwa": ROTATE_LWA_USAGE,
    "rotate-key": ROTATE_KEY_USAGE,
    status: STATUS_USAGE,
    maintain: MAINTAIN_USAGE,
    adopt: ADOPT_USAGE,
    doctor: DOCTOR_USAGE,
    bench: BENCH_USAGE,
    demo: DEMO_USAGE,
  };

  it("every command's usage starts with its usage line, in one form", () => {
    for (const [name, usage] of Object.entries(usages)) assert.match(usage.split("\n")[0]!, new RegExp(`^Usage: npm run ${name} -- \\S`), name);
  });

  it("a usage error is three lines: what is wrong, the usage line, where the help is (not the whole help)", () => {
    assert.equal(
      usageErrorText("status", STATUS_USAGE, "unknown option --bogus"),
      `status: error: unknown option --bogus\n${STATUS_USAGE.split("\n")[0]}\nMore: npm run status -- --help\n`,
    );
  });

  it("the help says what every command takes, -s only where there is a --stack", () => {
    assert.match(helpText(STATUS_USAGE), /--version the kit's version; -s is short for --stack\.\n$/);
    assert.match(helpText(VERIFY_USAGE), /--version the kit's version; -s is short for --stack\.\n$/);
    assert.match(helpText(BENCH_USAGE), /--version the kit's version\.\n$/);
  });

  it("every flag a command takes is in the table of flags npm may keep, or is one npm cannot keep unseen", () => {
    // npm answers --help/-h and --version itself (running nothing); --format is expanded to npm's own
    // --format-package-lock, exported as nothing (lib/cli.ts says why each is not in the table).
    const notExported = new Set(["--help", "--version", "--format"]);
    const listed = new Set(Object.values(NPM_SWALLOWED_FLAGS));
    for (const [name, usage] of Object.entries(usages)) {
      // The usage line names every flag the command takes.
      for (const flag of usage.split("\n")[0]!.match(/--[a-z][a-z-]*/g) ?? []) assert.ok(listed.has(flag) || notExported.has(flag), `${name}: ${flag}`);
    }
  });

  it("reads what npm kept from its npm_config_ variables; never its log level (-s, --silent), nor a flag set to false", () => {
    const env = {
      npm_config_dry_run: "true",
      npm_config_stack: "true",
      npm_config_loglevel: "silent",
      npm_config_json: "false",
      npm_config_cache: "/root/.npm",
      npm_config_out_dir: "blocks",
      npm_config_test: "",
    };
    assert.deepEqual(flagsNpmSwallowed(env), ["--stack", "--out-dir", "--no-test", "--dry-run"]);
    assert.deepEqual(flagsNpmSwallowed({ npm_config_loglevel: "silent", npm_lifecycle_event: "verify" }), []);
  });
});

describe("lib/cli: runCommand in a process", function () {
  const run = (script: string) => spawnSync("bash", ["-c", script], { cwd: REPO, encoding: "utf8" });
  const fixture = `"${process.execPath}" -r ./tools/register.js test/fixtures/cli-command.ts`;

  it("stops quietly with exit code 1 when its reader leaves (| head -1)", () => {
    const result = run(`${fixture} lines | head -1; exit "\${PIPESTATUS[0]}"`);
    assert.equal(result.stdout, "line 1\n");
    assert.equal(result.stderr, "", "no EPIPE stack trace");
    assert.equal(result.status, 1, "it did not say all it would have: not a success");
  });

  it("an internal error: its type, never its message, and exit code 3", () => {
    const result = run(`${fixture} throw`);
    assert.equal(result.stderr, "fixture: error: internal error (TypeError)\n");
    assert.ok(!result.stderr.includes(LEAKED));
    assert.equal(result.status, 3);
  });

  it("--version: the kit's name and package.json's version, and the command does not run", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };
    assert.equal(VERSION_LINE, `sp-api-iam ${manifest.version}`);
    const result = run(`${fixture} throw --version`);
    assert.equal(result.stdout, `sp-api-iam ${manifest.version}\n`);
    assert.equal(result.status, 0);
    // After a `--` it is an argument like any other: the command runs (and here throws).
    assert.equal(run(`${fixture} throw -- --version`).status, 3);
  });

  it("refuses to run, exit 2 and one line, when npm kept one of the flags (npm_config_<name> set)", () => {
    const result = run(`npm_config_dry_run=true npm_config_loglevel=silent npm_lifecycle_event=rotate-key ${fixture} throw`);
    assert.equal(result.status, 2, "the command did not run (it would have exited 3)");
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      "fixture: error: npm kept --dry-run for itself (it set npm_config_dry_run) and did not pass it on; nothing was done. " +
        "Put -- before the command's flags: npm run rotate-key -- --dry-run ...\n",
    );
  });

  it("leaves the AWS SDK's Node-version notice on: on an old Node the user should hear of it", () => {
    const result = run(`unset AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED; ${fixture} env`);
    assert.equal(result.stdout, "undefined\n");
    assert.equal(result.status, 0);
  });
});

describe("lib/cli through the user's door (npm run <cmd> -- ...)", function () {
  const env = { ...process.env, PULUMI_BACKEND_URL: "file:///nonexistent-backend-for-this-test" };
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };

  it("every command runs through runCommand, so each has --version and refuses flags npm kept", () => {
    for (const command of fs.readdirSync(path.join(REPO, "commands"))) {
      const source = fs.readFileSync(path.join(REPO, "commands", command, "cli.ts"), "utf8");
      assert.match(source, new RegExp(`runCommand\\("${command}"`), command);
    }
    assert.match(fs.readFileSync(path.join(REPO, "tools", "bench.ts"), "utf8"), /runCommand\("bench"/);
  });

  it("--version prints the kit's version, exit 0 (three commands of different kinds)", async function () {
    this.timeout(60000);
    for (const command of ["rotate-key", "verify", "bench"]) {
      const result = await runThroughNpm(command, ["--version"], { cwd: REPO, env });
      assert.deepEqual([result.code, result.stdout, result.stderr], [0, `sp-api-iam ${manifest.version}\n`, ""], command);
    }
  });

  it("a usage error: three lines on standard error, exit 2; --help: the whole help on standard output, exit 0", async function () {
    this.timeout(60000);
    const wrong = await runThroughNpm("status", ["--bogus"], { cwd: REPO, env });
    assert.equal(wrong.code, 2);
    assert.equal(wrong.stdout, "");
    assert.equal(wrong.stderr, `status: error: unknown option --bogus\n${STATUS_USAGE.split("\n")[0]}\nMore: npm run status -- --help\n`);
    const help = await runThroughNpm("status", ["--help"], { cwd: REPO, env });
    assert.equal(help.code, 0);
    assert.equal(help.stdout, helpText(STATUS_USAGE));
  });
});

describe("lib/output: text for a width", () => {
  it("the width: COLUMNS, else the terminal's, else 120; never under 40", () => {
    assert.equal(outputWidth({ isTTY: true, columns: 90 }, { COLUMNS: "150" }), 150);
    assert.equal(outputWidth({ isTTY: true, columns: 90 }, {}), 90);
    assert.equal(outputWidth({ isTTY: false, columns: 90 }, {}), 120);
    assert.equal(outputWidth({}, { COLUMNS: "wide" }), 120);
    assert.equal(outputWidth({}, { COLUMNS: "10" }), 40);
  });

  it("cuts a line with a mark; wraps text at spaces without losing a character", () => {
    assert.equal(fitLine("abcdef", 4), "abc…");
    assert.equal(fitLine("abcd", 4), "abcd");
    const text = "  ✗ key: could not read IAM's record of the keys: no AWS credentials (set AWS_PROFILE) averyveryverylongwordthatmustbecut";
    const lines = wrapLine(text, 30, 6);
    assert.ok(
      lines.every((l) => l.length <= 30),
      lines.join("\n"),
    );
    assert.ok(lines[0]!.startsWith("  ✗ key:"));
    assert.ok(lines.slice(1).every((l) => l.startsWith("      ")));
    // Every character but the spaces it broke at, in order.
    assert.equal(lines.join("").replace(/ /g, ""), text.replace(/ /g, ""));
  });

  it("a list of names as one line that says how many it leaves out", () => {
    const names = Array.from({ length: 500 }, (_, i) => `customer-${i}`);
    const line = namesThatFit("    500 stacks: ", names, 80);
    assert.ok(line.length <= 80);
    const shown = line
      .replace("    500 stacks: ", "")
      .replace(/, … and (\d+) more$/, "")
      .split(", ");
    assert.equal(shown.length + Number(/and (\d+) more$/.exec(line)![1]), 500);
    assert.equal(namesThatFit("  ", ["a", "b"], 80), "  a, b");
  });

  it("words a day from today: past as past", () => {
    assert.equal(dayFromToday("2026-11-25", "2026-11-30"), "5 days ago, on 2026-11-25");
    assert.equal(dayFromToday("2026-11-29T23:59:00Z", "2026-11-30"), "1 day ago, on 2026-11-29");
    assert.equal(dayFromToday("2026-11-30", "2026-11-30"), "today, 2026-11-30");
    assert.equal(dayFromToday("2027-01-01", "2026-11-30"), "in 32 days, on 2027-01-01");
  });
});
