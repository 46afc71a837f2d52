/**
 * The stand-in Pulumi CLI (test/fake-pulumi.ts, test/fake-pulumi-cli.ts) against what the real CLI does on a DIY
 * backend: a stand-in kinder than the real CLI hides the bugs users meet (issue 20: config kept in the backend hid
 * that a fresh clone loses every rotation). Each case is a behaviour of the real CLI the kit relies on or must face.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FakePulumi, isSecureIn } from "./fake-pulumi";

const SECRET = `amzn1.oa2-cs.v1.${"ab".repeat(32)}`;
const TOKEN = "Atzr|IwEBIFakeRefreshToken";

/** Every file under `dir`, with its text. */
function filesUnder(dir: string): { file: string; text: string }[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .map((file) => ({ file, text: fs.readFileSync(file, "utf8") }));
}

describe("the stand-in Pulumi CLI, as the real one on a DIY backend", function () {
  this.timeout(20_000);
  let cli: FakePulumi;
  beforeEach(() => {
    cli = FakePulumi.create();
    cli.addStack("acme", {
      config: { spApiRegion: "eu", tags: { team: "data" } },
      secrets: { lwaClientSecret: SECRET },
      provider: { region: "eu-west-1" },
      selected: true,
    });
  });
  afterEach(() => cli.cleanup());

  const ok = (args: string[], input?: string) => {
    const r = cli.run(args, input);
    assert.equal(r.status, 0, `pulumi ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  it("keeps config in Pulumi.<stack>.yaml in the work dir, in the real format, secrets opaque; the backend holds none", () => {
    ok(["config", "set", "--secret", "lwaRefreshToken", "--stack", "acme"], TOKEN);
    ok(["config", "set", "lwaClientSecretIssuedOn", "2026-11-01", "--stack", "acme"]);
    const text = cli.configText("acme");
    assert.match(text, /^encryptionsalt: v1:/m);
    assert.match(text, /^config:\n {2}aws:region: eu-west-1\n/m);
    assert.match(text, /^ {2}sp-api-iam:lwaClientSecretIssuedOn: "2026-11-01"$/m);
    assert.match(text, /^ {2}sp-api-iam:tags:\n {4}team: data$/m, "a map as nested YAML");
    assert.ok(isSecureIn(text, "lwaRefreshToken") && isSecureIn(text, "lwaClientSecret"), text);
    for (const { file, text: body } of filesUnder(cli.dir).filter((f) => !f.file.endsWith("calls.jsonl"))) {
      assert.ok(!body.includes(TOKEN) && !body.includes(SECRET), `${file} holds a secret in plain text`);
    }
    const backend = JSON.parse(fs.readFileSync(path.join(cli.dir, "state", "stacks", "acme.json"), "utf8")) as Record<string, unknown>;
    assert.equal(backend.config, undefined, "the backend keeps deployments, not config");
    // `pulumi config --json`: a secret without its value unless --show-secrets, as the real CLI prints it.
    const masked = JSON.parse(ok(["config", "--json", "--stack", "acme"])) as Record<string, { value?: string; secret: boolean }>;
    assert.deepEqual(masked["sp-api-iam:lwaRefreshToken"], { secret: true });
    assert.deepEqual(masked["sp-api-iam:tags"], { value: '{"team":"data"}', objectValue: { team: "data" }, secret: false });
    const shown = JSON.parse(ok(["config", "--show-secrets", "--json", "--stack", "acme"])) as Record<string, { value?: string }>;
    assert.equal(shown["sp-api-iam:lwaRefreshToken"]!.value, TOKEN);
    assert.equal(JSON.parse(ok(["config", "get", "lwaClientSecret", "--json", "--stack", "acme"])).value, SECRET);
    assert.deepEqual(cli.config("acme").lwaRefreshToken, { value: TOKEN, secret: true });
  });

  it("reads the file of the work dir (the process's, or --cwd): a stack with no file there has no config; outside a project it refuses", () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-project-"));
    try {
      fs.copyFileSync(path.join(cli.projectDir, "Pulumi.yaml"), path.join(other, "Pulumi.yaml"));
      assert.equal(ok(["config", "--json", "--stack", "acme", "--cwd", other]).trim(), "{}");
      ok(["config", "set", "spApiRegion", "fe", "--stack", "acme", "-C", other]);
      assert.equal(cli.config("acme", { projectDir: other }).spApiRegion!.value, "fe");
      assert.equal(cli.config("acme").spApiRegion!.value, "eu", "the project dir's own file is untouched");
      const outside = cli.run(["config", "--json", "--stack", "acme"], undefined, { cwd: os.tmpdir() });
      assert.equal(outside.status, 255);
      assert.match(outside.stderr, /no Pulumi\.yaml project file found/);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it("needs the passphrase for whatever encrypts or decrypts (a secret set or shown, up), not to list config without secrets", () => {
    const env = cli.env();
    delete env.PULUMI_CONFIG_PASSPHRASE;
    const run = (args: string[], input?: string) => spawnSync(path.join(cli.binDir, "pulumi"), args, { env, cwd: cli.projectDir, input, encoding: "utf8" });
    const NO_PASSPHRASE = /passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE/;
    for (const [args, input] of [
      [["config", "set", "--secret", "lwaRefreshToken", "--stack", "acme"], TOKEN],
      [["config", "--show-secrets", "--json", "--stack", "acme"]],
      [["config", "get", "lwaClientSecret", "--stack", "acme"]],
      [["stack", "output", "--json", "--show-secrets", "--stack", "acme"]],
      [["up", "--yes", "--stack", "acme"]],
    ] as [string[], string?][]) {
      const r = run(args, input);
      assert.equal(r.status, 255, args.join(" "));
      assert.match(r.stderr, NO_PASSPHRASE, args.join(" "));
    }
    assert.equal(run(["config", "--json", "--stack", "acme"]).status, 0);
    assert.equal(run(["stack", "output", "--json", "--stack", "acme"]).status, 0);
    assert.equal(
      spawnSync(path.join(cli.binDir, "pulumi"), ["up", "--yes", "--stack", "acme"], {
        env: { ...env, PULUMI_CONFIG_PASSPHRASE_FILE: "/dev/null" },
        cwd: cli.projectDir,
      }).status,
      0,
    );
  });

  it("config set --path and set-all write nested YAML as the real CLI does (true/false and integers typed), plaintexts before secrets", () => {
    ok(["config", "set", "--path", "tags.owner", "me", "--stack", "acme"]);
    ok(["config", "set", "--path", "jobConfigs[0]", "jobs/a.hjson", "--stack", "acme"]);
    ok([
      "config",
      "set-all",
      "--stack",
      "acme",
      "--path",
      "--plaintext",
      "jobConfigs[1]=jobs/b.hjson",
      "--secret",
      "lwaRefreshToken=" + TOKEN,
      "--plaintext",
      "tags.n=5",
    ]);
    const text = cli.configText("acme");
    assert.match(text, /sp-api-iam:jobConfigs:\n {4}- jobs\/a\.hjson\n {4}- jobs\/b\.hjson\n/);
    assert.deepEqual(JSON.parse(cli.config("acme").tags!.value), { n: 5, owner: "me", team: "data" });
    assert.ok(isSecureIn(text, "lwaRefreshToken"));
    ok(["config", "rm", "--path", "tags.n", "--stack", "acme"]);
    assert.equal(cli.config("acme").tags!.value, '{"owner":"me","team":"data"}', "JSON of a map: keys sorted, compact");
    const refused = cli.run(["config", "set", "--path", "spApiRegion[0]", "x", "--stack", "acme"]);
    assert.equal(refused.status, 255, "a text value is no list");
  });

  it("up reads the file when it starts and records that config in the stack's history; history --json is newest first, paged, secrets only with --show-secrets", () => {
    ok(["config", "set", "lwaClientSecretIssuedOn", "2026-11-01", "--stack", "acme"]);
    ok(["up", "--yes", "--stack", "acme"]);
    ok(["config", "set", "lwaClientSecretIssuedOn", "2026-11-02", "--stack", "acme"]);
    type Update = {
      version: number;
      kind: string;
      startTime: string;
      endTime: string;
      result: string;
      config: Record<string, { value?: string; secret: boolean }>;
    };
    const history = JSON.parse(ok(["stack", "history", "--json", "--stack", "acme"])) as Update[];
    assert.deepEqual(
      history.map((u) => [u.version, u.kind, u.result]),
      [
        [2, "update", "succeeded"],
        [1, "update", "succeeded"],
      ],
    );
    assert.match(history[0]!.startTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    assert.equal(history[0]!.config["sp-api-iam:lwaClientSecretIssuedOn"]!.value, "2026-11-01", "the config up started with, not the file's later value");
    assert.equal(history[1]!.config["sp-api-iam:lwaClientSecretIssuedOn"], undefined);
    assert.deepEqual(history[0]!.config["sp-api-iam:lwaClientSecret"], { secret: true });
    const page = JSON.parse(ok(["stack", "history", "--json", "--show-secrets", "--page-size", "1", "--page", "2", "--stack", "acme"])) as Update[];
    assert.deepEqual(
      page.map((u) => u.version),
      [1],
    );
    assert.equal(page[0]!.config["sp-api-iam:lwaClientSecret"]!.value, SECRET);
  });

  it("config refresh rewrites the file from the last deployment: the existing file moved aside to .bak unless --force; none without a deployment", () => {
    ok(["config", "set", "spApiRegion", "fe", "--stack", "acme"]);
    const edited = cli.configText("acme");
    const out = ok(["config", "refresh", "--stack", "acme"]);
    assert.match(out, /backed up existing configuration file to .*Pulumi\.acme\.yaml\.bak/);
    assert.equal(fs.readFileSync(path.join(cli.projectDir, "Pulumi.acme.yaml.bak"), "utf8"), edited);
    assert.equal(cli.config("acme").spApiRegion!.value, "eu");
    assert.equal(cli.config("acme").lwaClientSecret!.value, SECRET);
    ok(["config", "set", "spApiRegion", "fe", "--stack", "acme"]);
    assert.equal(ok(["config", "refresh", "--force", "--stack", "acme"]), "");
    assert.equal(cli.config("acme").spApiRegion!.value, "eu");
    assert.ok(!fs.existsSync(path.join(cli.projectDir, "Pulumi.acme.yaml.bak.bak")), "--force keeps no backup");
    cli.addStack("new", { deployed: false });
    const none = cli.run(["config", "refresh", "--stack", "new"]);
    assert.equal(none.status, 255);
    assert.match(none.stderr, /no previous deployment/);
  });

  it("keeps stack tags in the backend (CLI 3.211 and later), and every update sets the project's", () => {
    ok(["stack", "tag", "set", "sp-api-iam:state", "r7", "--stack", "acme"]);
    assert.equal(ok(["stack", "tag", "get", "sp-api-iam:state", "--stack", "acme"]).trim(), "r7");
    ok(["up", "--yes", "--stack", "acme"]);
    const tags = JSON.parse(ok(["stack", "tag", "ls", "--json", "--stack", "acme"])) as Record<string, string>;
    assert.equal(tags["sp-api-iam:state"], "r7", "an update keeps a tag set before it");
    assert.equal(tags["pulumi:project"], "sp-api-iam");
    ok(["stack", "tag", "rm", "sp-api-iam:state", "--stack", "acme"]);
    const gone = cli.run(["stack", "tag", "get", "sp-api-iam:state", "--stack", "acme"]);
    assert.equal(gone.status, 255);
    assert.match(gone.stderr, /stack tag 'sp-api-iam:state' not found for stack 'acme'/);

    const old = FakePulumi.create({ version: "3.210.0" });
    try {
      old.addStack("acme");
      const refused = old.run(["stack", "tag", "set", "k", "v", "--stack", "acme"]);
      assert.equal(refused.status, 255);
      assert.match(refused.stderr, /stack tags not supported in --local mode/);
    } finally {
      old.cleanup();
    }
  });

  it("holds the update lock: a second up of the stack while one runs fails with the DIY backend's message", async () => {
    cli.update("acme", (s) => (s.upDelayMs = 800));
    const up = () =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(path.join(cli.binDir, "pulumi"), ["up", "--yes", "--stack", "acme"], { env: cli.env(), cwd: cli.projectDir });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code, stderr }));
      });
    const results = await Promise.all([up(), up()]);
    assert.deepEqual(results.map((r) => r.code).sort(), [0, 255]);
    assert.match(results.find((r) => r.code === 255)!.stderr, /the stack is currently locked by 1 lock\(s\)/);
    assert.equal(cli.stack("acme").history.length, 2, "one more deployment");
  });

  it("a fresh clone (cloneProject) holds the committed files only: none of the work dir's later writes, and no stack selected", () => {
    ok(["config", "set", "lwaClientSecretIssuedOn", "2026-11-01", "--stack", "acme"]);
    ok(["up", "--yes", "--stack", "acme"]);
    const clone = cli.cloneProject();
    assert.equal(clone.config("acme").lwaClientSecretIssuedOn, undefined);
    assert.equal(clone.config("acme").lwaClientSecret!.value, SECRET);
    assert.equal(clone.env().SP_API_IAM_PROJECT_DIR, clone.dir);
    const unselected = cli.run(["config", "--json"], undefined, { cwd: clone.dir });
    assert.equal(unselected.status, 255);
    assert.match(unselected.stderr, /no stack selected/);
    // The deployment still has what the other work dir deployed: the backend is shared.
    const history = JSON.parse(cli.run(["stack", "history", "--json", "--stack", "acme"], undefined, { cwd: clone.dir }).stdout) as {
      config: Record<string, { value?: string }>;
    }[];
    assert.equal(history[0]!.config["sp-api-iam:lwaClientSecretIssuedOn"]!.value, "2026-11-01");
  });
});
