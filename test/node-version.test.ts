/**
 * The kit needs Node 22 or later (package.json engines). On a machine whose node is older, npm test runs the suite
 * on Node 24 LTS (tools/node24.sh): these tests fail if the suite, or a process it starts through the user's door,
 * ran on anything older.
 */
import assert from "node:assert/strict";
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
});
