/**
 * npm run demo: the offline tour runs through the user's door, from a directory of the user's, on the kit's own fakes,
 * well under a minute, and leaves nothing behind: not in the user's directory, the repository, or a backend the
 * user's environment names.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runThroughNpm } from "./through-npm";

const REPO = path.resolve(__dirname, "..");

describe("npm run demo", function () {
  this.timeout(120_000);

  it("tours every step as a real run prints it, names the fakes, takes well under a minute, and touches nothing of the user's", async () => {
    const user = fs.mkdtempSync(path.join(os.tmpdir(), "demo-user-"));
    const backend = path.join(user, "my-backend");
    fs.mkdirSync(backend);
    const gitStatus = () => execFileSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: REPO, encoding: "utf8" });
    const before = gitStatus();
    try {
      const started = Date.now();
      const env = { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "the user's", AWS_PROFILE: "the-users-profile" };
      const result = await runThroughNpm("demo", [], { cwd: user, env });
      const seconds = (Date.now() - started) / 1000;
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.ok(seconds < 45, `the tour took ${seconds} s`);
      const out = result.stdout;
      assert.match(
        out,
        /the stand-in Pulumi CLI \(a fake engine and backend\), fake IAM, fake STS \/ LWA \/ SP-API, and a fake\n {2}Application Management API/,
      );
      // The steps, in order, each with what the real command prints.
      const steps: RegExp[] = [
        /^1\. A stack, as npm run up leaves it/m,
        /^\$ npm run status\n[\s\S]*?DUE: rotate the LWA secret/m,
        /^\$ npm run credentials -- --stack demo-acme acme\.hjson\n {4}Wrote acme\.hjson \(mode 600\)/m,
        /^\$ npm run verify -- acme\.hjson\n[\s\S]*? {4}OK: 5 passed\./m,
        /^\$ npm run rotate-lwa -- --stack demo-acme --if-due --out acme\.hjson\n[\s\S]*?✓ Rotated the LWA client secret/m,
        /^\$ npm run credentials -- --stack demo-acme --into jobs\/\n[\s\S]*?jobs\/acme-orders\.json: input\.credentials: updated/m,
        /^\$ npm run rotate-key -- --stack demo-acme --if-due --out acme\.hjson\n[\s\S]*?Decision: start a rotation[\s\S]*?Wrote the new credentials block/m,
        /^\$ npm run rotate-key -- --stack demo-acme --if-due --out acme\.hjson\n[\s\S]*?Decision: deactivate the old key[\s\S]*?Done: deactivate the old key\./m,
        /^7\. And now:\n\$ npm run status\n[\s\S]*?old key inactive[\s\S]*?0 due, 1 ok/m,
        /^End of the tour \([\d.]+ s\); its directory is removed\./m,
      ];
      let at = 0;
      for (const step of steps) {
        const m = step.exec(out.slice(at));
        assert.ok(m, `${step} after offset ${at}:\n${out}`);
        at += m.index + m[0].length;
      }
      // Nothing of the user's touched: their directory, their backend, the repository; the throw-away directory gone.
      assert.deepEqual(fs.readdirSync(user), ["my-backend"]);
      assert.deepEqual(fs.readdirSync(backend), []);
      assert.equal(gitStatus(), before, "the repository's working tree is as it was");
      const dir = /^Everything happens in (\S+) \(removed at the end\)/m.exec(out)?.[1];
      assert.ok(dir?.startsWith(path.join(os.tmpdir(), "sp-api-iam-demo-")), `the tour's directory: ${dir}`);
      assert.ok(!fs.existsSync(dir!), "the tour's directory is removed");
    } finally {
      fs.rmSync(user, { recursive: true, force: true });
    }
  });
});
