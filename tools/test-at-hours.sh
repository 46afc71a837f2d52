#!/usr/bin/env bash
# Runs the date-sensitive test files as if it were 00:10, 11:50, 12:10 and 23:50 UTC today (each side of noon, where
# rounding to whole days flips, and each side of midnight, where "today" flips). The wall clock is moved by a preload
# (test/shift-clock.js) in every process of the run; timers keep real time. verify's tests are not among them: their
# fakes answer with the real time in HTTP Date headers, and the AWS SDK corrects its clock to that.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/node24.sh || exit 1
files=(test/adopt.test.ts test/lifecycle.test.ts test/maintain.test.ts test/maintain-fleet.test.ts test/program.test.ts test/rotate-key.test.ts test/rotate-lwa.test.ts test/status.test.ts)
failed=0
for hour in 00:10 11:50 12:10 23:50; do
  now_ms=$(date +%s%3N)
  target_ms=$(date -u -d "$(date -u +%F) $hour:00" +%s%3N)
  log=$(mktemp)
  if SP_API_TEST_CLOCK_OFFSET_MS=$((target_ms - now_ms)) NODE_OPTIONS="${NODE_OPTIONS:-} -r $PWD/test/shift-clock.js" \
    MOCHA_SPEC="${files[*]}" node_modules/.bin/mocha --reporter dot >"$log" 2>&1; then
    echo "At $hour UTC: $(grep -Eo '[0-9]+ passing' "$log")."
  else
    echo "At $hour UTC the date-sensitive tests failed:" >&2
    cat "$log" >&2
    failed=1
  fi
  rm -f "$log"
done
exit "$failed"
