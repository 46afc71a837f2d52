/**
 * The shell one-liners, run for real against a stand-in `pulumi` on PATH (no Pulumi CLI here):
 * what they call, in what order, and what they leave on disk.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main as benchMain, sample, StepFailed } from "../tools/bench";
import { openStack } from "../lib/pulumi";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const ROOT = path.resolve(__dirname, "..");

/** A fake pulumi that logs its arguments and answers like the real one for the calls the scripts make. */
function fakePulumi(dir: string, loggedIn: boolean, version = "v3.265.0"): string {
  fs.mkdirSync(dir, { recursive: true });
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

const calls = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []);

/**
 * The CLI the `pulumi` npm package runs (node_modules/.bin/pulumi) is the one it finds in its cache under
 * PULUMI_HOME: a stand-in placed there answers for it, so no test downloads anything.
 */
function fakePackageCli(home: string, loggedIn: boolean, version?: string): string {
  const packageVersion = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/pulumi/package.json"), "utf8")).version;
  return fakePulumi(path.join(home, "versions", packageVersion, "bin"), loggedIn, version);
}

/** PATH as a user without a Pulumi CLI of their own has it. */
const pathWithoutPulumi = () =>
  (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((d) => d && !fs.existsSync(path.join(d, "pulumi")))
    .join(path.delimiter);

function run(script: string, args: string[], dir: string, env: Record<string, string> = {}) {
  return spawnSync("bash", [path.join(ROOT, "tools", script), ...args], {
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

  /**
   * What `npm run` does to PATH, without the cost of npm: a node_modules/.bin first, whose `pulumi` is
   * the npm package's downloader. Returns the log of that decoy.
   */
  function npmLikePath(): { PATH: string; decoyLog: string } {
    const decoyLog = fakePulumi(path.join(dir, "project", "node_modules", ".bin"), true);
    return { PATH: `${path.join(dir, "project", "node_modules", ".bin")}:${dir}:${process.env.PATH}`, decoyLog };
  }

  it("up, as `npm run up -- <stack> <flags>` from another directory: runs the user's own pulumi, logs in to the local backend, selects or creates the stack, runs up", async () => {
    const log = fakePulumi(path.join(dir, "user-bin"), false);
    const home = path.join(dir, "pulumi-home");
    const packageLog = fakePackageCli(home, true);
    const cwd = fs.mkdtempSync(path.join(dir, "elsewhere-"));
    const PATH = `${path.join(dir, "user-bin")}:${pathWithoutPulumi()}`;
    // As the user types it: `npm run up`, not --silent.
    const result = await runThroughNpm("up", ["acme-eu", "--yes"], {
      cwd,
      env: { ...process.env, PULUMI_BACKEND_URL: "", PATH, PULUMI_HOME: home },
      silent: false,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(calls(log), ["version", "whoami", "login --local", "stack --show-name", "stack select --create acme-eu", "up --yes"]);
    assert.deepEqual(calls(packageLog), [], "the npm package's CLI (node_modules/.bin/pulumi) did not run");
  });

  it("up, as `npm run up` with no pulumi of the user's: runs the npm package's CLI, and the version check applies to it", async () => {
    const home = path.join(dir, "pulumi-home");
    const packageLog = fakePackageCli(home, true, "v3.207.0");
    const result = await runThroughNpm("up", [], {
      cwd: dir,
      env: { ...process.env, PULUMI_BACKEND_URL: "", PATH: pathWithoutPulumi(), PULUMI_HOME: home },
      silent: false,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /the Pulumi CLI of the pulumi npm package is 3\.207\.0; this kit needs 3\.208\.0 or later/);
    assert.doesNotMatch(result.stderr, /remove it from PATH/);
    assert.deepEqual(calls(packageLog), ["version"], "the package's CLI ran, and nothing after the check");
  });

  it("up: keeps the backend the user is already logged in to", () => {
    const log = fakePulumi(dir, true);
    const { PATH, decoyLog } = npmLikePath();
    const result = run("up.sh", [], dir, { PATH });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(calls(log), ["version", "whoami", "stack --show-name", "stack select --create dev", "up"]);
    assert.deepEqual(calls(decoyLog), [], "the pulumi in node_modules/.bin did not run");
  });

  it("up -- <stack>: the stack selected before stays selected (a later bare command must not act on the new one), whatever up's outcome", () => {
    for (const upFails of [false, true]) {
      const sub = fs.mkdtempSync(path.join(dir, "sel-"));
      const log = path.join(sub, "calls.log");
      fs.writeFileSync(
        path.join(sub, "pulumi"),
        `#!/usr/bin/env bash
echo "$*" >> ${JSON.stringify(log)}
case "$1" in
  version) echo v3.265.0 ;;
  stack) if [ "$2" = --show-name ]; then echo acme; fi ;;
  up) exit ${upFails ? 7 : 0} ;;
esac
exit 0
`,
        { mode: 0o755 },
      );
      const result = run("up.sh", ["hooli", "--yes"], sub, { PATH: `${sub}:${process.env.PATH}` });
      assert.equal(result.status, upFails ? 7 : 0, result.stderr);
      assert.deepEqual(calls(log), ["version", "whoami", "stack --show-name", "stack select --create hooli", "up --yes", "stack select acme"]);
      assert.match(result.stdout, /^The selected stack is still acme \(npm run up does not change it\): name this one with --stack hooli\.$/m);
      if (!upFails) assert.match(result.stdout, /^Next: npm run credentials -- --stack hooli, /m);
    }
  });

  it("up: refuses a user's CLI older than 3.208, which would ignore the key slots' replacement trigger", () => {
    const log = fakePulumi(dir, true, "v3.207.1");
    const { PATH, decoyLog } = npmLikePath();
    const result = run("up.sh", [], dir, { PATH });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /the Pulumi CLI on your PATH \(.*\/pulumi\) is 3\.207\.1; this kit needs 3\.208\.0 or later/);
    assert.match(result.stderr, /remove it from PATH to use the one the pulumi npm package provides/);
    assert.deepEqual(calls(log), ["version"], "nothing ran after the check");
    assert.deepEqual(calls(decoyLog), []);
  });
});

describe("npm run up from a stale working copy (issue 20)", () => {
  const SECRET = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const NEW = SECRET.replace(/abcdef/g, "fedcba");
  const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
  let cli: FakePulumi;
  beforeEach(() => (cli = FakePulumi.create()));
  afterEach(() => cli.cleanup());

  it("a plain pulumi up from a fresh clone with a setting changed deploys the newest state and the change, naming the stale keys", async () => {
    cli.addStack("acme", { config: { lwaClientId: CLIENT_ID }, secrets: { lwaClientSecret: SECRET }, selected: true });
    cli.commit();
    // A command rotated since: the new secret and key generation 2, deployed, never committed.
    const stack = await openStack("acme", { env: cli.env() });
    await stack.setSecret("lwaClientSecret", NEW);
    await stack.setConfig("accessKeyGeneration", "2");
    await stack.up();
    const clone = cli.cloneProject();
    cli.setConfig("acme", "keyInactiveDays", "10", { projectDir: clone.dir });
    const result = spawnSync("bash", [path.join(ROOT, "tools", "up.sh"), "acme", "--yes"], { cwd: os.tmpdir(), env: clone.env(), encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr + result.stdout);
    const output = result.stdout + result.stderr;
    assert.match(output, /lwaClientSecret/, "the stale key named");
    assert.ok(!output.includes(SECRET) && !output.includes(NEW), "never a value");
    const up = cli.callsOf("up").pop()!;
    assert.equal(fs.realpathSync(up.cwd), fs.realpathSync(clone.dir), "pulumi ran in SP_API_IAM_PROJECT_DIR");
    const outputs = cli.stack("acme").outputs;
    assert.equal((outputs.operationalSecrets!.value as Record<string, string>).lwaClientSecret, NEW);
    assert.equal((outputs.operationalState!.value as { values: Record<string, string> }).values.accessKeyGeneration, "2");
    assert.ok(String(outputs.credentials!.value).includes(NEW), "the block deployed holds the new secret");
    assert.equal(cli.stack("acme").history.at(-1)!.config["sp-api-iam:keyInactiveDays"], "10", "the person's change deployed");
  });
});

describe("npm run bench: its door", () => {
  it("-- --help prints the usage and exits 0 without measuring anything", async () => {
    const result = await runThroughNpm("bench", ["--help"], { cwd: os.tmpdir(), env: process.env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: npm run bench -- \[--no-test\]\n/);
    assert.doesNotMatch(result.stdout, / ms/, "no figure: nothing ran");
    assert.equal(result.stderr, "");
  });

  it("a step that fails is one line: which step, how it ended, its last line of error output; no stack trace", () => {
    const failing = ["bash", "-c", "echo progress; printf 'Error: 3 tests failed\\n    at Object.<anonymous> (x.js:1:1)\\ntests failed: 3\\n' >&2; exit 1"];
    assert.throws(
      () => sample("npm test", failing),
      (error: unknown) => error instanceof StepFailed && error.message === "npm test exited 1: tests failed: 3; run it alone to see why",
    );
    let stderr = "";
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = benchMain([], () => sample("npm test", failing));
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 1);
    assert.equal(stderr, "bench: error: npm test exited 1: tests failed: 3; run it alone to see why\n");
  });
});
