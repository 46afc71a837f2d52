/**
 * npm run status: the rows (pure, around every date boundary), their order, and the command over a fleet held by
 * the stand-in CLI: an unreadable stack is a row, --json parses, the exit code follows what is overdue, and no
 * secret is decrypted or printed.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { addDays } from "../src/lifecycle";
import { sortRows, statusExitCode, statusRow, type StackFacts, type StatusRow } from "../commands/status/decide";
import { formatTable, main, parseStatusArgs } from "../commands/status/cli";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date("2026-11-27T12:00:00Z");
const SECRET = "amzn1.oa2-cs.v1.00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

function facts(opts: { config?: Record<string, string>; createdAt?: string; slots?: object[]; outputs?: Record<string, unknown> } = {}): StackFacts {
  const createdAt = opts.createdAt ?? "2026-11-01T00:00:00Z";
  const outputs: StackFacts["outputs"] = {
    roleArn: { value: "arn:aws:iam::123456789012:role/SellingPartnerAPI", secret: false },
    accessKeyCreatedAt: { value: createdAt, secret: false },
    accessKeySlots: { value: opts.slots ?? [{ slot: "a", generation: 1, status: "Active", pgpKey: null }], secret: false },
    credentials: { value: "[secret]", secret: true },
  };
  for (const [k, v] of Object.entries(opts.outputs ?? {})) outputs[k] = { value: v, secret: false };
  return { name: "s", lastUpdate: "2026-11-01T00:00:00Z", config: { values: opts.config ?? {}, secretKeys: new Set(), provider: {} }, outputs };
}

/** The key created `age` days before NOW (90-day rotation, 14 days' lead by default). */
const createdDaysAgo = (age: number) => new Date(NOW.getTime() - age * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");

describe("status rows: the access key", () => {
  const cases: [number, string][] = [
    [75, "ok"], // due from day 76 (90 - 14)
    [76, "due"],
    [90, "due"], // the rotate-by day itself
    [91, "overdue"],
  ];
  for (const [age, urgency] of cases) {
    it(`a key ${age} days old is ${urgency}`, () => {
      const row = statusRow(facts({ createdAt: createdDaysAgo(age) }), NOW);
      assert.equal(row.key?.ageDays, age);
      assert.equal(row.key?.phase, "steady");
      assert.equal(row.next?.urgency, urgency);
      assert.equal(row.next?.date, addDays(createdDaysAgo(age), 76));
      assert.match(row.next!.what, /npm run rotate-key/);
    });
  }

  it("--warn-days replaces the stack's lead time", () => {
    assert.equal(statusRow(facts({ createdAt: createdDaysAgo(60) }), NOW, 30).next?.urgency, "due");
    assert.equal(statusRow(facts({ createdAt: createdDaysAgo(60) }), NOW, 29).next?.urgency, "ok");
  });

  const two = (status: string, inactiveSince?: string) => [
    { slot: "b", generation: 2, status: "Active", pgpKey: null },
    { slot: "a", generation: 1, status, pgpKey: null, ...(inactiveSince ? { inactiveSince } : {}) },
  ];

  it("handover: due from the first quiet period, overdue once the lead time has run out", () => {
    const fresh = statusRow(facts({ createdAt: createdDaysAgo(3), slots: two("Active") }), NOW);
    assert.equal(fresh.key?.phase, "handover");
    assert.equal(fresh.next?.urgency, "due");
    assert.match(fresh.next!.what, /give every job the new block/);
    assert.equal(statusRow(facts({ createdAt: createdDaysAgo(15), slots: two("Active") }), NOW).next?.urgency, "overdue");
  });

  it("old key inactive: due once it has been inactive keyInactiveDays (7)", () => {
    const waiting = statusRow(facts({ createdAt: createdDaysAgo(10), slots: two("Inactive", "2026-11-21") }), NOW);
    assert.equal(waiting.key?.phase, "old-key-inactive");
    assert.deepEqual([waiting.next?.date, waiting.next?.urgency], ["2026-11-28", "ok"]);
    const due = statusRow(facts({ createdAt: createdDaysAgo(10), slots: two("Inactive", "2026-11-20") }), NOW);
    assert.deepEqual([due.next?.date, due.next?.urgency], ["2026-11-27", "due"]);
  });

  it("a stack without key outputs is a row saying it is not deployed", () => {
    const row = statusRow({ ...facts(), outputs: {} }, NOW);
    assert.match(row.problem!, /not been deployed/);
  });
});

describe("status rows: authorizations", () => {
  it("counts the default authorization and each further one, and shows every region served; none: the region alone", () => {
    const row = statusRow(facts({ outputs: { authorizations: { eu: "eu", "agency-b": "na" } } }), NOW);
    assert.deepEqual(row.authorizations, { count: 3, further: { eu: "eu", "agency-b": "na" } });
    const table = formatTable([row], false, 200);
    assert.match(table.split("\n")[1]!, /^s +na,eu \(3 authorizations\) /);
    const plain = statusRow(facts(), NOW);
    assert.equal(plain.authorizations, undefined);
    assert.match(formatTable([plain], false, 200).split("\n")[1]!, /^s +na +123456789012/);
  });
});

describe("status rows: the LWA secret", () => {
  const issued = (daysLeft: number) => ({ lwaClientSecretIssuedOn: addDays("2026-11-27", daysLeft - 180) });

  const cases: [number, string][] = [
    [31, "ok"],
    [30, "due"], // lwaExpiryWarningDays
    [7, "due"],
    [6, "overdue"],
    [0, "expired"],
    [-3, "expired"],
  ];
  for (const [left, urgency] of cases) {
    it(`${left} days before expiry: ${urgency}`, () => {
      const row = statusRow(facts({ config: issued(left), createdAt: createdDaysAgo(1) }), NOW);
      assert.equal(row.lwa?.expiresOn, addDays("2026-11-27", left));
      assert.equal(row.lwa?.source, "tracked");
      assert.equal(row.next?.urgency, urgency, JSON.stringify(row.next));
      assert.match(row.next!.what, /LWA secret/);
    });
  }

  it("Amazon's expiry, when a rotation run has seen it, wins over the tracked date", () => {
    const row = statusRow(facts({ config: { ...issued(100), lwaClientSecretExpiresAt: "2026-12-01T08:00:00Z" }, createdAt: createdDaysAgo(1) }), NOW);
    assert.deepEqual(row.lwa, { expiresOn: "2026-12-01", source: "amazon", rotatedBy: "hand" });
    assert.equal(row.next?.urgency, "overdue");
    assert.match(row.next!.what, /by hand: docs\/lwa-rotation\.md/);
  });

  it("reads the expiry as rotate-lwa does: a recorded time within days of the issue date is the previous secret's", () => {
    // Issued 10 days ago; the recorded time is the old secret's end, 5 days after that issue: not this secret's.
    const row = statusRow(
      facts({ config: { ...issued(170), lwaClientSecretExpiresAt: `${addDays("2026-11-27", -5)}T08:00:00Z` }, createdAt: createdDaysAgo(1) }),
      NOW,
    );
    assert.deepEqual(row.lwa, { expiresOn: addDays("2026-11-27", 170), source: "tracked", rotatedBy: "hand" });
    assert.equal(row.next?.urgency, "ok");
  });

  it("says who rotates it: rotate-lwa with lwaRotation, else by hand; not tracked without a date", () => {
    const auto = statusRow(facts({ config: { ...issued(10), lwaRotation: "true" }, createdAt: createdDaysAgo(1) }), NOW);
    assert.match(auto.next!.what, /npm run rotate-lwa/);
    const untracked = statusRow(facts({ createdAt: createdDaysAgo(1) }), NOW);
    assert.deepEqual(untracked.lwa, { source: "not tracked", rotatedBy: "hand" });
    assert.match(untracked.next!.what, /access key/);
  });

  it("the next thing is the more urgent of the key and the secret", () => {
    const row = statusRow(facts({ config: issued(20), createdAt: createdDaysAgo(91) }), NOW);
    assert.equal(row.next?.urgency, "overdue");
    assert.match(row.next!.what, /access key/);
  });

  it("an invalid config is a row with the reason, naming the key", () => {
    const row = statusRow(facts({ config: { spApiRegion: "jp" } }), NOW);
    assert.match(row.problem!, /sp-api-iam:spApiRegion/);
  });
});

describe("status: order, exit code, table", () => {
  const row = (stack: string, urgency?: "expired" | "overdue" | "due" | "ok", date = "2026-12-01", problem?: string): StatusRow => ({
    stack,
    ...(urgency ? { next: { what: "x", date, urgency } } : {}),
    ...(problem ? { problem } : {}),
  });

  it("sorts expired, overdue, unreadable, due, ok; then by date; then by name", () => {
    const sorted = sortRows([
      row("ok", "ok"),
      row("due-late", "due", "2026-12-20"),
      row("unreadable", undefined, undefined, "locked"),
      row("due-early", "due", "2026-12-02"),
      row("expired", "expired"),
      row("overdue", "overdue"),
    ]);
    assert.deepEqual(
      sorted.map((r) => r.stack),
      ["expired", "overdue", "unreadable", "due-early", "due-late", "ok"],
    );
  });

  it("exits 1 for expired, overdue or unreadable; 0 for due and ok", () => {
    assert.equal(statusExitCode([row("a", "due"), row("b", "ok")]), 0);
    assert.equal(statusExitCode([row("a", "due"), row("b", "overdue")]), 1);
    assert.equal(statusExitCode([row("a", "expired")]), 1);
    assert.equal(statusExitCode([row("a", undefined, undefined, "cannot read")]), 1);
  });

  it("colours only when asked (a terminal)", () => {
    const rows = [row("a", "overdue"), row("b", "ok")];
    assert.ok(!formatTable(rows, false).includes("\x1b["));
    assert.ok(formatTable(rows, true).split("\n")[1]!.startsWith("\x1b[31m"));
    assert.ok(!formatTable(rows, true).split("\n")[2]!.includes("\x1b["));
  });

  it("parses its arguments and refuses anything else", () => {
    assert.deepEqual(parseStatusArgs(["--stack", "a", "--stack", "b", "--json", "--warn-days", "10"]), {
      kind: "run",
      stacks: ["a", "b"],
      json: true,
      warnDays: 10,
    });
    assert.equal(parseStatusArgs(["--warn-days", "soon"]).kind, "error");
    assert.equal(parseStatusArgs(["--stacks", "a"]).kind, "error");
    assert.equal(parseStatusArgs(["a"]).kind, "error");
    assert.deepEqual(parseStatusArgs(["-s", "a"]), { kind: "run", stacks: ["a"], json: false, warnDays: undefined });
  });

  it("shows the role's account, not its whole ARN", () => {
    const table = formatTable([statusRow(facts(), NOW)], false, 200);
    assert.match(table.split("\n")[1]!, /^s +na +123456789012 +26 d /);
    assert.ok(!table.includes("arn:aws"));
  });
});

describe("npm run status over 50 stacks (stand-in CLI): the width and the counts", function () {
  let cli: FakePulumi;
  const names = Array.from({ length: 50 }, (_, i) => `customer-${String(i).padStart(3, "0")}`);
  before(() => {
    cli = FakePulumi.create();
    const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
    const today = new Date().toISOString().slice(0, 10);
    // Five of each kind in ten: a key 95 days old (overdue), an LWA secret past its 180 days (expired), a key 80 days
    // old (due), and seven stacks with nothing due (ok).
    names.forEach((name, i) => {
      const kind = i % 10;
      cli.setNow(ago(kind === 0 ? 95 : kind === 2 ? 80 : 1));
      const config: Record<string, string> = { spApiRegion: ["na", "eu", "fe"][i % 3]! };
      if (kind === 1) config.lwaClientSecretIssuedOn = addDays(today, -185);
      cli.addStack(name, { config, account: String(100000000000 + i) });
    });
    cli.setNow(new Date().toISOString());
  });
  after(() => cli.cleanup());

  async function run(env: NodeJS.ProcessEnv, stdoutProps: { isTTY?: boolean; columns?: number } = {}) {
    let stdout = "";
    const code = await main([], cli.env(env), { write: (t: string) => ((stdout += t), true), ...stdoutProps } as never, { write: () => true } as never);
    return { code, stdout, lines: stdout.trimEnd().split("\n") };
  }

  for (const [env, props, width] of [
    [{ COLUMNS: "80" }, {}, 80],
    [{ COLUMNS: "" }, {}, 120], // a pipe, COLUMNS unset: 120
    [{ COLUMNS: "" }, { isTTY: true, columns: 100 }, 100], // a terminal: its width
    [{ COLUMNS: "250" }, {}, 250],
  ] as const) {
    it(`no line wider than ${width} (COLUMNS=${env.COLUMNS || "unset"}${props.isTTY ? ", a terminal" : ""}); the counts by state`, async () => {
      const { code, stdout, lines } = await run({ ...env, NO_COLOR: "1" }, props);
      assert.equal(code, 1);
      const longest = Math.max(...lines.map((l) => l.length));
      assert.ok(longest <= width, `a line of ${longest} characters`);
      assert.equal(lines.at(-1), "50 stacks: 5 expired, 5 overdue, 5 due, 35 ok");
      assert.equal(lines.filter((l) => /^customer-\d{3} /.test(l)).length, 50);
      // Every row keeps the stack, its account and what it needs next, however narrow: NEXT beside the row, or on a
      // line of its own under it, and never cut.
      assert.match(stdout, /^customer-001 .*100000000001(.* |.*\n {2}NEXT: \S+ )EXPIRED: the LWA/m);
      assert.match(stdout, /^customer-020 .*100000000020(.* |.*\n {2}NEXT: \S+ )OVERDUE: rotate/m);
      assert.doesNotMatch(stdout, /…/, "nothing cut");
      if (width < 120) assert.match(stdout, /^ {2}NEXT: /m, "NEXT on its own line at a narrow width");
      // What a row leaves out for the width is said under the table; at 120 every column fits once NEXT has a line of its own.
      if (width < 120) assert.match(stdout.replace(/\n /g, " "), /^\(left out for the width: .*LAST UPDATE/m, "says what it left out");
      else assert.ok(!stdout.includes("left out"), `everything fits in ${width}`);
    });
  }
});

describe("npm run status over a fleet (stand-in CLI)", function () {
  let cli: FakePulumi;
  before(() => {
    cli = FakePulumi.create();
    const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
    const today = new Date().toISOString().slice(0, 10);
    cli.setNow(ago(95));
    cli.addStack("old-key", { config: { spApiRegion: "eu" } });
    cli.setNow(ago(1));
    cli.addStack("fresh", { config: { spApiRegion: "fe", lwaClientSecretIssuedOn: addDays(today, -100) } });
    cli.addStack("lwa-soon", {
      config: { lwaClientId: "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef", lwaClientSecretIssuedOn: addDays(today, -178) },
      secrets: { lwaClientSecret: SECRET },
    });
    cli.addStack("broken", { selected: true });
    cli.failNext("broken", "stack output", { stderr: "error: could not decrypt configuration value: incorrect passphrase" });
  });
  after(() => cli.cleanup());

  async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const code = await main(
      args,
      cli.env(),
      { write: (t: string) => ((stdout += t), true) } as never,
      { write: (t: string) => ((stderr += t), true) } as never,
    );
    return { code, stdout, stderr };
  }

  it("--json: one row per stack, most urgent first, the unreadable one a row with its reason; exit 1", async () => {
    const { code, stdout } = await run(["--json"]);
    const rows = JSON.parse(stdout) as StatusRow[];
    assert.deepEqual(
      rows.map((r) => r.stack),
      ["lwa-soon", "old-key", "broken", "fresh"],
    );
    assert.equal(rows[0]!.next?.urgency, "overdue");
    assert.equal(rows[1]!.next?.urgency, "overdue");
    assert.equal(rows[1]!.key?.ageDays, 95);
    assert.equal(rows[1]!.spApiRegion, "eu");
    assert.match(rows[2]!.problem!, /reading the outputs on stack broken failed: could not decrypt configuration value/);
    assert.equal(rows[3]!.next?.urgency, "ok");
    assert.equal(rows[3]!.lwa?.source, "tracked");
    assert.equal(code, 1);
    assert.ok(!stdout.includes(SECRET));
    assert.ok(
      cli.calls().every((c) => !c.argv.includes("--show-secrets")),
      "status decrypted a secret",
    );
  });

  it("--stack: only the stacks named; an unknown one is a row, not a crash", async () => {
    const { code, stdout } = await run(["--json", "--stack", "fresh", "--stack", "nope"]);
    const rows = JSON.parse(stdout) as StatusRow[];
    assert.deepEqual(
      rows.map((r) => [r.stack, r.problem ?? r.next?.urgency]),
      [
        ["nope", "no such stack in the current backend (npm run pulumi -- stack ls lists them)"],
        ["fresh", "ok"],
      ],
    );
    assert.equal(code, 1);
    assert.equal((await run(["--json", "--stack", "fresh"])).code, 0);
  });

  it("through the user's door: npm run status from another directory prints the table without colour into a pipe", async () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "status-cwd-"));
    try {
      const result = await runThroughNpm("status", ["-s", "fresh", "--stack", "old-key"], { cwd: elsewhere, env: cli.env({ COLUMNS: "250" }) });
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stdout.trim().split("\n");
      assert.match(lines[0]!, /^STACK +REGION +ACCOUNT +KEY AGE +ROTATE BY +KEY PHASE +LWA SECRET EXPIRES +LAST UPDATE +DELIVERY +NEXT$/);
      assert.match(lines[1]!, /^old-key +eu +123456789012 +95 d .* steady .*OVERDUE: rotate the access key/);
      assert.match(lines[2]!, /^fresh +fe /);
      assert.equal(lines[3], "2 stacks: 0 expired, 1 overdue, 0 due, 1 ok");
      assert.ok(!result.stdout.includes("\x1b["), "colour in a pipe");
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
