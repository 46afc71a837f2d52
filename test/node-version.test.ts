/**
 * The kit needs Node 22 or later (package.json engines). On a machine whose node is older, npm test runs the suite
 * on Node 24 LTS (tools/node24.sh): these tests fail if the suite, or a process it starts through the user's door,
 * ran on anything older.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runThroughNpm } from "./through-npm";

const ROOT = path.resolve(__dirname, "..");
const major = (version: string) => Number.parseInt(version.replace(/^v/, "").split(".")[0]!, 10);

describe("Node version", () => {
  it("package.json asks for Node 22.12 or later", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
    // 22.12: the first 22 that loads ES modules with require() unflagged (proxy-agent is one).
    assert.equal(pkg.engines.node, ">=22.12");
  });

  it("the suite runs on Node 22 or later", () => {
    assert.ok(major(process.version) >= 22, `the suite runs on ${process.version}`);
  });

  it("npm and the command it runs through the user's door run on Node 22 or later", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-version-"));
    try {
      const record = path.join(dir, "versions.txt");
      const preload = path.join(ROOT, "test", "fixtures", "record-node-version.js");
      const env = { ...process.env, RECORD_NODE_VERSION_TO: record, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} -r ${preload}` };
      const result = await runThroughNpm("plan", ["--help"], { cwd: dir, env });
      assert.equal(result.code, 0, result.stderr);
      const processes = fs.readFileSync(record, "utf8").trim().split("\n");
      assert.ok(
        processes.some((line) => line.includes("npm")),
        `npm itself was recorded: ${processes.join("; ")}`,
      );
      assert.ok(
        processes.some((line) => line.includes(path.join("commands", "plan", "cli.ts"))),
        `the command was recorded: ${processes.join("; ")}`,
      );
      for (const line of processes) assert.ok(major(line) >= 22, `a process ran on Node ${line}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A node older than 22.12 on this machine (the suite itself runs on Node 24): the first `which -a node` finds. */
  function olderNode(): string | undefined {
    let found: string[];
    try {
      found = execFileSync("bash", ["-c", "which -a node"], { encoding: "utf8" }).trim().split("\n");
    } catch {
      return undefined;
    }
    for (const candidate of [...found, "/usr/local/bin/node", "/usr/bin/node"]) {
      try {
        const version = execFileSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
        const [maj, min] = version.split(".").map(Number) as [number, number];
        if (maj < 22 || (maj === 22 && min < 12)) return candidate;
      } catch {
        // not there
      }
    }
    return undefined;
  }

  it("on a Node older than 22.12, every command says in one line which Node it needs and how to get it, and exits 2", async function () {
    this.timeout(120_000);
    const old = olderNode();
    if (!old) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-old-"));
    try {
      // The old node first on PATH, as on the user's machine: npm and the scripts it starts run on it.
      fs.mkdirSync(path.join(dir, "bin"));
      fs.symlinkSync(old!, path.join(dir, "bin", "node"));
      const env = { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH ?? ""}` };
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
      const commands = Object.keys(pkg.scripts).filter((s) => s !== "test" && !["lint", "format", "typecheck", "bench"].includes(s));
      assert.ok(commands.includes("rotate-key") && commands.includes("up") && commands.includes("pulumi"), commands.join(" "));
      for (const script of commands) {
        const result = await runThroughNpm(script, script === "up" || script === "pulumi" ? ["whoami"] : ["--help"], { cwd: dir, env });
        assert.equal(result.code, 2, `npm run ${script}: ${result.stdout}${result.stderr}`);
        assert.match(
          result.stderr,
          /^sp-api-iam: needs Node\.js 22\.12 or later; this is Node \d+\.\d+\.\d+ \(.+\)\. Install Node 24 LTS \(nodejs\.org, or nvm install 24\)/m,
          script,
        );
        assert.equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
        assert.equal(result.stdout, "", script);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
