/**
 * Delivery that cannot hit another customer or break a job's access (issue 14, point 7, and the delivery findings
 * of point 8): whose objects a stack may write when the role does not say; a rewritten job config keeps its owner,
 * group and mode (as root, for real: a file of uid 1234, gid 5678); a hard-linked, read-only or not-keepable file
 * is left byte for byte and reported; a temporary file never outlives a signal and is git-ignored; a file too deep
 * or too large is one failed file; a plain-string jobConfigs and maintain's --out-dir.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { CredentialValues } from "../src/credentials";
import { parseJobConfigs, validateConfig } from "../src/config";
import { whyNotRewritable } from "../lib/files";
import { deliverBlock, DeliveryReport } from "../commands/credentials/run";
import { preparePrivateDir } from "../commands/maintain/run";
import { realSteps } from "../commands/maintain/steps";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const ROOT = path.resolve(__dirname, "..");
const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
const ACME_ROLE = "arn:aws:iam::111111111111:role/SellingPartnerAPI";
const GLOBEX_ROLE = "arn:aws:iam::222222222222:role/SellingPartnerAPI";

/** Two customers of one LWA app: the same client id and secret, each seller its own refresh token, each its own role and key. */
const ACME: CredentialValues = {
  region: "us-east-1",
  role_arn: ACME_ROLE,
  aws_access_key_id: "AKIAACMENEWKEYAAAAAA",
  aws_secret_access_key: "acmeNewSecretAccessKey000000000000000000",
  client_id: CLIENT_ID,
  client_secret: "amzn1.oa2-cs.v1.5eca5eca5eca5eca5eca5eca5eca5eca5eca5eca5eca5eca",
  refresh_token: "Atzr|IwEBIAcmeSellersRefreshToken",
};
const GLOBEX: CredentialValues = {
  ...ACME,
  region: "eu-west-1",
  role_arn: GLOBEX_ROLE,
  aws_access_key_id: "AKIAGLOBEXNEWKEYBBBB",
  aws_secret_access_key: "globexNewSecretAccessKey0000000000000000",
  refresh_token: "Atzr|IwEBIGlobexSellersRefreshToken",
};
/** The app's secret after a rotation. */
const ROTATED_SECRET = "amzn1.oa2-cs.v1.7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e";
/** Acme's previous access key, the one its jobs hold until a delivery after a key rotation. */
const ACME_OLD_KEY_ID = "AKIAACMEOLDKEYAAAAAA";
const SECRETS = [ACME, GLOBEX].flatMap((v) => [v.aws_secret_access_key, v.client_secret, v.refresh_token]).concat(ROTATED_SECRET);

