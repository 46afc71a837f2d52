// A mocha root hook (loaded by .mocharc.js): every test's timeout is at least the suite's floor. A timeout is a
// margin for a hung test, never a measurement: on a loaded 2-core machine (other suites beside this one) a
// process start can take ten times its usual time, and a test that would pass must not fail for it.
// MOCHA_TIMEOUT_FLOOR_MS overrides the floor (0: the tests' own timeouts).
"use strict";

const FLOOR_MS = Number(process.env.MOCHA_TIMEOUT_FLOOR_MS ?? (process.env.MOCHA_SUITE === "e2e" ? 300_000 : 120_000));

module.exports.mochaHooks = {
  beforeEach() {
    const test = this.currentTest;
    if (test && test.timeout() > 0 && test.timeout() < FLOOR_MS) test.timeout(FLOOR_MS);
  },
};
