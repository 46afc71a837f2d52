/**
 * npm run maintain: the fleet round over stacks held by the stand-in CLI. Here the three steps are stand-ins that
 * record what they were asked and when, so the round itself is what is tested: every stack gets its steps in order,
 * no more than --concurrency stacks are in flight, one stack's failure leaves the others to finish, --dry-run
 * reaches every step, each stack has its own block file in a directory only the owner can read, and the summary
 * and exit code say what happened. test/maintain-fleet.test.ts runs the real steps end to end.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { blockFileName, type MaintainSteps, type StackReport, type StepContext, type StepOutcome } from "../commands/maintain/run";
import { handovers, liveProgress, main, parseMaintainArgs, summaryTable } from "../commands/maintain/cli";
import { deliveryGap, lwaByHandDetail } from "../commands/maintain/steps";
import { FakePulumi } from "./fake-pulumi";
import { outcomesOf, readSummary } from "./maintain-summary";

interface Seen {
  stack: string;
  step: string;
  dryRun: boolean;
  out: string;
  at: number;
}

function recordingSteps(opts: { fail?: Record<string, string>; delayMs?: number; throwIn?: string } = {}) {
  const seen: Seen[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const active = new Set<string>();
  const step =
    (name: string) =>
    async (ctx: StepContext): Promise<StepOutcome> => {
      if (!active.has(ctx.stack.name)) {
        active.add(ctx.stack.name);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
      }
      seen.push({ stack: ctx.stack.name, step: name, dryRun: ctx.dryRun, out: ctx.out, at: Date.now() });
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 20));
      ctx.print(`${name} looked at ${ctx.stack.name}`);
      if (name === "jobs") {
        active.delete(ctx.stack.name);
        inFlight--;
      }
      if (opts.throwIn === `${ctx.stack.name}/${name}`) throw new TypeError("boom with a value in it");
      const failure = opts.fail?.[`${ctx.stack.name}/${name}`];
      if (failure) return { status: "failed", detail: failure };
      return name === "key" ? { status: "done", detail: "started a rotation", wroteBlock: ctx.out } : { status: "nothing", detail: "nothing due" };
    };
  const steps: MaintainSteps = { rotateLwa: step("lwa"), rotateKey: step("key"), deliver: step("jobs") };
  return { steps, seen, maxInFlight: () => maxInFlight };
}

describe("npm run maintain: the round", function () {
  let cli: FakePulumi;
  let dir: string;
  const names = ["s1", "s2", "s3", "s4", "s5", "s6"];
  before(() => {
    cli = FakePulumi.create();
    for (const name of names) cli.addStack(name);
  });
  after(() => cli.cleanup());
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "maintain-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(args: string[], steps: MaintainSteps, tty = false) {
    let stdout = "";
    let stderr = "";
    const code = await main([...args, "--out-dir", path.join(dir, "credentials")], {
      env: cli.env(),
      stdout: { write: (t: string) => (stdout += t), isTTY: tty, columns: 100 },
      stderr: { write: (t: string) => (stderr += t) },
      steps,
    });
    return { code, stdout, stderr };
  }

  it("--all: every stack's steps in order (lwa, key, jobs), never more than --concurrency stacks at once", async () => {
    const r = recordingSteps({ delayMs: 30 });
    const { code, stdout } = await run(["--all", "--concurrency", "2"], r.steps);
    assert.equal(code, 0, stdout);
    for (const name of names) {
      assert.deepEqual(
        r.seen.filter((s) => s.stack === name).map((s) => s.step),
        ["lwa", "key", "jobs"],
        name,
      );
    }
    assert.equal(r.maxInFlight(), 2);
    assert.match(stdout, /6 stacks: 6 without failure, 0 failed\./);
  });

  it("runs stacks in parallel by default (4)", async () => {
    const r = recordingSteps({ delayMs: 30 });
    await run(["--all"], r.steps);
    assert.equal(r.maxInFlight(), 4);
  });

  it("one stack failing, another throwing: both reported with the cause, the others finish; exit 1", async () => {
    const r = recordingSteps({ fail: { "s2/lwa": "LWA refused the rotation (HTTP 429): one rotation a minute" }, throwIn: "s4/key" });
    const { code, stdout } = await run(["--all"], r.steps);
    assert.equal(code, 1);
    for (const name of names) assert.equal(r.seen.filter((s) => s.stack === name).length, 3, `${name} ran all its steps`);
    assert.equal(outcomesOf(stdout, "s2").failed, "lwa: LWA refused the rotation (HTTP 429): one rotation a minute");
    assert.equal(outcomesOf(stdout, "s4").failed, "key: internal error (TypeError)");
    assert.equal(outcomesOf(stdout, "s1").failed, "-");
    assert.ok(!stdout.includes("boom with a value"), "an unexpected error's text is not printed");
    assert.match(stdout, /6 stacks: 4 without failure, 2 failed\./);
  });

  it("--dry-run reaches every step and creates nothing, not even the directory", async () => {
    const r = recordingSteps();
    const { code, stdout } = await run(["--stack", "s1", "--stack", "s3", "--dry-run"], r.steps);
    assert.equal(code, 0);
    assert.match(stdout, /^Dry run: every decision is made and shown; nothing is changed\./);
    assert.ok(r.seen.every((s) => s.dryRun));
    assert.equal(fs.existsSync(path.join(dir, "credentials")), false);
  });

  it("each stack writes to its own file, in a directory created readable by its owner only; an existing one keeps its mode", async () => {
    const r = recordingSteps();
    const { code } = await run(["--stack", "s1", "--stack", "s3"], r.steps);
    assert.equal(code, 0);
    assert.deepEqual([...new Set(r.seen.map((s) => s.out))].sort(), [path.join(dir, "credentials", "s1.hjson"), path.join(dir, "credentials", "s3.hjson")]);
    assert.equal(fs.statSync(path.join(dir, "credentials")).mode & 0o777, 0o700);
    // The operator's own directory (shared, sticky): not narrowed; each block in it is mode 600.
    fs.chmodSync(path.join(dir, "credentials"), 0o1777);
    assert.equal((await run(["--stack", "s1"], recordingSteps().steps)).code, 0);
    assert.equal(fs.statSync(path.join(dir, "credentials")).mode & 0o7777, 0o1777);
  });

  it("a stack that does not exist fails alone", async () => {
    const r = recordingSteps();
    const { code, stdout } = await run(["--stack", "nope", "--stack", "s1"], r.steps);
    assert.equal(code, 1);
    assert.match(outcomesOf(stdout, "nope").failed, /no stack named nope/);
    assert.equal(r.seen.filter((s) => s.stack === "s1").length, 3);
  });

  it("plain progress lines in a pipe, a task list redrawn in place on a terminal", async () => {
    const plain = await run(["--stack", "s1"], recordingSteps().steps);
    assert.match(plain.stdout, /^s1: started$/m);
    assert.match(plain.stdout, /^s1: key ✓ done$/m);
    assert.match(plain.stdout, /^s1: lwa {3}lwa looked at s1$/m);
    assert.ok(!plain.stdout.includes("\x1b["), "no escapes into a pipe");

    let screen = "";
    const live = liveProgress((t) => (screen += t), 80);
    live.started("s1");
    live.step("s1", "lwa", "running");
    live.step("s1", "lwa", { status: "nothing", detail: "not due" });
    assert.ok(screen.includes("\x1b[1A\x1b[2K"), "redraws the line in place");
  });

  it("usage: --stack or --all, a whole --concurrency", () => {
    assert.equal(parseMaintainArgs([]).kind, "error");
    assert.equal(parseMaintainArgs(["--all", "--stack", "a"]).kind, "error");
    assert.equal(parseMaintainArgs(["--all", "--concurrency", "0"]).kind, "error");
    assert.deepEqual(parseMaintainArgs(["--stack", "a", "--dry-run"]), {
      kind: "run",
      stacks: ["a"],
      dryRun: true,
      json: false,
      concurrency: 4,
      outDir: "credentials",
    });
  });

  it("file names: one per stack, never outside the directory", () => {
    assert.equal(blockFileName("acme-eu"), "acme-eu.hjson");
    assert.equal(blockFileName("org/sp-api-iam/acme-eu"), "acme-eu.hjson");
    assert.equal(blockFileName(".."), "...hjson");
    assert.equal(summaryTable([]).includes("0 stacks"), true);
  });
});

describe("npm run maintain: the summary's sections (Failed, Needs you, Would do / Done, Skipped)", () => {
  const key = (stack: string): StackReport => ({
    stack,
    failed: false,
    steps: {
      lwa: {
        status: "skipped",
        detail: `lwaRotation is off: rotate the LWA secret by hand before it expires in 40 days, on 2027-01-15 (docs/lwa-rotation.md)`,
      },
      key: { status: "done", detail: "start: the key is due", wroteBlock: `/srv/kit/credentials/${stack}.hjson` },
      jobs: { status: "skipped", detail: "no jobConfigs listed: hand the block to the jobs (npm run credentials -- --into <file|dir>)" },
    },
  });

  it("a key rotated for a stack whose jobs a person serves: Done names the block, Needs you says to hand it over, with the by-hand LWA date", () => {
    const text = summaryTable([key("acme"), { stack: "globex", failed: true, steps: { lwa: { status: "failed", detail: "LWA said no" } } }], 200);
    const sections = text.split("\n").filter((l) => /^[A-Z][\w ]+:$/.test(l));
    assert.deepEqual(sections, ["Failed:", "Needs you:", "Done:"]);
    const needs = text.slice(text.indexOf("Needs you:"), text.indexOf("Done:"));
    assert.match(needs, /hand the new block \/srv\/kit\/credentials\/acme\.hjson to the stack's jobs before the old key is deactivated/);
    assert.match(needs, /rotate the LWA secret by hand before it expires in 40 days, on 2027-01-15/);
    assert.match(needs, /no jobConfigs listed: hand the block to the jobs/);
    assert.match(text.slice(text.indexOf("Done:")), /key: start: the key is due \(new block: \/srv\/kit\/credentials\/acme\.hjson\)/);
  });

  it("an LWA rotation's handover has its date: 7 days from today", () => {
    const report: StackReport = {
      stack: "acme",
      failed: false,
      steps: {
        lwa: { status: "done", detail: "rotated", wroteBlock: "credentials/acme.hjson" },
        jobs: { status: "waiting", detail: "1 job(s) use a named credential" },
      },
    };
    const [handover] = handovers([report], new Date("2026-12-06T10:00:00Z"));
    assert.equal(
      handover!.detail,
      "hand the new block credentials/acme.hjson to the stack's jobs by 2026-12-13 (the old LWA secret stops 7 days after the rotation)",
    );
    assert.deepEqual(
      handovers([{ ...report, steps: { ...report.steps, jobs: { status: "done", detail: "updated 1" } } }]),
      [],
      "delivered: nothing to hand over",
    );
  });

  it("a dry run: what would be done is under Would do, never Done, and no handover is asked for", () => {
    const dry: StackReport = { stack: "acme", failed: false, steps: { key: { status: "done", detail: "dry run: would start: the key is due" } } };
    const text = summaryTable([dry], 200, true);
    assert.match(text, /^Would do:$/m);
    assert.doesNotMatch(text, /^Done:$/m);
    assert.doesNotMatch(text, /hand the new block/);
  });
});

describe("npm run maintain: a fleet of 50 in the output", function () {
  let cli: FakePulumi;
  let dir: string;
  const names = Array.from({ length: 50 }, (_, i) => `customer-${String(i).padStart(3, "0")}`);
  const NO_CREDENTIALS = "could not read IAM's record of the keys: no AWS credentials (set AWS_PROFILE, or run aws sso login)";
  before(() => {
    cli = FakePulumi.create();
    for (const name of names) cli.addStack(name);
  });
  after(() => cli.cleanup());
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "maintain-50-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Every stack's key step fails for one shared cause; three stacks' LWA secrets are past their date, worded each its own way. */
  const steps: MaintainSteps = {
    rotateLwa: async (ctx) => {
      const n = names.indexOf(ctx.stack.name);
      if (n >= 3) return { status: "nothing", detail: "not due" };
      return { status: "skipped", detail: lwaByHandDetail(`2026-11-2${7 + n}`, "2026-11-30") };
    },
    rotateKey: async (ctx) => {
      ctx.print(`reading IAM for ${ctx.stack.name}`);
      return { status: "failed", detail: NO_CREDENTIALS };
    },
    deliver: async (ctx) => ({ status: "skipped", detail: `no jobConfigs listed for ${ctx.stack.name}: hand the block to the jobs` }),
  };

  async function run(args: string[], env: NodeJS.ProcessEnv) {
    let stdout = "";
    let stderr = "";
    const code = await main([...args, "--out-dir", path.join(dir, "credentials")], {
      env: cli.env(env),
      stdout: { write: (t: string) => (stdout += t), isTTY: false },
      stderr: { write: (t: string) => (stderr += t) },
      steps,
    });
    return { code, stdout, stderr };
  }

  for (const width of [80, 120]) {
    it(`fits ${width} columns (COLUMNS=${width}), says the shared cause once with its count, and counts the stacks`, async () => {
      const { code, stdout } = await run(["--all"], { COLUMNS: String(width) });
      assert.equal(code, 1);
      const longest = Math.max(...stdout.split("\n").map((l) => l.length));
      assert.ok(longest <= width, `a line of ${longest} characters`);
      // The cause once (wrapped or not), though 50 stacks failed with it; the log's step lines say "failed" alone.
      assert.equal(stdout.replace(/\n {6}/g, " ").split("no AWS credentials").length - 1, 1);
      assert.equal(stdout.match(/^customer-\d{3}: key ✗ failed$/gm)?.length, 50);
      const summary = readSummary(stdout);
      const failed = summary.entries.filter((e) => e.status === "failed");
      assert.deepEqual(
        failed.map((e) => [e.step, e.detail, e.count]),
        [["key", NO_CREDENTIALS, 50]],
      );
      assert.deepEqual(failed[0]!.stacks.slice(0, 2), ["customer-000", "customer-001"]);
      assert.match(
        summary.lines.find((l) => l.includes("50 stacks: customer-000"))!,
        /, … and \d+ more$/,
      );
      // Each stack's own name taken out of a cause, so that 50 alike are one entry.
      const jobs = summary.entries.find((e) => e.step === "jobs")!;
      assert.deepEqual([jobs.detail, jobs.count], ["no jobConfigs listed for <stack>: hand the block to the jobs", 50]);
      assert.equal(summary.rows.size, 50);
      assert.deepEqual(summary.rows.get("customer-007"), { lwa: "· nothing", key: "✗ failed", jobs: "- skipped" });
      assert.match(stdout, /\n50 stacks: 0 without failure, 50 failed\.\n$/);
    });
  }

  it('words a past date as past ("expired 3 days ago, on ..."), today as today, a future one as future', async () => {
    const { stdout } = await run(["--all"], { COLUMNS: "200" });
    const lwa = readSummary(stdout).entries.filter((e) => e.step === "lwa");
    assert.deepEqual(lwa.map((e) => [e.detail, e.stacks.join(" ")]).sort(), [
      ["lwaRotation is off: rotate the LWA secret by hand now: it expired 1 day ago, on 2026-11-29 (docs/lwa-rotation.md)", "customer-002"],
      ["lwaRotation is off: rotate the LWA secret by hand now: it expired 2 days ago, on 2026-11-28 (docs/lwa-rotation.md)", "customer-001"],
      ["lwaRotation is off: rotate the LWA secret by hand now: it expired 3 days ago, on 2026-11-27 (docs/lwa-rotation.md)", "customer-000"],
    ]);
    assert.equal(
      lwaByHandDetail("2026-11-30T10:00:00Z", "2026-11-30"),
      "lwaRotation is off: rotate the LWA secret by hand before it expires today, 2026-11-30 (docs/lwa-rotation.md)",
    );
    assert.equal(
      lwaByHandDetail("2027-01-09", "2026-11-30"),
      "lwaRotation is off: rotate the LWA secret by hand before it expires in 40 days, on 2027-01-09 (docs/lwa-rotation.md)",
    );
    assert.match(lwaByHandDetail(undefined, "2026-11-30"), /every 180 days/);
  });

  it("--json: one JSON document on standard output, nothing else there; the progress on standard error", async () => {
    const { code, stdout, stderr } = await run(["--all", "--json"], {});
    assert.equal(code, 1);
    const doc = JSON.parse(stdout) as {
      exitCode: number;
      counts: { stacks: number; withoutFailure: number; failed: number };
      stacks: { stack: string; failed: boolean; steps: Record<string, { status: string; detail: string }> }[];
      causes: { step: string; status: string; detail: string; stacks: string[] }[];
    };
    assert.deepEqual([doc.exitCode, doc.counts], [1, { stacks: 50, withoutFailure: 0, failed: 50 }]);
    assert.equal(doc.stacks.length, 50);
    assert.deepEqual(doc.stacks.find((s) => s.stack === "customer-049")!.steps.key, { status: "failed", detail: NO_CREDENTIALS });
    const shared = doc.causes.find((c) => c.status === "failed")!;
    assert.deepEqual([shared.step, shared.detail, shared.stacks.length], ["key", NO_CREDENTIALS, 50], "the list whole in the document");
    assert.match(stderr, /^customer-000: started$/m);
    assert.doesNotMatch(stderr, /^STACK /m, "no table: the document is the summary");
  });

  it("the task list on a terminal: no line wider than the terminal", () => {
    let screen = "";
    const live = liveProgress((t) => (screen += t), 60);
    for (const name of names.slice(0, 5)) {
      live.started(name);
      live.step(name, "key", { status: "failed", detail: NO_CREDENTIALS });
    }
    const drawn = screen.split("\n").map((l) => l.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d*[A-Z]`, "g"), ""));
    assert.ok(Math.max(...drawn.map((l) => l.length)) < 60);
  });
});

describe("npm run maintain: when delivery is not automated, the LWA rotation waits for its last 7 days", () => {
  it("a named credential, a file that cannot be processed, an object that cannot be updated: each a reason; none: none", () => {
    assert.equal(deliveryGap({ named: 0, failed: [], stale: 0 }), undefined);
    assert.match(deliveryGap({ named: 2, failed: [], stale: 0 })!, /^2 job\(s\) in jobConfigs name a stored credential/);
    assert.match(deliveryGap({ named: 0, failed: ["jobs/bad.json"], stale: 0 })!, /jobs\/bad\.json cannot be processed/);
    const all = deliveryGap({ named: 1, failed: ["a.hjson"], stale: 3 })!;
    assert.deepEqual(
      all.split("; ").map((part) => part.split(" ")[0]),
      ["1", "jobConfigs", "3"],
    );
  });
});
