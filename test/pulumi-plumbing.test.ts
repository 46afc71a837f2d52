/**
 * The shared plumbing of the stack-driving commands (lib/pulumi.ts, lib/files.ts), through the Automation API
 * against the stand-in CLI (test/fake-pulumi.ts): which CLI runs, how stacks are opened, how a secret reaches the
 * CLI (standard input only), how failures read, and how files are written.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findPulumiCli, listStacks, openStack, PulumiError } from "../lib/pulumi";
import { FileRefusal, userPath, writeFileKeepingMode, writePrivateFile } from "../lib/files";
import { FakePulumi } from "./fake-pulumi";

const SECRET = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";

async function rejection(promise: Promise<unknown>): Promise<PulumiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PulumiError, `not a PulumiError: ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

describe("lib/pulumi: finding the CLI", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "find-cli-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function executable(file: string): string {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o755 });
    return file;
  }

  it("takes the user's own pulumi, skipping the node_modules/.bin entries npm run puts first", () => {
    const npmBin = path.join(dir, "project", "node_modules", ".bin");
    executable(path.join(npmBin, "pulumi"));
    const own = executable(path.join(dir, "usr", "bin", "pulumi"));
    assert.equal(findPulumiCli({ PATH: [npmBin, path.join(dir, "usr", "bin")].join(path.delimiter) }, path.join(dir, "project")), own);
  });

  it("falls back to the npm package's CLI when the user has none", () => {
    const npmBin = path.join(dir, "project", "node_modules", ".bin");
    executable(path.join(npmBin, "pulumi"));
    fs.mkdirSync(path.join(dir, "empty"));
    assert.equal(findPulumiCli({ PATH: [npmBin, path.join(dir, "empty")].join(path.delimiter) }, path.join(dir, "project")), path.join(npmBin, "pulumi"));
  });

  it("ignores a pulumi that is not executable or is a directory", () => {
    fs.mkdirSync(path.join(dir, "a", "pulumi"), { recursive: true });
    fs.mkdirSync(path.join(dir, "b"));
    fs.writeFileSync(path.join(dir, "b", "pulumi"), "not executable", { mode: 0o644 });
    const good = executable(path.join(dir, "c", "pulumi"));
    assert.equal(findPulumiCli({ PATH: ["a", "b", "c"].map((d) => path.join(dir, d)).join(path.delimiter) }, dir), good);
  });
});

describe("lib/pulumi: stacks through the Automation API and the stand-in CLI", () => {
  let cli: FakePulumi;
  beforeEach(() => {
    cli = FakePulumi.create();
    cli.addStack("acme-eu", {
      config: { spApiRegion: "eu", lwaClientId: CLIENT_ID },
      secrets: { lwaClientSecret: SECRET },
      provider: { region: "eu-west-1", profile: "acme" },
      selected: true,
    });
    cli.addStack("globex-na", { config: { spApiRegion: "na" } });
  });
  afterEach(() => cli.cleanup());

  it("opens the selected stack when none is named, and reads config, secrets and provider settings", async () => {
    const stack = await openStack(undefined, { env: cli.env() });
    assert.equal(stack.name, "acme-eu");
    const view = await stack.readConfig();
    assert.equal(view.values.spApiRegion, "eu");
    assert.equal(view.values.lwaClientSecret, SECRET);
    assert.deepEqual([...view.secretKeys], ["lwaClientSecret"]);
    assert.deepEqual(view.provider, { region: "eu-west-1", profile: "acme" });
  });

  it("opens a named stack without changing the user's selection", async () => {
    const stack = await openStack("globex-na", { env: cli.env() });
    assert.equal((await stack.readConfig()).values.spApiRegion, "na");
    assert.equal(cli.callsOf("stack select").length, 0, "stack select rewrites the user's current stack");
    assert.equal((await listStacks({ env: cli.env() })).find((s) => s.current)?.name, "acme-eu");
  });

  it("refuses a mistyped stack name instead of creating it, and says how to see the names", async () => {
    const error = await rejection(openStack("acme-ue", { env: cli.env() }));
    assert.equal(error.reason, "stack-not-found");
    assert.match(error.message, /no stack named acme-ue.*pulumi stack ls/);
    assert.deepEqual(
      (await listStacks({ env: cli.env() })).map((s) => s.name),
      ["acme-eu", "globex-na"],
    );
  });

  it("without a selected stack, asks for --stack", async () => {
    cli.unselect();
    const error = await rejection(openStack(undefined, { env: cli.env() }));
    assert.equal(error.reason, "no-stack-selected");
    assert.match(error.message, /--stack <name>/);
  });

  it("reads outputs with their secrecy", async () => {
    const outputs = await (await openStack("acme-eu", { env: cli.env() })).readOutputs();
    assert.equal(outputs.credentials?.secret, true);
    assert.match(String(outputs.credentials?.value), /client_secret: "amzn1\.oa2-cs\.v1\./);
    assert.equal(outputs.roleArn?.secret, false);
    assert.equal(outputs.roleArn?.value, "arn:aws:iam::123456789012:role/SellingPartnerAPI");
  });

  it("reads without decrypting when asked: secret keys known, no secret value, no --show-secrets", async () => {
    const stack = await openStack("acme-eu", { env: cli.env() });
    const view = await stack.readConfig({ secrets: false });
    const outputs = await stack.readOutputs({ secrets: false });
    assert.deepEqual([...view.secretKeys], ["lwaClientSecret"]);
    assert.equal(view.values.lwaClientSecret, undefined);
    assert.equal(view.values.spApiRegion, "eu");
    assert.deepEqual(outputs.credentials, { value: "[secret]", secret: true });
    assert.equal(outputs.roleArn?.value, "arn:aws:iam::123456789012:role/SellingPartnerAPI");
    assert.ok(
      cli.calls().every((c) => !c.argv.includes("--show-secrets")),
      "a secret was decrypted",
    );
  });

  it("sets a secret through standard input only: never in any process's arguments", async () => {
    const stack = await openStack("acme-eu", { env: cli.env() });
    const next = SECRET.replace(/0123/g, "9876");
    await stack.setSecret("lwaClientSecret", next);
    await stack.setConfig("lwaClientSecretIssuedOn", "2026-11-27");
    assert.deepEqual(cli.config("acme-eu").lwaClientSecret, { value: next, secret: true });
    assert.deepEqual(cli.config("acme-eu").lwaClientSecretIssuedOn, { value: "2026-11-27", secret: false });
    const [set] = cli.callsOf("config set").filter((c) => c.argv.includes("--secret"));
    assert.equal(set!.stdin, next);
    for (const call of cli.calls()) assert.ok(!call.argv.join(" ").includes(next), `the secret is in the arguments of: ${call.argv.slice(0, 3).join(" ")}`);
  });

  it("up: runs the engine and returns the new outputs; the new secret reaches the credentials block", async () => {
    const stack = await openStack("acme-eu", { env: cli.env() });
    const next = SECRET.replace(/abcdef/g, "fedcba");
    await stack.setSecret("lwaClientSecret", next);
    const lines: string[] = [];
    const outputs = await stack.up((line) => lines.push(line));
    assert.ok(String(outputs.credentials?.value).includes(next));
    assert.equal(outputs.credentials?.secret, true);
    assert.ok(lines.includes("Update succeeded"), lines.join("\n"));
    assert.equal(cli.callsOf("up", "acme-eu").length, 1);
  });

  it("up: a refused rotation fails with the engine's reason, never the command line or a secret", async () => {
    const stack = await openStack("acme-eu", { env: cli.env() });
    await stack.setConfig("accessKeyGeneration", "3"); // deployed generation 1: a jump of two
    const error = await rejection(stack.up());
    assert.equal(error.reason, "failed");
    assert.match(error.message, /pulumi up on stack acme-eu failed: .*accessKeyGeneration: the deployed generation is 1 and config says 3/);
    assert.doesNotMatch(error.message, /--stack|--yes|stdout|code:/);
    assert.ok(!error.message.includes(SECRET));
  });

  it("up: another update in progress reads as busy", async () => {
    const stack = await openStack("acme-eu", { env: cli.env() });
    cli.failNext("acme-eu", "up", { stderr: "error: [409] Conflict: Another update is currently in progress." });
    assert.equal((await rejection(stack.up())).reason, "busy");
  });

  it("a failure that echoes a secret is scrubbed", async () => {
    const stack = await openStack("acme-eu", { env: cli.env() });
    await stack.readConfig(); // the session learns the stack's secrets
    cli.failNext("acme-eu", "up", { stderr: `error: provider said ${SECRET} is wrong` });
    const error = await rejection(stack.up());
    assert.ok(!error.message.includes(SECRET), error.message);
    assert.match(error.message, /\[redacted\] is wrong/);
  });

  it("refuses a CLI older than 3.208, which would ignore the key slots' replacement trigger", async () => {
    const old = FakePulumi.create({ version: "3.207.1" });
    try {
      old.addStack("x", { selected: true });
      const error = await rejection(openStack(undefined, { env: old.env() }));
      assert.equal(error.reason, "no-cli");
      assert.match(error.message, /is 3\.207\.1; this kit needs 3\.208\.0 or later/);
    } finally {
      old.cleanup();
    }
  });

  it("lists every stack with its last update", async () => {
    const stacks = await listStacks({ env: cli.env() });
    assert.deepEqual(
      stacks.map((s) => [s.name, s.current, typeof s.lastUpdate]),
      [
        ["acme-eu", true, "string"],
        ["globex-na", false, "string"],
      ],
    );
  });
});

describe("lib/pulumi: the operational state (issue 20)", () => {
  const NEW = SECRET.replace(/abcdef/g, "fedcba");
  let cli: FakePulumi;
  beforeEach(async () => {
    cli = FakePulumi.create();
    cli.addStack("acme", { config: { spApiRegion: "eu", lwaClientId: CLIENT_ID }, secrets: { lwaClientSecret: SECRET }, selected: true });
    // A command rotated: the new secret and generation 2, deployed at state revision 1.
    const stack = await openStack("acme", { env: cli.env() });
    await stack.setSecret("lwaClientSecret", NEW);
    await stack.setConfig("accessKeyGeneration", "2");
    await stack.up();
  });
  afterEach(() => cli.cleanup());

  /** The working copy as a fresh clone of the committed file has it: the old secret, generation 1, no stateRevision. */
  function freshClone(): void {
    cli.editConfig("acme", (c) => {
      c["sp-api-iam:lwaClientSecret"] = { value: SECRET, secret: true };
      delete c["sp-api-iam:accessKeyGeneration"];
      delete c["sp-api-iam:stateRevision"];
    });
  }
  const deployedRevision = () => (cli.stack("acme").outputs.operationalState!.value as { revision: number }).revision;

  it("the commands' write and up deploy state revision 1, the secret only in the secret output", () => {
    assert.equal(deployedRevision(), 1);
    assert.equal(cli.config("acme").stateRevision!.value, "1");
    assert.equal(cli.stack("acme").outputs.operationalSecrets!.secret, true);
    assert.ok(!JSON.stringify(cli.stack("acme").outputs.operationalState).includes(NEW));
  });

  it("readConfig of a stale working copy gives the deployed state and names the stale keys; without decryption too", async () => {
    freshClone();
    const stack = await openStack("acme", { env: cli.env() });
    const view = await stack.readConfig();
    assert.equal(view.values.lwaClientSecret, NEW);
    assert.equal(view.values.accessKeyGeneration, "2");
    assert.equal(view.values.spApiRegion, "eu", "the person's own settings");
    assert.deepEqual(view.staleKeys!.sort(), ["lwaClientSecret"], "a key the clone lacks is not 'ignored'");
    const masked = await (await openStack("acme", { env: cli.env() })).readConfig({ secrets: false });
    assert.equal(masked.values.accessKeyGeneration, "2");
    assert.equal(masked.values.lwaClientSecret, undefined);
    assert.ok(masked.secretKeys.has("lwaClientSecret"));
  });

  it("a write of an operational key brings the stale working copy up first (secrets on stdin, never set-all) and sets stateRevision D+1", async () => {
    freshClone();
    const before = cli.calls().length;
    const stack = await openStack("acme", { env: cli.env() });
    await stack.setConfig("lwaRotationRequestedAt", "2026-12-06T00:00:00Z");
    const config = cli.config("acme");
    assert.deepEqual(config.lwaClientSecret, { value: NEW, secret: true });
    assert.equal(config.accessKeyGeneration!.value, "2");
    assert.equal(config.stateRevision!.value, "2");
    assert.equal(config.lwaRotationRequestedAt!.value, "2026-12-06T00:00:00Z");
    const calls = cli.calls().slice(before);
    assert.equal(calls.filter((c) => c.argv.includes("set-all")).length, 0);
    assert.equal(calls.find((c) => c.argv.includes("--secret"))!.stdin, NEW);
    for (const call of calls) assert.ok(!call.argv.join(" ").includes(NEW), "a secret in a process's arguments");
    await stack.up();
    assert.equal(deployedRevision(), 2);
  });

  it("a person's write of their own key does not touch the operational state", async () => {
    const stack = await openStack("acme", { env: cli.env() });
    await stack.setConfig("spApiRegion", "na");
    assert.equal(cli.config("acme").stateRevision!.value, "1");
  });

  it("up after another run deployed: refused as state-conflict, and the working copy falls behind so its values are not taken as newest", async () => {
    const mine = await openStack("acme", { env: cli.env() });
    const theirs = await openStack("acme", { env: cli.env() });
    await mine.setConfig("lwaRotationRequestedAt", "2026-12-06T00:00:00Z");
    await theirs.setConfig("lwaRotationRequestedAt", "2026-12-06T00:00:05Z");
    await theirs.up();
    const error = await rejection(mine.up());
    assert.equal(error.reason, "state-conflict");
    assert.match(error.message, /another run changed this stack's state.*Fix: run again/);
    assert.equal(deployedRevision(), 2);
    assert.equal(cli.config("acme").stateRevision!.value, "1", "back to the base, below the deployed revision");
    assert.equal((await mine.readConfig()).values.lwaRotationRequestedAt, "2026-12-06T00:00:05Z");
  });

  it("up after another run deployed exactly this session's write (the same step): done, not refused", async () => {
    const a = await openStack("acme", { env: cli.env() });
    const b = await openStack("acme", { env: cli.env() });
    await a.setConfig("iamKeysUnusedAt", "2026-12-06T00:00:00Z");
    await b.setConfig("iamKeysUnusedAt", "2026-12-06T00:00:00Z");
    await b.up();
    const outputs = await a.up();
    assert.equal((outputs.operationalState!.value as { values: Record<string, string> }).values.iamKeysUnusedAt, "2026-12-06T00:00:00Z");
  });

  it("SP_API_IAM_PROJECT_DIR names the project directory the CLI runs in (where Pulumi.<stack>.yaml lives)", async () => {
    const project = fs.mkdtempSync(path.join(os.tmpdir(), "project-dir-"));
    try {
      fs.copyFileSync(path.join(__dirname, "..", "Pulumi.yaml"), path.join(project, "Pulumi.yaml"));
      const before = cli.calls().length;
      await (await openStack("acme", { env: cli.env({ SP_API_IAM_PROJECT_DIR: project }) })).readConfig();
      const calls = cli.calls().slice(before);
      assert.ok(calls.length > 0);
      for (const call of calls) assert.equal(fs.realpathSync(call.cwd), fs.realpathSync(project));
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  });
});

