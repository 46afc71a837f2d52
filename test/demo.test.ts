/**
 * npm run demo, run as a user runs it (`npm --prefix <repo> run demo` from a directory of theirs), with a user's
 * surroundings that it must leave alone: a home, a Pulumi backend, a project directory and a lock directory of
 * "theirs", each empty, and the repository's git status. What each step printed is held to what it did, read back
 * from the throw-away directory --keep keeps; no secret the fakes issued (or the commands wrote) is in the output.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { SECRETS } from "./fake-amazon";
import { OPERATOR } from "./fake-iam";
import { OLD_SECRET } from "./fake-lwa-rotation";
import type { StackState } from "./fake-pulumi";
import { runThroughNpm, type NpmRunResult } from "./through-npm";
import { parseDemoArgs, USAGE } from "../commands/demo/cli";

const REPO = path.resolve(__dirname, "..");
const SECRET_FIELDS = ["aws_secret_access_key", "client_secret", "refresh_token"];

const gitStatus = () => spawnSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: REPO, encoding: "utf8" }).stdout;
const credentialsIn = (file: string) =>
  Hjson.parse(fs.readFileSync(file, "utf8")) as { input?: { credentials: Record<string, string> }; credentials?: Record<string, string> };

/** Every file under dir, relative. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("npm run demo", function () {
  this.timeout(120_000);
  let user: string;
  let dirs: Record<"home" | "cwd" | "tmp" | "backend" | "project" | "locks" | "npmCache", string>;
  let statusBefore: string;

  beforeEach(() => {
    user = fs.mkdtempSync(path.join(os.tmpdir(), "demo-user-"));
    dirs = Object.fromEntries(
      ["home", "cwd", "tmp", "backend", "project", "locks", "npmCache"].map((name) => {
        fs.mkdirSync(path.join(user, name));
        return [name, path.join(user, name)];
      }),
    ) as typeof dirs;
    statusBefore = gitStatus();
  });
  afterEach(() => fs.rmSync(user, { recursive: true, force: true }));

  /** The user's shell: their own home, backend, project, locks and AWS profile; the demo may use none of them. */
  function env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: dirs.home,
      TMPDIR: dirs.tmp,
      PULUMI_BACKEND_URL: `file://${dirs.backend}`,
      PULUMI_CONFIG_PASSPHRASE: "the user's own",
      SP_API_IAM_PROJECT_DIR: dirs.project,
      SP_API_IAM_LOCK_DIR: dirs.locks,
      AWS_PROFILE: "customer-that-does-not-exist",
      // npm's own cache and logs (not the demo's doing) kept out of the home that must stay empty.
      NPM_CONFIG_CACHE: dirs.npmCache,
      NPM_CONFIG_UPDATE_NOTIFIER: "false",
      // npm's own cache of compiled code would go to TMPDIR, which the demo must leave as it found it.
      NODE_DISABLE_COMPILE_CACHE: "1",
    };
  }

  /** Nothing of the user's was written: each of their directories is as empty as it began, git sees no change. */
  function assertUntouched(): void {
    for (const name of ["home", "cwd", "backend", "project", "locks"] as const) assert.deepEqual(filesUnder(dirs[name]), [], `the user's ${name} directory`);
    assert.equal(gitStatus(), statusBefore, "the repository's git status");
  }

  function section(out: string, n: number): string {
    const start = out.indexOf(`\n== ${n}. `);
    assert.ok(start >= 0, `step ${n} is printed`);
    const end = out.indexOf("\n== ", start + 1);
    return out.slice(start, end < 0 ? undefined : end);
  }

  /** Every secret the run handled: the fakes' fixed ones, and every one the kept files hold (keys, the new LWA secret). */
  function secretsOf(kept: string): string[] {
    const secrets: string[] = [
      ...Object.values(SECRETS).filter((s) => !s.startsWith("AKIA") && !s.startsWith("ASIA") && !s.startsWith("amzn1.application")),
      OLD_SECRET,
      OPERATOR.secret,
    ];
    for (const file of ["credentials.hjson", "credentials-lwa-rotated.hjson", "credentials-key-rotated.hjson", "jobs/orders.json"]) {
      const doc = credentialsIn(path.join(kept, file));
      const block = doc.credentials ?? doc.input!.credentials;
      for (const field of SECRET_FIELDS) secrets.push(block[field]!);
    }
    const fake = filesUnder(kept).find((f) => /^fake-pulumi-[^/]+$/.test(f))!;
    const state = JSON.parse(fs.readFileSync(path.join(kept, fake, "state", "stacks", "demo.json"), "utf8")) as StackState;
    for (const key of Object.values(state.keys)) secrets.push(key!.secret, key!.id);
    return secrets;
  }

  async function demo(args: string[]): Promise<NpmRunResult & { out: string }> {
    // (how long it takes is CONTRIBUTING's Speed table's, not a test's: no timed assertion)
    const result = await runThroughNpm("demo", args, { cwd: dirs.cwd, env: env() });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return { ...result, out: result.stdout + result.stderr };
  }

  it("each step runs the real command against fakes named as fakes, and does what it prints; no secret is printed", async () => {
    const { out } = await demo(["--keep"]);
    const kept = /Kept: (\S+)/.exec(out)![1]!;
    try {
      assert.ok(kept.startsWith(fs.realpathSync(dirs.tmp)), "the throw-away directory is a temporary one");
      assert.match(section(out, 1), /the stand-in Pulumi CLI \(fake; /);
      assert.match(section(out, 1), /\$ pulumi stack init demo\n {2}Created stack 'demo'/);
      assert.match(section(out, 1), /Update succeeded/);

      assert.match(section(out, 2), /\$ npm run status -- --stack demo\n/);
      assert.match(section(out, 2), /1 stack: 0 expired, 1 overdue, 0 due, 0 ok/);
      assert.match(section(out, 2), /OVERDUE: rotate the LWA secret/);

      assert.match(section(out, 3), /Wrote credentials\.hjson \(mode 600\)/);
      assert.match(section(out, 4), /fake STS, LWA and SP-API on 127\.0\.0\.1:\d+\n/);
      assert.match(section(out, 4), /OK: 5 passed\./);

      // The LWA secret rotated: the new one differs from the one the stack was made with, and the job holds it.
      assert.match(section(out, 5), /fake LWA, Application Management API and SQS queue on 127\.0\.0\.1:\d+\n/);
      assert.match(section(out, 5), /✓ Rotated the LWA client secret of amzn1\.application-oa2-client\./);
      const first = credentialsIn(path.join(kept, "credentials.hjson")).credentials!;
      const lwaRotated = credentialsIn(path.join(kept, "credentials-lwa-rotated.hjson")).credentials!;
      assert.equal(first.client_secret, SECRETS.clientSecret);
      assert.notEqual(lwaRotated.client_secret, first.client_secret);
      assert.match(lwaRotated.client_secret!, /^amzn1\.oa2-cs\.v1\.[0-9a-f]{64}$/);

      // The key rotated over two runs: a new key (generation 2) first, the old one deactivated by IAM's evidence.
      assert.match(section(out, 6), /fake IAM on 127\.0\.0\.1:\d+\n/);
      assert.match(section(out, 6), /Decision: start a rotation: a new key/);
      assert.match(section(out, 6), /Done: start a rotation/);
      assert.match(section(out, 8), /Phase: handover/);
      assert.match(section(out, 8), /Done: deactivate the old key\./);
      const keyRotated = credentialsIn(path.join(kept, "credentials-key-rotated.hjson")).credentials!;
      assert.notEqual(keyRotated.aws_access_key_id, first.aws_access_key_id);
      const fake = filesUnder(kept).find((f) => /^fake-pulumi-[^/]+$/.test(f))!;
      const config = fs.readFileSync(path.join(kept, fake, "project", "Pulumi.demo.yaml"), "utf8");
      assert.match(config, /accessKeyGeneration: "?2"?/);
      assert.match(config, /previousAccessKey: inactive/);

      // The job config holds the new values: the new key and the new LWA secret (the field rule); its own refresh
      // token (another authorization of the app) and region stay; the rest of it as it was.
      assert.match(section(out, 7), /jobs\/orders\.json: input\.credentials: updated aws_access_key_id, aws_secret_access_key, client_secret$/m);
      const job = credentialsIn(path.join(kept, "jobs", "orders.json"));
      for (const field of ["aws_access_key_id", "aws_secret_access_key", "client_secret", "role_arn"]) {
        assert.equal(job.input!.credentials[field], keyRotated[field], field);
      }
      const fixture = credentialsIn(path.join(__dirname, "fixtures", "jobs", "orders.json"));
      for (const field of ["refresh_token", "region"]) assert.equal(job.input!.credentials[field], fixture.input!.credentials[field], field);
      assert.equal(job.input!.credentials.client_secret, lwaRotated.client_secret);
      assert.equal((job as unknown as { output: { table: string } }).output.table, "orders");

      // Status changed: nothing overdue after.
      assert.match(section(out, 9), /1 stack: 0 expired, 0 overdue, 0 due, 1 ok/);
      assert.match(section(out, 9), / 0 d /, "the key is new");

      // Nor in any argument list the stand-in CLI was given (the demo's own `config set --secret` included).
      const argvs = fs
        .readFileSync(path.join(kept, fake, "state", "calls.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { argv: string[] }).argv.join(" "));
      assert.ok(
        argvs.some((a) => a.startsWith("config set --secret")),
        "the stand-in's calls are read",
      );
      for (const secret of secretsOf(kept)) {
        assert.ok(!out.includes(secret), `a secret or a whole key id in the output: ${secret.slice(0, 4)}…`);
        if (!secret.startsWith("AKIA")) for (const argv of argvs) assert.ok(!argv.includes(secret), `a secret in an argument list: ${secret.slice(0, 4)}…`);
      }
      assert.ok(!/Atz[ar]\|/.test(out), "something shaped like a token in the output");
      assertUntouched();
    } finally {
      fs.rmSync(kept, { recursive: true, force: true });
    }
  });

  it("stopped midway (SIGTERM), removes its directory and stops the stand-in's daemon all the same", async () => {
    // The command itself, not npm: a terminal's Ctrl-C reaches it directly (npm passes a signal sent to npm alone on
    // to nothing).
    const child = spawn(process.execPath, ["-r", path.join(REPO, "tools", "register.js"), path.join(REPO, "commands", "demo", "cli.ts")], {
      cwd: dirs.cwd,
      env: env(),
    });
    let seen = "";
    child.stdout.setEncoding("utf8");
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (d: string) => {
        seen += d;
        if (seen.includes("\n== 3. ")) resolve();
      });
    });
    const work = /in (\S+sp-api-iam-demo-\w+)/.exec(seen)![1]!;
    assert.ok(fs.existsSync(work));
    const closed = new Promise<number | null>((resolve) => child.on("close", (_code, signal) => resolve(signal === null ? _code : -1)));
    child.kill("SIGTERM");
    assert.notEqual(await closed, 0);
    assert.ok(!seen.includes("== 9. "), "stopped before its end");
    assert.deepEqual(filesUnder(dirs.tmp), [], "nothing left in the temporary directory");
    // The stand-in's daemon (its state under the work directory) is gone too, once the signal it was sent lands.
    const daemons = () =>
      fs.readdirSync("/proc").filter((pid) => {
        try {
          return /^\d+$/.test(pid) && fs.readFileSync(`/proc/${pid}/environ`, "latin1").includes(`FAKE_PULUMI_STATE=${work}`);
        } catch {
          return false;
        }
      });
    // (a margin, not a measurement: the daemon's watchdog looks for its parent once a second, later on a loaded machine)
    for (let i = 0; i < 400 && daemons().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(daemons(), [], "the stand-in's daemon stopped");
    assertUntouched();
  });

  it("a usage error: exit 2 before anything is made; --help says what it runs", async () => {
    assert.deepEqual(parseDemoArgs(["--keep"]), { kind: "run", keep: true });
    assert.deepEqual(parseDemoArgs([]), { kind: "run", keep: false });
    assert.deepEqual(parseDemoArgs(["-h"]), { kind: "help" });
    assert.match(USAGE, /against its own fakes/);
    const wrong = await runThroughNpm("demo", ["--stack", "acme"], { cwd: dirs.cwd, env: env() });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^demo: error: unknown option --stack\nUsage: npm run demo -- \[--keep\]\n/);
    // `npm run demo --keep`: npm keeps the flag; the demo refuses rather than remove what the user meant to keep.
    const swallowed = await runThroughNpm("demo", [], { cwd: dirs.cwd, env: env(), beforeDashes: ["--keep"] });
    assert.equal(swallowed.code, 2);
    assert.match(swallowed.stderr, /^demo: error: npm kept --keep for itself .*npm run demo -- --keep/);
    assert.deepEqual(filesUnder(dirs.tmp), [], "no throw-away directory made");
    assertUntouched();
  });

  it("without --keep, leaves nothing behind: its temporary directory is gone, the user's directories are empty", async () => {
    const { out } = await demo([]);
    assert.match(out, /Done in \d+\.\d s\.\n/);
    assert.doesNotMatch(out, /Kept:/);
    assert.deepEqual(filesUnder(dirs.tmp), [], "nothing left in the temporary directory");
    assertUntouched();
  });
});
