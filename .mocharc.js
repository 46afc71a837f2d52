// Two suites from one set of test files, told apart by title, not by where a file sits (MOCHA_SUITE picks one):
//   fast (npm test, MOCHA_SUITE=fast): every test whose full title matches none of E2E below;
//   e2e (npm run test:e2e, MOCHA_SUITE=e2e): the whole-process end-to-end tests: kills at each phase, a run as
//     another user, proxies, the fresh-copy Quick start, commands through npm (the user's door), fleets of stand-in
//     CLI processes, and the real timeouts of peers that stall or trickle.
// Both run every file, so each test is in exactly one suite; a test added to a described group joins that group's
// suite. Without MOCHA_SUITE (MOCHA_SPEC=test/x.test.ts, tools/test-at-hours.sh), every test of the files runs.
const fs = require("fs");

/** A test is end-to-end when its full title (its describe titles and its own, as mocha --grep sees it) contains one of these. */
const E2E = [
  // kills at each phase, and a temporary file under a signal
  "killed at each phase, rerun before and after the message's hold",
  "delivery: a temporary file never outlives the run",
  // a process run as another user
  "run as an ordinary user (uid 1234)",
  // proxies, plain and https
  "proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)",
  "proxies over https (HTTPS_PROXY), as to Amazon",
  // the fresh copy of the repository, and npm run up / bench as scripts
  "README Quick start, on a fresh copy of the repository",
  "npm run up ",
  "npm run bench: its door",
  // a command through npm from another directory
  "through the user's door",
  "through npm",
  "as `npm run plan -- <file>` from another directory",
  "on a Node older than 22.12, every command says in one line which Node it needs",
  // commands as processes, and fleets of stand-in CLI processes
  "lib/cli: runCommand in a process",
  "npm run verify the CLI process",
  "npm run maintain: the real steps over a fleet",
  "npm run status over 50 stacks (stand-in CLI)",
  // real timeouts and real concurrency
  "peers that stall, trickle or answer garbage",
  "a stalled, trickling or garbage peer fails in bounded time",
  "a stalled IAM is cut off at SP_API_AWS_TIMEOUT_MS",
  "an IAM peer that stalls",
  "an IAM peer that trickles",
  "the rotation request goes unanswered",
  "two runs at once",
  // the durable state: fresh clones of a project over days, a kill, two clones at once (issue 20)
  "issue 20: the state outlives the working copy",
  // locks: another user, a suspended holder (SIGSTOP / SIGCONT), every command that locks
  "two users of the host (uid 1234 and 4321",
  "a lock directory that cannot be made: one line, exit 1, in every command that locks",
  "a holder whose lock was broken while it was suspended stops before its next side effect",
  "rotate-lwa: a holder whose lock was broken while it was suspended does not ask Amazon",
  // the offline tour, a whole run of every command
  "npm run demo",
];
const grep = E2E.map((title) => title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");

// Mocha runs two test files at a time. The slowest start first: one started last would leave the run waiting on it alone.
const SLOWEST_FIRST = {
  fast: ["adopt", "rotate-lwa", "rotate-key", "verify", "lwa-only-commands", "credentials-delivery", "maintain", "rotation-safety", "status"],
  e2e: ["rotation-safety", "rotate-lwa", "verify", "quick-start", "maintain-fleet", "proxy", "credentials-delivery", "scripts", "cli"],
};
const suite = process.env.MOCHA_SUITE;
if (suite !== undefined && !(suite in SLOWEST_FIRST)) throw new Error(`MOCHA_SUITE=${suite}: expected fast or e2e`);
const slowestFirst = (SLOWEST_FIRST[suite] ?? SLOWEST_FIRST.fast).map((name) => `test/${name}.test.ts`);
const rest = fs
  .readdirSync("test")
  .filter((file) => file.endsWith(".test.ts"))
  .map((file) => `test/${file}`)
  .filter((file) => !slowestFirst.includes(file))
  .sort();

// MOCHA_SPEC (space-separated files) runs just those, e.g. tools/test-at-hours.sh.
const spec = process.env.MOCHA_SPEC ? process.env.MOCHA_SPEC.split(" ") : [...slowestFirst, ...rest];

module.exports = {
  // test/margins.js: every test's timeout at least a floor (120 s, e2e 300 s): margins, not measurements.
  require: ["./tools/register.js", "./test/margins.js"],
  spec,
  timeout: 20000,
  reporter: "spec",
  parallel: true,
  jobs: 2,
  ...(suite ? { grep, invert: suite === "fast" } : {}),
};
