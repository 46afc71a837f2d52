/**
 * npm run doctor: one line per check, exit 1 when something would stop a command. Against the stand-in CLI, with a
 * throw-away HOME holding the AWS config.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runDoctor } from "../commands/doctor/run";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

describe("npm run doctor", function () {
  this.timeout(120_000);
  let cli: FakePulumi;
  let home: string;
  before(() => {
    cli = FakePulumi.create();
    cli.addStack("acme", { provider: { profile: "acme-prod" }, selected: true });
    cli.addStack("globex", { provider: { profile: "globex-typo" } });
    home = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-home-"));
    fs.mkdirSync(path.join(home, ".aws"));
    fs.writeFileSync(path.join(home, ".aws", "config"), "[profile acme-prod]\nregion = eu-west-1\n[profile globex]\nregion = us-east-1\n");
  });
  after(() => {
    cli.cleanup();
    fs.rmSync(home, { recursive: true, force: true });
  });

  async function doctor(extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const code = await runDoctor(cli.env({ HOME: home, ...extra }), (line) => lines.push(line));
    return { code, lines };
  }

  it("one line per check; a stack whose aws:profile no AWS config holds is named, and exits 1", async () => {
    const { code, lines } = await doctor({ HTTPS_PROXY: "http://user:secret@proxy.example.com:3128", NO_PROXY: "localhost" });
    assert.equal(code, 1, lines.join("\n"));
    const expect = [
      /^✓ Node: \d+\.\d+\.\d+ \(the kit needs 22\.12 or later\)$/,
      /^✓ Pulumi CLI: \d+\.\d+\.\d+, yours on PATH \(.*pulumi\)$/,
      /^✓ backend: logged in as fake-user /,
      /^✓ stack acme: secrets: passphrase from PULUMI_CONFIG_PASSPHRASE$/,
      /^✓ stack acme: AWS credentials: aws:profile acme-prod is in the AWS config$/,
      /^✓ stack globex: secrets: passphrase from PULUMI_CONFIG_PASSPHRASE$/,
      /^✗ stack globex: AWS credentials: the AWS profile "globex-typo" \(aws:profile\) is in neither .*config nor .*credentials/,
      /^✓ lock directory: .* is writable$/,
      /^- proxies: HTTPS_PROXY=http:\/\/\S*proxy\.example\.com:3128\/?, NO_PROXY=localhost/,
      /^1 problem: a command would stop on it \(fixes above\)\.$/,
    ];
    assert.equal(lines.length, expect.length, lines.join("\n"));
    expect.forEach((re, i) => assert.match(lines[i]!, re));
    assert.ok(!lines.join("\n").includes("secret@"), "the proxy's password is not shown");
  });

  it("no passphrase for a passphrase stack: that stack's secrets line fails, saying what to set", async () => {
    const { code, lines } = await doctor({ PULUMI_CONFIG_PASSPHRASE: undefined });
    assert.equal(code, 1);
    assert.match(lines.join("\n"), /^✗ stack acme: secrets: it needs a passphrase and none is set: export PULUMI_CONFIG_PASSPHRASE/m);
  });

  it("through the user's door, from another directory: npm run doctor, everything in order: exit 0", async () => {
    fs.appendFileSync(path.join(home, ".aws", "config"), "[profile globex-typo]\nregion = us-east-1\n");
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-cwd-"));
    try {
      const result = await runThroughNpm("doctor", [], { cwd, env: cli.env({ HOME: home }) });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^✓ stack globex: AWS credentials: aws:profile globex-typo is in the AWS config$/m);
      assert.match(result.stdout, /^OK: nothing here would stop a command\.$/m);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
