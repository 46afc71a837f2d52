/**
 * The shell one-liners, run for real against a stand-in `pulumi` on PATH (no Pulumi CLI here):
 * what they call, in what order, and what they leave on disk.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");

/** A fake pulumi that logs its arguments and answers like the real one for the calls the scripts make. */
function fakePulumi(dir: string, loggedIn: boolean, version = "v3.265.0"): string {
  const log = path.join(dir, "calls.log");
  fs.writeFileSync(
    path.join(dir, "pulumi"),
    `#!/usr/bin/env bash
echo "$*" >> ${JSON.stringify(log)}
case "$1" in
  version) echo ${version} ;;
  whoami) ${loggedIn ? "echo alice; exit 0" : "echo 'not logged in' >&2; exit 1"} ;;
  stack) if [ "$2" = output ]; then printf 'credentials: {\\n  region: "us-east-1"\\n}\\n'; fi ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  return log;
}

function run(script: string, args: string[], dir: string, env: Record<string, string> = {}) {
  return spawnSync("bash", [path.join(ROOT, "scripts", script), ...args], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, PULUMI_BACKEND_URL: "", ...env },
  });
}

describe("npm run up", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sp-api-iam-scripts-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("up: logs in to the local backend when no backend is chosen, selects or creates the stack, runs up", () => {
    const log = fakePulumi(dir, false);
    const result = run("up.sh", ["acme-eu", "--yes"], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(fs.readFileSync(log, "utf8").trim().split("\n"), ["version", "whoami", "login --local", "stack select --create acme-eu", "up --yes"]);
  });

  it("up: keeps the backend the user is already logged in to", () => {
    const log = fakePulumi(dir, true);
    const result = run("up.sh", [], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(fs.readFileSync(log, "utf8").trim().split("\n"), ["version", "whoami", "stack select --create dev", "up"]);
  });

  it("up: refuses a CLI older than 3.208, which would ignore the key slots' replacement trigger", () => {
    const log = fakePulumi(dir, true, "v3.207.1");
    const result = run("up.sh", [], dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /3\.207\.1; this kit needs 3\.208\.0 or later/);
    assert.deepEqual(fs.readFileSync(log, "utf8").trim().split("\n"), ["version"], "nothing ran after the check");
  });
});
