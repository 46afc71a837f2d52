/**
 * The customer is named, never guessed (lib/stack-choice.ts): with several stacks in the backend, a command that
 * changes anything refuses the stack Pulumi happens to have selected (exit 2, naming --stack and the stacks); a
 * read-only one says which stack it read. Run as the user runs them, in a process, against the stand-in CLI.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FakePulumi } from "./fake-pulumi";

const ROOT = path.resolve(__dirname, "..");
const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";

function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", "./tools/register.js", `commands/${command}/cli.ts`, ...args], { cwd: ROOT, env: { ...env, INIT_CWD: cwd } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe("the customer is named: several stacks, none named", function () {
  this.timeout(60_000);
  let cli: FakePulumi;
  let dir: string;
  before(() => {
    cli = FakePulumi.create();
    const lwa = {
      config: { lwaClientId: CLIENT_ID },
      secrets: {
        lwaClientSecret: "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        lwaRefreshToken: "Atzr|IwEBI-the-refresh-token-0123456789",
      },
    };
    cli.addStack("acme", { ...lwa, account: "111111111111" });
    cli.addStack("globex", { ...lwa, account: "222222222222" });
    // `npm run up -- hooli` selected it as a side effect.
    cli.addStack("hooli", { ...lwa, account: "333333333333", selected: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-choice-"));
    fs.writeFileSync(path.join(dir, "orders.json"), '{"input": {"credentials": {"role_arn": "x", "aws_access_key_id": "y"}}}\n');
  });
  after(() => {
    cli.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const REFUSAL =
    /^(\S+): error: no stack named, and the backend holds 3 stacks \(acme, globex, hooli\): name the customer with --stack <name> \(npm run \1 -- --stack hooli \.\.\.\); the selected one, hooli, is not taken as a guess$/m;

  for (const [command, args] of [
    ["rotate-key", []],
    ["rotate-key", ["--if-due", "--dry-run"]],
    ["rotate-lwa", ["--if-due"]],
    ["adopt", ["--dry-run"]],
    ["credentials", []],
    ["credentials", ["--into", "orders.json"]],
    ["credentials", ["--dry-run", "--into", "."]],
  ] as const) {
    it(`npm run ${command} -- ${args.join(" ")}: exit 2, naming --stack and the stacks; nothing read or changed`, async () => {
      const before = fs.readFileSync(path.join(dir, "orders.json"), "utf8");
      const result = await runCommand(command, [...args], cli.env(), dir);
      assert.equal(result.code, 2, `${result.stdout}${result.stderr}`);
      assert.match(result.stderr, REFUSAL);
      assert.equal(result.stderr.match(REFUSAL)![1], command);
      assert.deepEqual(
        cli.calls().filter((c) => c.argv[0] !== "stack" && c.argv[0] !== "whoami" && c.argv[0] !== "version" && c.argv[0] !== "about"),
        [],
        "nothing but the list of stacks was asked",
      );
      assert.equal(fs.readFileSync(path.join(dir, "orders.json"), "utf8"), before);
      assert.ok(!fs.existsSync(path.join(dir, "credentials.hjson")));
    });
  }

  it("--json: the refusal is the one JSON document too (rotate-key)", async () => {
    const result = await runCommand("rotate-key", ["--json"], cli.env(), dir);
    assert.equal(result.code, 2);
    assert.match(JSON.parse(result.stdout).reason, /^no stack named, and the backend holds 3 stacks/);
  });

  it("named, it acts: npm run credentials -- --stack globex writes globex's block", async () => {
    const result = await runCommand("credentials", ["--stack", "globex", "globex.hjson"], cli.env(), dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(fs.readFileSync(path.join(dir, "globex.hjson"), "utf8"), /arn:aws:iam::222222222222:role\//);
  });

  it("read-only: credentials --check reads the selected stack and says which", async () => {
    const result = await runCommand("credentials", ["--check", "orders.json"], cli.env(), dir);
    assert.match(result.stdout, /^Stack hooli: role arn:aws:iam::333333333333:role\//m);
  });
});

describe("credentials on an LWA-only stack", function () {
  this.timeout(60_000);
  it("--into names the stack's LWA client, never `role undefined`", async () => {
    const cli = FakePulumi.create();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-choice-lwa-"));
    try {
      cli.addStack("acme-lwa", {
        config: { connectorAuth: "lwa", lwaClientId: CLIENT_ID },
        secrets: {
          lwaClientSecret: "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
          lwaRefreshToken: "Atzr|IwEBI-the-refresh-token-0123456789",
        },
        selected: true,
      });
      fs.writeFileSync(path.join(dir, "job.json"), "{}\n");
      const result = await runCommand("credentials", ["-s", "acme-lwa", "--into", "job.json"], cli.env(), dir);
      assert.doesNotMatch(result.stdout, /undefined/);
      assert.match(result.stdout, new RegExp(`^Stack acme-lwa: LWA only \\(no IAM role\\), client ${CLIENT_ID.replace(/\./g, "\\.")}$`, "m"));
    } finally {
      cli.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
