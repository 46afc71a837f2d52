/**
 * The customer is named, never guessed (lib/stack-choice.ts): with several stacks in the backend, a command that
 * changes anything refuses the stack Pulumi happens to have selected (exit 2, naming --stack and the stacks); a
 * read-only one says which stack it read. Each command's main runs in this process (test/in-process.ts) against the
 * stand-in CLI; the end-to-end suite runs the commands as processes and through npm.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main as adoptMain } from "../commands/adopt/cli";
import { main as credentialsMain } from "../commands/credentials/cli";
import { main as rotateKeyMain } from "../commands/rotate-key/cli";
import { main as rotateLwaMain } from "../commands/rotate-lwa/cli";
import { FakePulumi } from "./fake-pulumi";
import { runMain } from "./in-process";

const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";

const MAINS = { adopt: adoptMain, credentials: credentialsMain, "rotate-key": rotateKeyMain, "rotate-lwa": rotateLwaMain };

/** The command's main in this process (test/in-process.ts), run from `cwd` as npm passes it (INIT_CWD). */
function runCommand(command: keyof typeof MAINS, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  return runMain(MAINS[command], args, { ...env, INIT_CWD: cwd });
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
