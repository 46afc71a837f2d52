#!/usr/bin/env bash
# npm test: the type-check, lint and format check run beside the fast suite, not before it. The suite spends much
# of its time waiting on loopback peers and child processes, so on two cores the checks fit in those waits.
# Every part runs to its end; the run fails if any part failed. Arguments go to mocha (e.g. a test file).
# npm run test:e2e (MOCHA_SUITE=e2e): the end-to-end suite alone, without the checks (.mocharc.js says which tests).
set -uo pipefail
cd "$(dirname "$0")/.."
export bin=node_modules/.bin
# Before `npm ci` (a fresh clone): one line saying what to do.
[ -x node_modules/.bin/mocha ] || { echo "sp-api-iam: its dependencies are not installed: run npm ci first (in $PWD)." >&2; exit 1; }
# On a machine whose node is older than 22, the suite runs on Node 24 LTS (tools/node24.sh).
source tools/node24.sh || exit 1
export MOCHA_SUITE="${MOCHA_SUITE:-fast}"
if [ "$MOCHA_SUITE" = e2e ]; then
  exec "$bin/mocha" "$@"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Niced: the suite keeps the cores when both want them; the checks take what it leaves.
# Each check keeps a cache in node_modules/.cache (gone with the next npm ci), so a run after a small change checks
# what changed: tsc's own incremental build info, Prettier's cache (by content), and ESLint's cache (by content) for
# every file but the program's. The program (index.ts, src/) has Pulumi's rules, which read types from other files;
# ESLint's cache keys a result by the file alone, so it could keep a stale verdict (typescript-eslint#4694): the
# program is linted afresh each run.
export cache=node_modules/.cache
nice -n 10 bash -c '
  "$bin/tsc" --noEmit --noCheck false --incremental --tsBuildInfoFile "$cache/tsc/tsbuildinfo" || exit 1
  "$bin/eslint" --cache --cache-strategy content --cache-location "$cache/eslint/" --ignore-pattern index.ts --ignore-pattern "src/**" . || exit 1
  "$bin/eslint" index.ts src/ || exit 1
  "$bin/prettier" --check --cache --cache-strategy content --cache-location "$cache/prettier/cache.json" --log-level warn . || exit 1
' >"$log" 2>&1 &
checks=$!

"$bin/mocha" "$@"
tests=$?
wait "$checks"
static=$?

if [ "$static" -ne 0 ]; then
  echo "Type-check, lint or format check failed (tsc --noEmit, eslint ., prettier --check .):" >&2
  cat "$log" >&2
else
  echo "Type-check (tsc --noEmit), lint (eslint) and format check (prettier): passed."
fi
[ "$tests" -eq 0 ] && [ "$static" -eq 0 ]
