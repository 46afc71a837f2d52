/**
 * README's Quick start, run as a new user runs it: on a fresh copy of the repository (its files as git would check
 * them out), the commands read from the Quick start's code blocks, in order, through npm. Where the user's machine
 * would reach the world, stand-ins answer: the stand-in Pulumi CLI (test/fake-pulumi.ts) on PATH, the fake STS, LWA
 * and SP-API (test/fake-amazon.ts) through the endpoint variables. What the test changes in the commands, and why:
 * - `git clone <this repository>`: the fresh copy stands for it;
 * - `npm ci`: the repository's installed node_modules is linked in (a test downloads nothing);
 * - placeholders (`<profile>`, `<32 hex>`) get values, an example date becomes today's;
 * - `npm run up` gets `-- dev --yes`: the user answers pulumi up's question, a test cannot;
 * - `--secret` prompts get their value on standard input, as Pulumi reads it when no terminal is attached.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { FakeAmazon, SECRETS } from "./fake-amazon";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const REPO = path.resolve(__dirname, "..");
const ONE_LINE_NPM_CI = /^sp-api-iam: its dependencies are not installed: run npm ci first \(in .+\)\.\n$/;

/** The repository's files as a fresh clone holds them (tracked, and new files not ignored), without node_modules. */
function freshCopy(): string {
  const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "quick-start-")), "sp-api-iam");
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO, encoding: "utf8" });
  assert.equal(listed.status, 0, "the repository is a git work tree");
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    const from = path.join(REPO, file);
    if (!fs.existsSync(from)) continue; // deleted in the work tree, not yet committed
    fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    fs.copyFileSync(from, path.join(copy, file));
    fs.chmodSync(path.join(copy, file), fs.statSync(from).mode & 0o777);
  }
  // A clone is a git work tree (the warning about secret files not ignored depends on it).
  spawnSync("git", ["init", "-q"], { cwd: copy });
  return copy;
}

/** The shell lines of the Quick start section's code blocks, comments dropped, in order. */
function quickStartCommands(): string[] {
  const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("\n## Quick start\n");
  assert.ok(start >= 0, "README has a Quick start");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const commands: string[] = [];
  let inBlock = false;
  for (const raw of section.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("```")) {
      inBlock = line === "```sh" ? true : false;
      continue;
    }
    if (inBlock && line) commands.push(line.replace(/\s+#\s.*$/, ""));
  }
  return commands;
}

function run(command: string, opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], { cwd: opts.cwd, env: opts.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? "");
  });
}

