/**
 * lib/cli.ts, the plumbing every command's CLI shares: the command line read one way (the commands' own tests
 * check their options), and runCommand in a real process: a reader that leaves early, an internal error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { parseCommandLine } from "../lib/cli";
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

  it("keeps control characters of what it quotes out of the message", () => {
    assert.equal(error(["--bo\x1b[2Jgus"]), "unknown option --bogus");
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
    assert.equal(result.stderr, "fixture: internal error (TypeError)\n");
    assert.ok(!result.stderr.includes(LEAKED));
    assert.equal(result.status, 3);
  });

  it("leaves the AWS SDK's Node-version notice on: on an old Node the user should hear of it", () => {
    const result = run(`unset AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED; ${fixture} env`);
    assert.equal(result.stdout, "undefined\n");
    assert.equal(result.status, 0);
  });
});