/** A job config as a customer starts it from the connector's docs: the app's values filled in, role and key still placeholders. */
function newJob(name: string, refreshToken: string): string {
  return [
    `// ${name}: the role and key are still the docs' placeholders`,
    `name: ${name}`,
    "input: {",
    "  use: amazon_selling_partner_api.io#AmazonSPApiInput",
    "  credentials: {",
    "    region: <your-region>",
    "    role_arn: <your-role-arn>",
    "    aws_access_key_id: <your-aws-access-key-id>",
    "    aws_secret_access_key: <your-aws-secret-access-key>",
    `    client_id: ${CLIENT_ID}`,
    `    client_secret: ${ACME.client_secret}`,
    `    refresh_token: ${refreshToken}`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** A job config holding these values, in JSON. */
function jobWith(values: CredentialValues): string {
  return `${JSON.stringify({ name: "job", input: { credentials: values } }, null, 2)}\n`;
}

async function deliver(values: CredentialValues, dir: string, targets: string[], dryRun = false): Promise<{ report: DeliveryReport; lines: string[] }> {
  const lines: string[] = [];
  const block = { hjson: "", values, roleArn: values.role_arn, lwaClientId: values.client_id, keyIds: [ACME_OLD_KEY_ID] };
  const report = await deliverBlock(block, targets, { dryRun, print: (l) => lines.push(l), baseDir: dir });
  for (const secret of SECRETS) assert.ok(!lines.join("\n").includes(secret), "no secret printed");
  return { report, lines };
}

const credentialsOf = (dir: string, file: string) => {
  const text = fs.readFileSync(path.join(dir, file), "utf8");
  return (file.endsWith(".json") ? JSON.parse(text) : Hjson.parse(text)).input.credentials as CredentialValues;
};

/** What "left byte for byte" compares: the bytes, the inode, owner, group, mode and link count. */
function fileState(file: string) {
  const stat = fs.lstatSync(file);
  return { bytes: fs.readFileSync(file, "latin1"), ino: stat.ino, uid: stat.uid, gid: stat.gid, mode: stat.mode, nlink: stat.nlink };
}

/** Every file in dir, temporary files included. */
const entries = (dir: string) => fs.readdirSync(dir).sort();

describe("delivery: the field rule over one app's jobs", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-owner-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ROTATED = "amzn1.oa2-cs.v1.0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e";

  it("two jobs of one app, each its seller's refresh token, placeholder roles: the app's new secret goes into both, nothing else", async () => {
    fs.writeFileSync(path.join(dir, "acme.hjson"), newJob("acme-orders", ACME.refresh_token));
    fs.writeFileSync(path.join(dir, "globex.hjson"), newJob("globex-orders", GLOBEX.refresh_token));
    const before = { acme: credentialsOf(dir, "acme.hjson"), globex: credentialsOf(dir, "globex.hjson") };

    const acme = await deliver({ ...ACME, client_secret: ROTATED }, dir, ["."]);
    assert.equal(acme.report.exitCode, 0, acme.lines.join("\n"));
    assert.deepEqual([acme.report.updated, acme.report.otherCustomers], [2, 0]);
    assert.deepEqual(credentialsOf(dir, "acme.hjson"), { ...before.acme, client_secret: ROTATED });
    assert.deepEqual(
      credentialsOf(dir, "globex.hjson"),
      { ...before.globex, client_secret: ROTATED },
      "globex keeps its own token; the app's secret is its too",
    );
    assert.ok(acme.lines.includes("globex.hjson: input.credentials: updated client_secret"), acme.lines.join("\n"));

    // Globex's delivery (the same app, already stored there): nothing left to write in either.
    const globex = await deliver({ ...GLOBEX, client_secret: ROTATED }, dir, ["."]);
    assert.deepEqual([globex.report.updated, globex.report.current, globex.report.otherCustomers], [0, 2, 0]);
  });

  it("one role serving every seller: an object naming the stack's role but holding another app and key is left byte for byte", async () => {
    const otherApp = { ...GLOBEX, role_arn: ACME_ROLE, client_id: "amzn1.application-oa2-client.ffffffffffffffffffffffffffffffff" };
    fs.writeFileSync(path.join(dir, "other.json"), jobWith(otherApp));
    const before = fs.readFileSync(path.join(dir, "other.json"), "utf8");
    const { report, lines } = await deliver(ACME, dir, ["other.json"]);
    assert.deepEqual([report.updated, report.otherCustomers], [0, 1]);
    assert.equal(fs.readFileSync(path.join(dir, "other.json"), "utf8"), before);
    assert.equal(
      lines[0],
      "other.json: input.credentials: another customer's credentials, left as they are (it names this stack's role, but holds neither its LWA app nor one of its access keys)",
    );
  });

  it("another account's role and key with this stack's app: the app's secret only, its role, key and token kept", async () => {
    fs.writeFileSync(path.join(dir, "globex.json"), jobWith({ ...GLOBEX, client_secret: "amzn1.oa2-cs.v1.old" }));
    const { report } = await deliver(ACME, dir, ["globex.json"]);
    assert.equal(report.updated, 1);
    assert.deepEqual(credentialsOf(dir, "globex.json"), { ...GLOBEX, client_secret: ACME.client_secret });
  });
});

describe("delivery: what a rewrite keeps, and what it refuses", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-keep-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const OLD: CredentialValues = { ...ACME, aws_access_key_id: ACME_OLD_KEY_ID, aws_secret_access_key: "acmeOldSecretAccessKey000000000000000000" };

  it("as root: a job config of the job's user (uid 1234, gid 5678, 640) keeps owner, group and mode; so does a group-shared 660 file", async function () {
    if (process.getuid!() !== 0) this.skip(); // .ci/run and this machine run as root
    const files = { "service-user.json": [1234, 5678, 0o640], "group-shared.json": [0, 5678, 0o660], "setgid.json": [1234, 5678, 0o2640] } as const;
    for (const [name, [uid, gid, mode]] of Object.entries(files)) {
      fs.writeFileSync(path.join(dir, name), jobWith(OLD));
      fs.chownSync(path.join(dir, name), uid, gid);
      fs.chmodSync(path.join(dir, name), mode);
    }
    const before = Object.fromEntries(Object.keys(files).map((name) => [name, fileState(path.join(dir, name))]));
    const { report, lines } = await deliver(ACME, dir, ["."]);
    assert.equal(report.exitCode, 0, lines.join("\n"));
    assert.equal(report.updated, 3);
    for (const [name, [uid, gid, mode]] of Object.entries(files)) {
      const after = fileState(path.join(dir, name));
      assert.notEqual(after.ino, before[name]!.ino, `${name} was rewritten (a new file renamed over it)`);
      assert.deepEqual([after.uid, after.gid, after.mode & 0o7777], [uid, gid, mode], `${name}: owner, group and mode kept`);
      assert.deepEqual(credentialsOf(dir, name), ACME);
    }
    assert.deepEqual(entries(dir), Object.keys(files).sort(), "no temporary file left");
  });

  it("a file with a second hard link, and a read-only (444) file: left byte for byte, reported, exit 1; the others are written", async () => {
    fs.writeFileSync(path.join(dir, "linked.json"), jobWith(OLD));
    fs.mkdirSync(path.join(dir, "elsewhere"));
    fs.linkSync(path.join(dir, "linked.json"), path.join(dir, "elsewhere", "same-job.txt"));
    fs.writeFileSync(path.join(dir, "read-only.json"), jobWith(OLD));
    fs.chmodSync(path.join(dir, "read-only.json"), 0o444);
    fs.writeFileSync(path.join(dir, "plain.json"), jobWith(OLD));
    const before = { linked: fileState(path.join(dir, "linked.json")), readOnly: fileState(path.join(dir, "read-only.json")) };

    for (const dryRun of [true, false]) {
      const { report, lines } = await deliver(ACME, dir, ["linked.json", "read-only.json", "plain.json"], dryRun);
      assert.equal(report.exitCode, 1, lines.join("\n"));
      assert.deepEqual(report.failed, ["linked.json", "read-only.json"]);
      assert.ok(
        lines.includes(
          "linked.json: not updated: it has 2 hard links, and a rewrite would split them (the other names keeping the old values); " +
            "make it a single file, or give the job the block yourself; left as it is",
        ),
        lines.join("\n"),
      );
      assert.ok(
        lines.includes(
          "read-only.json: not updated: it is read-only (mode 444); make it writable by its owner (chmod u+w) if it should be updated; left as it is",
        ),
        lines.join("\n"),
      );
      assert.match(lines.at(-1)!, /; 2 files not processed\.$/);
      assert.deepEqual(fileState(path.join(dir, "linked.json")), before.linked, "the linked file: same bytes, inode, links");
      assert.deepEqual(fileState(path.join(dir, "read-only.json")), before.readOnly);
    }
    assert.deepEqual(credentialsOf(dir, "plain.json"), ACME, "the file after them was written");
    assert.equal(fs.readFileSync(path.join(dir, "elsewhere", "same-job.txt"), "utf8"), jobWith(OLD));
    assert.deepEqual(entries(dir), ["elsewhere", "linked.json", "plain.json", "read-only.json"]);
  });

  it("run as an ordinary user (uid 1234): a file of another owner, or of a group it is not in, is left byte for byte and reported", async function () {
    if (process.getuid!() !== 0) this.skip(); // only root can start a process as another user
    this.timeout(30_000);
    fs.chmodSync(dir, 0o1777); // a shared directory: any user may create the temporary file in it
    const files = { "theirs.json": [4321, 4321], "their-group.json": [1234, 5678], "mine.json": [1234, 1234] } as const;
    for (const [name, [uid, gid]] of Object.entries(files)) {
      fs.writeFileSync(path.join(dir, name), jobWith(OLD));
      fs.chownSync(path.join(dir, name), uid, gid);
      fs.chmodSync(path.join(dir, name), 0o666); // writable by anyone: the write itself would succeed
    }
    const before = fileState(path.join(dir, "theirs.json"));
    const beforeGroup = fileState(path.join(dir, "their-group.json"));
    // The child starts as root and loads the code (Node, tools/register.js, the commands and node_modules all live in
    // the clone, which may sit where uid 1234 cannot enter: a 0700 mktemp -d directory, root's home), then becomes
    // uid 1234 (its groups, gid and uid, for good) before it delivers: the delivery itself runs as the ordinary user,
    // and needs only the shared directory, which it is first shown to reach.
    const script =
      `const { deliverBlock } = require("./commands/credentials/run");` +
      `process.setgroups([1234]); process.setgid(1234); process.setuid(1234);` +
      `try { process.chdir(${JSON.stringify(dir)}); } catch (e) { console.error("uid 1234 cannot enter " + ${JSON.stringify(dir)} + ": " + e.message); process.exit(9); }` +
      `deliverBlock(${JSON.stringify({ hjson: "", values: ACME, roleArn: ACME_ROLE, lwaClientId: CLIENT_ID, keyIds: [ACME_OLD_KEY_ID] })}, ` +
      `["."], { dryRun: false, print: (l) => console.log(l), baseDir: ${JSON.stringify(dir)} }).then((r) => (process.exitCode = r.exitCode))`;
    const child = spawnSync(process.execPath, ["-r", "./tools/register.js", "-e", script], { cwd: ROOT, encoding: "utf8" });
    assert.notEqual(child.status, 9, `the temporary directory must be reachable by other users (is TMPDIR in a closed directory?): ${child.stderr}`);
    assert.equal(child.status, 1, child.stderr);
    const lines = child.stdout.split("\n");
    assert.ok(
      lines.includes(
        "theirs.json: not updated: it is owned by uid 4321, and a rewrite by uid 1234 would take it over; run as its owner or as root; left as it is",
      ),
      child.stdout,
    );
    assert.ok(
      lines.includes(
        "their-group.json: not updated: its group is gid 5678, which uid 1234 cannot give the new file; run as root or as a member of that group; left as it is",
      ),
      child.stdout,
    );
    assert.deepEqual(fileState(path.join(dir, "theirs.json")), before);
    assert.deepEqual(fileState(path.join(dir, "their-group.json")), beforeGroup);
    assert.deepEqual(credentialsOf(dir, "mine.json"), ACME, "its own file is written");
    assert.deepEqual(entries(dir), Object.keys(files).sort(), "no temporary file left");
  });

  it("a file whose owner or group the writer cannot give the new file is refused, as is a read-only one; root keeps any", () => {
    fs.writeFileSync(path.join(dir, "job.json"), "{}");
    fs.chmodSync(path.join(dir, "job.json"), 0o640);
    const stat = { ...fs.lstatSync(path.join(dir, "job.json")), uid: 1234, gid: 5678, nlink: 1, mode: 0o100640, isFile: () => true } as fs.Stats;
    assert.equal(whyNotRewritable(stat, { uid: 0, gids: [0] }), undefined);
    assert.equal(whyNotRewritable(stat, { uid: 1234, gids: [1234, 5678] }), undefined);
    assert.equal(
      whyNotRewritable(stat, { uid: 4321, gids: [5678] }),
      "it is owned by uid 1234, and a rewrite by uid 4321 would take it over; run as its owner or as root",
    );
    assert.equal(
      whyNotRewritable(stat, { uid: 1234, gids: [1234] }),
      "its group is gid 5678, which uid 1234 cannot give the new file; run as root or as a member of that group",
    );
    assert.match(whyNotRewritable({ ...stat, mode: 0o100440 } as fs.Stats, { uid: 0, gids: [0] })!, /read-only \(mode 440\)/);
    assert.match(whyNotRewritable({ ...stat, nlink: 3 } as fs.Stats, { uid: 0, gids: [0] })!, /3 hard links/);
  });
});