describe("lib/files", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "files-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writePrivateFile: mode 600 even over a too-open file, atomically, no temporary file left", () => {
    const file = path.join(dir, "credentials.hjson");
    const old = 'credentials: {\n  region: "us-east-1"\n}\n';
    fs.writeFileSync(file, old, { mode: 0o644 });
    writePrivateFile(file, "new");
    assert.equal(fs.readFileSync(file, "utf8"), "new");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    // The block it replaced is kept, private too (lib/files.ts, notABlockFile).
    assert.deepEqual(fs.readdirSync(dir).sort(), ["credentials.hjson", "credentials.hjson.previous"]);
    assert.equal(fs.readFileSync(`${file}.previous`, "utf8"), old);
    assert.equal(fs.statSync(`${file}.previous`).mode & 0o777, 0o600);
  });

  it("writePrivateFile: refuses a file that is not a block the kit wrote (a job config, a person's file), and leaves it", () => {
    const job = path.join(dir, "orders.json");
    fs.writeFileSync(job, '{"input": {"credentials": {"role_arn": "a", "client_id": "b"}}}');
    assert.throws(
      () => writePrivateFile(job, "new"),
      (e: Error) => e instanceof FileRefusal && /holds a job config.*use --into/.test(e.message),
    );
    const mine = path.join(dir, "notes.hjson");
    fs.writeFileSync(mine, "my notes");
    assert.throws(() => writePrivateFile(mine, "new"), /exists and is not a credentials block this kit wrote/);
    assert.equal(fs.readFileSync(job, "utf8"), '{"input": {"credentials": {"role_arn": "a", "client_id": "b"}}}');
    assert.equal(fs.readFileSync(mine, "utf8"), "my notes");
  });

  it("writePrivateFile: refuses a directory and a symlink, naming them", () => {
    assert.throws(
      () => writePrivateFile(dir, "x"),
      (e: Error) => e instanceof FileRefusal && /is a directory/.test(e.message),
    );
    fs.symlinkSync("/etc/passwd", path.join(dir, "link.hjson"));
    assert.throws(() => writePrivateFile(path.join(dir, "link.hjson"), "x"), /not a regular file/);
  });

  it("writeFileKeepingMode: keeps the file's mode", () => {
    const file = path.join(dir, "job.json");
    fs.writeFileSync(file, "{}", { mode: 0o640 });
    fs.chmodSync(file, 0o640);
    writeFileKeepingMode(file, '{"a":1}');
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(fs.readdirSync(dir), ["job.json"]);
  });

  it("userPath: relative to where the user ran npm (INIT_CWD), not the project", () => {
    assert.equal(userPath("out.hjson", { INIT_CWD: "/home/alice/work" }), "/home/alice/work/out.hjson");
    assert.equal(userPath("/abs/out.hjson", { INIT_CWD: "/home/alice/work" }), "/abs/out.hjson");
    assert.equal(userPath("out.hjson", {}), path.resolve("out.hjson"));
  });
});