describe("README Quick start, on a fresh copy of the repository", function () {
  this.timeout(240_000);
  let copy: string;
  before(() => (copy = freshCopy()));
  after(() => fs.rmSync(path.dirname(copy), { recursive: true, force: true }));

  it("before npm ci, every npm script says one line, 'run npm ci first', and no stack trace (up excepted: it runs npm ci itself)", async () => {
    const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(copy, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);
    assert.ok(scripts.includes("plan") && scripts.includes("pulumi"));
    for (const script of scripts.filter((s) => s !== "up")) {
      const result = await run(`npm run --silent ${script}`, { cwd: copy, env: process.env });
      assert.notEqual(result.code, 0, script);
      assert.match(result.stderr, ONE_LINE_NPM_CI, `npm run ${script}: ${result.stderr}`);
      assert.equal(result.stdout, "", script);
    }
  });

  it("runs top to bottom: deploys the stack with the stand-in Pulumi CLI, writes the block, and verify passes against the fake Amazon", async () => {
    const cli = FakePulumi.create();
    const amazon = new FakeAmazon();
    await amazon.start();
    try {
      let env: NodeJS.ProcessEnv = cli.env({ ...amazon.env(), SP_API_VERIFY_RETRY_BUDGET_MS: "0" });
      // The user's project is the fresh copy itself (its Pulumi.dev.yaml holds the stack's config), not the harness's.
      delete env.SP_API_IAM_PROJECT_DIR;
      const secretInput: Record<string, string> = { lwaClientSecret: SECRETS.clientSecret, lwaRefreshToken: SECRETS.refreshToken };
      const commands = quickStartCommands();
      for (const expected of ["npm ci", "npm run up", "npm run credentials", "npm run verify -- credentials.hjson"]) {
        assert.ok(
          commands.some((c) => c.startsWith(expected)),
          `the Quick start has ${expected}`,
        );
      }
      for (const command of commands) {
        if (command.startsWith("git clone ")) continue;
        const exported = /^export (\w+)='([^']*)'$/.exec(command);
        if (exported) {
          env = { ...env, [exported[1]!]: exported[2]! };
          continue;
        }
        if (command === "npm ci") {
          fs.symlinkSync(path.join(REPO, "node_modules"), path.join(copy, "node_modules"));
          continue;
        }
        if (command.startsWith("npm run verify")) {
          // The fake STS knows the key the stand-in made, as AWS knows the one pulumi up made.
          const block = (Hjson.parse(fs.readFileSync(path.join(copy, "credentials.hjson"), "utf8")) as { credentials: Record<string, string> }).credentials;
          amazon.acceptBlock(block, cli.stack("dev").outputs.userArn!.value as string);
        }
        const line = command
          .replace("<profile>", "acme-profile")
          .replace("<32 hex>", SECRETS.clientId.split(".").pop()!)
          .replace(/\b20\d\d-\d\d-\d\d\b/, new Date().toISOString().slice(0, 10))
          .replace(/npm run up(?= &&|$)/, "npm run up -- dev --yes");
        const secret = /--secret (\w+)$/.exec(line);
        const result = await run(line, { cwd: copy, env, stdin: secret ? secretInput[secret[1]!] : "" });
        assert.equal(result.code, 0, `${line}\n${result.stdout}\n${result.stderr}`);
        if (command.startsWith("npm run verify")) assert.match(result.stdout, /^OK: 5 passed\.$/m, result.stdout);
        // A clone is a git work tree: the block it writes there is one git ignores, so no warning.
        if (command.includes("npm run credentials")) assert.doesNotMatch(result.stderr, /Warning/, result.stderr);
      }

      // The stack existed before its aws:profile was set, and that was before pulumi up.
      const order = cli.calls().map((c) => c.argv.join(" "));
      const created = order.findIndex((c) => c.startsWith("stack select --create dev"));
      const profile = order.findIndex((c) => c.startsWith("config set aws:profile acme-profile"));
      const firstUp = order.findIndex((c) => c.startsWith("up"));
      assert.ok(created >= 0 && created < profile && profile < firstUp, order.join("\n"));
      // Secrets reached the CLI on standard input, never in its arguments.
      for (const [key, value] of Object.entries(secretInput)) {
        const call = cli.callsOf(`config set --secret ${key}`)[0] ?? cli.calls().find((c) => c.argv.includes(key));
        assert.equal(call?.stdin, value, key);
        assert.ok(!cli.calls().some((c) => c.argv.some((a) => a.includes(value))));
      }
      assert.equal(fs.statSync(path.join(copy, "credentials.hjson")).mode & 0o777, 0o600);
      assert.equal(amazon.requests("sp-api").length, 1, "verify reached SP-API with the block's values");
    } finally {
      cli.cleanup();
      await amazon.stop();
    }
  });

  it("npm run up offline: names the real cause (the Pulumi CLI could not be downloaded), not npm ci", async function () {
    // No pulumi of the user's on PATH, an empty download cache, and fetch failing as it does offline.
    const PATH = (process.env.PATH ?? "")
      .split(path.delimiter)
      .filter((dir) => !fs.existsSync(path.join(dir, "pulumi")))
      .join(path.delimiter);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-home-"));
    try {
      const env = {
        ...process.env,
        PATH,
        PULUMI_HOME: home,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} -r ${path.join(REPO, "test", "fixtures", "offline-fetch.js")}`,
      };
      const result = await runThroughNpm("up", [], { cwd: home, env });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /the pulumi npm package could not download the Pulumi CLI \(fetch failed\)/);
      assert.match(result.stderr, /check the network connection and any proxy/);
      assert.doesNotMatch(result.stderr, /npm ci/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
