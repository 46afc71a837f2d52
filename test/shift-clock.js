// Preload (node -r) that moves the wall clock by SP_API_TEST_CLOCK_OFFSET_MS, so the suite can be run as if it were
// another hour of the day (tools/test-at-hours.sh). Only Date moves; timers keep real time. The offset comes from the
// environment, computed once by the caller, so every process of a run (mocha's workers, the stand-in CLI, commands
// run through npm) agrees on one clock.
"use strict";
const offset = Number(process.env.SP_API_TEST_CLOCK_OFFSET_MS || 0);
if (offset) {
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = ShiftedDate;
}