describe("delivery: a temporary file never outlives the run", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-signal-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const OLD: CredentialValues = { ...ACME, aws_secret_access_key: "acmeOldSecretAccessKey000000000000000000" };

  /** Starts test/interrupted-write.ts on `job`; `paused` is the temporary file once the child stops before the rename. */
  function startPausedWrite(job: string, pauseAt: "rename" | "fsync" = "rename") {
    const child = spawn(process.execPath, ["-r", "./tools/register.js", "test/interrupted-write.ts", job, JSON.stringify(ACME), pauseAt], { cwd: ROOT });
    child.stdin.on("error", () => undefined); // a child that died at once has closed its end
    let stdout = "";
    child.stdout.setEncoding("utf8");
    const paused = new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (d: string) => {
        stdout += d;
        const match = /^paused (.*)$/m.exec(stdout);
        if (match) resolve(match[1]!);
      });
      child.on("exit", () => reject(new Error(`the child ended before the rename: ${stdout}`)));
    });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal, stdout })),
    );
    return { child, paused, ended };
  }

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} while a job config is being written: no temporary file left, the job config whole; its name is git-ignored`, async function () {
      this.timeout(30_000);
      const job = path.join(dir, "orders.json");
      fs.writeFileSync(job, jobWith(OLD));
      const { child, paused, ended } = startPausedWrite(job);
      const temp = await paused;
      assert.ok(fs.existsSync(temp), "the temporary file exists mid-write (the test stops where it means to)");
      assert.ok(fs.readFileSync(temp, "utf8").includes(ACME.client_secret), "and it holds the secrets");
      const ignored = spawnSync("git", ["check-ignore", "-q", "--no-index", path.join("jobs", path.basename(temp))], { cwd: ROOT });
      assert.equal(ignored.status, 0, `${path.basename(temp)} is git-ignored`);

      child.kill(signal);
      child.stdin.end("go\n");
      assert.equal((await ended).signal, signal, "the process still ends by the signal");
      assert.deepEqual(entries(dir), ["orders.json"], "no temporary file left");
      const text = fs.readFileSync(job, "utf8");
      assert.ok(text === jobWith(OLD) || JSON.parse(text).input.credentials.aws_secret_access_key === ACME.aws_secret_access_key, "the job config is whole");
    });
  }

  it("a job config changed by another writer while this one writes it: not written over, the temporary file removed, exit 1", async function () {
    this.timeout(30_000);
    const job = path.join(dir, "orders.json");
    fs.writeFileSync(job, jobWith(OLD));
    const { child, paused, ended } = startPausedWrite(job, "fsync");
    const temp = await paused;
    assert.ok(fs.existsSync(temp));
    // Another stack's delivery, or an editor, from another process.
    const theirs = jobWith({ ...OLD, region: "eu-west-1" });
    fs.writeFileSync(job, theirs);
    child.stdin.end("go\n");
    const result = await ended;
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /orders\.json: changed while it was being updated; nothing written, run again; left as it is$/m);
    assert.equal(fs.readFileSync(job, "utf8"), theirs, "the other writer's change stands");
    assert.deepEqual(entries(dir), ["orders.json"], "no temporary file left");
  });

  it("a write that fails at the rename (the job config replaced by a directory meanwhile): the temporary file is removed, the file reported", async function () {
    this.timeout(30_000);
    const job = path.join(dir, "orders.json");
    fs.writeFileSync(job, jobWith(OLD));
    const { child, paused, ended } = startPausedWrite(job);
    await paused;
    fs.rmSync(job);
    fs.mkdirSync(job);
    child.stdin.end("go\n");
    const result = await ended;
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /orders\.json: could not be written \(EISDIR\); left as it is$/m);
    assert.deepEqual(entries(dir), ["orders.json"], "no temporary file left");
    assert.deepEqual(fs.readdirSync(job), []);
  });

  it("one a SIGKILL left is removed by the next write of that file; one of a process still running is not", async () => {
    const job = path.join(dir, "orders.json");
    fs.writeFileSync(job, jobWith({ ...ACME, aws_secret_access_key: "acmeOldSecretAccessKey000000000000000000" }));
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const leftover = `.orders.json.sp-api-iam.${dead}.0badc0de.tmp`;
    const running = `.orders.json.sp-api-iam.${process.ppid}.0badc0de.tmp`;
    const notOurs = `.orders.json.${dead}.tmp`;
    for (const name of [leftover, running, notOurs]) fs.writeFileSync(path.join(dir, name), "secrets");
    const { report } = await deliver(ACME, dir, ["orders.json"]);
    assert.equal(report.updated, 1);
    assert.deepEqual(entries(dir), [notOurs, running, "orders.json"].sort());
  });
});

describe("delivery: a file the reader cannot handle is one failed file", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-limits-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("nested ~4000 deep (JSON) or 20000 (HJSON), or larger than 4 MiB: each named, the others written, the summary printed, exit 1", async () => {
    const OLD: CredentialValues = { ...ACME, aws_secret_access_key: "acmeOldSecretAccessKey000000000000000000" };
    fs.writeFileSync(path.join(dir, "a-deep.json"), `{"a":${'[{"a":'.repeat(4000)}1${"}]".repeat(4000)}}`);
    fs.writeFileSync(path.join(dir, "b-deep.hjson"), `{\n${"a: {\n".repeat(20000)}b: 1\n${"}\n".repeat(20000)}}\n`);
    // Large, yet valid and with this stack's credentials: not read at all.
    const filler = Array.from({ length: 4 * 1024 }, (_, i) => `"${i}": "${"x".repeat(1024)}"`).join(",\n");
    fs.writeFileSync(path.join(dir, "c-large.json"), `{"input": {"credentials": ${JSON.stringify(OLD)}},\n${filler}}\n`);
    fs.writeFileSync(path.join(dir, "d-job.json"), jobWith(OLD));
    const before = fileState(path.join(dir, "c-large.json"));

    const { report, lines } = await deliver(ACME, dir, ["."]);
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.failed, ["a-deep.json", "b-deep.hjson", "c-large.json"]);
    assert.ok(lines.includes("a-deep.json: line 1: not read: nested deeper than 100 levels; left as it is"), lines.join("\n"));
    assert.ok(lines.includes("b-deep.hjson: line 101: not read: nested deeper than 100 levels; left as it is"), lines.join("\n"));
    assert.ok(lines.includes("c-large.json: larger than 4 MiB: not read (a job config is a few KiB); left as it is"), lines.join("\n"));
    assert.deepEqual(credentialsOf(dir, "d-job.json"), ACME, "the file after them was written");
    assert.deepEqual(fileState(path.join(dir, "c-large.json")), before);
    assert.equal(
      lines.at(-1),
      "Summary: 4 files scanned; objects: 1 updated, 0 current, 0 stale, 0 another customer's; 0 named credentials; 3 files not processed.",
    );
  });
});

describe("maintain's job configs and block directory", () => {
  it("a plain-string jobConfigs: the key, the value given and the command that makes it a list; a list is read", () => {
    const plain = parseJobConfigs("jobs/acme/");
    assert.deepEqual(plain, {
      ok: false,
      problem:
        'sp-api-iam:jobConfigs: a single string, not a list; given "jobs/acme/". Allowed: a list of job config files or directories (relative to the project directory), ' +
        "or runner:<base URL> (the connector product's jobs, through its API), " +
        "that npm run maintain delivers the new block into. Fix: pulumi config rm jobConfigs && pulumi config set --path 'jobConfigs[0]' jobs/acme/",
    });
    assert.match((parseJobConfigs("jobs/my jobs/") as { problem: string }).problem, /--path 'jobConfigs\[0\]' 'jobs\/my jobs\/'$/);
    assert.deepEqual(parseJobConfigs('["jobs/acme/","orders.json"]'), { ok: true, targets: ["jobs/acme/", "orders.json"] });
    assert.deepEqual(parseJobConfigs(undefined), { ok: true, targets: [] });
    assert.match((parseJobConfigs('[""]') as { problem: string }).problem, /^sp-api-iam:jobConfigs: an empty path; given "\[\\"\\"\]"/);
    // `pulumi up` refuses it with the same words, before anything is declared.
    assert.throws(
      () => validateConfig({ values: { roleName: "x", jobConfigs: "jobs/acme/" }, secretKeys: new Set() }),
      (e: Error) => e.message.includes("sp-api-iam:jobConfigs: a single string, not a list") && !/SyntaxError/.test(e.message),
    );
  });

  it("npm run maintain with a plain-string jobConfigs: the jobs step fails naming the key and the fix, not an internal error", async function () {
    this.timeout(60_000);
    const cli = FakePulumi.create();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "maintain-jobconfigs-"));
    try {
      cli.addStack("acme", { selected: true });
      // Set after the deployment, as a user would (the fake's own `up` would refuse it, as the program does).
      cli.setConfig("acme", "jobConfigs", "jobs/acme/");
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { main } = require("../commands/maintain/cli") as typeof import("../commands/maintain/cli");
      let stdout = "";
      const code = await main(["--stack", "acme", "--out-dir", path.join(work, "blocks")], {
        env: cli.env(),
        steps: realSteps,
        stdout: { write: (t: string) => (stdout += t), isTTY: false, columns: 200 },
        stderr: { write: (t: string) => (stdout += t) },
      });
      assert.equal(code, 1);
      // The summary wraps a long cause to the width: read it joined.
      stdout = stdout.replace(/\n {6}/g, " ");
      assert.match(stdout, /jobConfigs: a single string, not a list; given "jobs\/acme\/"/);
      assert.match(stdout, /pulumi config rm jobConfigs && pulumi config set --path 'jobConfigs\[0\]' jobs\/acme\//);
      assert.doesNotMatch(stdout, /internal error/);
    } finally {
      cli.cleanup();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it("--out-dir: a directory maintain creates is 700; one that exists keeps its mode (1777, 2775)", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "maintain-outdir-"));
    try {
      for (const mode of [0o1777, 0o2775, 0o755]) {
        const existing = path.join(work, `existing-${mode.toString(8)}`);
        fs.mkdirSync(existing);
        fs.chmodSync(existing, mode);
        preparePrivateDir(existing);
        assert.equal(fs.statSync(existing).mode & 0o7777, mode, `an existing ${mode.toString(8)} directory keeps its mode`);
      }
      const created = path.join(work, "new", "blocks");
      preparePrivateDir(created);
      assert.equal(fs.statSync(created).mode & 0o777, 0o700);
      fs.writeFileSync(path.join(work, "a-file"), "");
      assert.throws(() => preparePrivateDir(path.join(work, "a-file")), /not a directory|EEXIST/);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe("delivery through the user's door", () => {
  it("npm run credentials -- --into: the app's new secret into both sellers' jobs, each token kept; a read-only one left, exit 1", async function () {
    this.timeout(60_000);
    const cli = FakePulumi.create();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-npm-"));
    try {
      cli.addStack("acme", {
        config: { lwaClientId: CLIENT_ID },
        secrets: { lwaClientSecret: ROTATED_SECRET, lwaRefreshToken: ACME.refresh_token },
        account: "111111111111",
        selected: true,
      });
      fs.mkdirSync(path.join(dir, "jobs"));
      fs.writeFileSync(path.join(dir, "jobs", "acme.hjson"), newJob("acme-orders", ACME.refresh_token));
      fs.writeFileSync(path.join(dir, "jobs", "globex.hjson"), newJob("globex-orders", GLOBEX.refresh_token));
      fs.writeFileSync(path.join(dir, "jobs", "frozen.hjson"), newJob("acme-frozen", ACME.refresh_token));
      fs.chmodSync(path.join(dir, "jobs", "frozen.hjson"), 0o444);
      const untouched = ["frozen.hjson"].map((f) => fileState(path.join(dir, "jobs", f)));
      const globexBefore = credentialsOf(path.join(dir, "jobs"), "globex.hjson");

      const result = await runThroughNpm("credentials", ["--stack", "acme", "--into", "jobs"], { cwd: dir, env: cli.env() });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^jobs\/acme\.hjson: input\.credentials: updated client_secret$/m);
      assert.match(result.stdout, /^jobs\/frozen\.hjson: not updated: it is read-only \(mode 444\)/m);
      assert.match(result.stdout, /^jobs\/globex\.hjson: input\.credentials: updated client_secret$/m);
      assert.match(
        result.stdout,
        /^Summary: 3 files scanned; objects: 2 updated, 0 current, 0 stale, 0 another customer's; 0 named credentials; 1 file not processed\.$/m,
      );
      assert.deepEqual(
        ["frozen.hjson"].map((f) => fileState(path.join(dir, "jobs", f))),
        untouched,
      );
      assert.deepEqual(credentialsOf(path.join(dir, "jobs"), "globex.hjson"), { ...globexBefore, client_secret: ROTATED_SECRET });
      assert.equal(credentialsOf(path.join(dir, "jobs"), "acme.hjson").refresh_token, ACME.refresh_token);
      assert.equal(credentialsOf(path.join(dir, "jobs"), "acme.hjson").role_arn, "<your-role-arn>", "the keys and role are the person's to fill in");
      for (const secret of SECRETS) assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), "no secret printed");
      assert.deepEqual(entries(path.join(dir, "jobs")), ["acme.hjson", "frozen.hjson", "globex.hjson"]);
    } finally {
      cli.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
