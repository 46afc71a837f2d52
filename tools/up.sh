#!/usr/bin/env bash
# npm run up [-- <stack> [pulumi up flags...]]
# From a fresh clone to a deployed stack: installs the dependencies, logs in to Pulumi's local backend
# (state under ~/.pulumi; no Pulumi Cloud account) unless a backend is already chosen, selects or creates
# the stack, and runs `pulumi up`. Uses the user's own pulumi CLI, else the one the `pulumi` npm package
# downloads on first use. Pulumi runs in the project directory: this repository, unless SP_API_IAM_PROJECT_DIR
# names another (the commands' own rule, lib/pulumi.ts). A plain `pulumi up`: the program itself deploys the newest
# operational state when this working copy is behind the last deployment (src/state.ts), keeping your settings.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
shift || true

node tools/check-node.js || exit 2 # an unsupported Node: one line, before npm ci
[ -d node_modules/@pulumi/aws ] || npm ci

# The CLI to run, version-checked: the user's own on PATH (skipping the node_modules/.bin dirs `npm run` puts
# first, where the npm package's downloader answers to `pulumi`), else the package's. One rule with every other
# command (lib/pulumi-cli.ts); it says why on standard error when none may run. Key rotation relies on the
# replacementTrigger resource option, which older engines silently ignore.
pulumi=$(node -r ./tools/register.js lib/pulumi-cli.ts) || exit $? # 2: an unsupported Node (tools/check-node.js)

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! "$pulumi" whoami >/dev/null 2>&1; then
  "$pulumi" login --local
fi
if [ -n "${SP_API_IAM_PROJECT_DIR:-}" ]; then cd "$SP_API_IAM_PROJECT_DIR"; fi
# The selection is left as it was: with several customers, a stack selected as a side effect of `npm run up -- hooli`
# would be what a later bare command acts on (those that change anything refuse it: lib/stack-choice.ts). The stack
# is selected for the up alone, and the previous selection put back afterwards, whatever up's outcome.
previous=$("$pulumi" stack --show-name 2>/dev/null || true)
"$pulumi" stack select --create "$stack"
restore_selection() {
  if [ -n "$previous" ] && [ "$previous" != "$stack" ]; then
    "$pulumi" stack select "$previous" >/dev/null 2>&1 &&
      echo "The selected stack is still $previous (npm run up does not change it): name this one with --stack $stack."
  fi
}
trap restore_selection EXIT
"$pulumi" up "$@"
echo
if [ -n "$previous" ] && [ "$previous" != "$stack" ]; then
  echo "Next: npm run credentials -- --stack $stack, then npm run verify -- credentials.hjson (README, Quick start)."
else
  echo "Next: npm run credentials, then npm run verify -- credentials.hjson (README, Quick start)."
fi
