#!/usr/bin/env bash
# npm run up [-- <stack> [pulumi up flags...]]
# From a fresh clone to a deployed stack: installs the dependencies, logs in to Pulumi's local backend
# (state under ~/.pulumi; no Pulumi Cloud account) unless a backend is already chosen, selects or creates
# the stack, and runs `pulumi up`. Uses the pulumi CLI on PATH, else the one the `pulumi` npm package
# downloads on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
shift || true

[ -d node_modules/@pulumi/aws ] || npm ci
pulumi=$(command -v pulumi || echo node_modules/.bin/pulumi)

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! "$pulumi" whoami >/dev/null 2>&1; then
  "$pulumi" login --local
fi
"$pulumi" stack select --create "$stack"
"$pulumi" up "$@"
echo
echo "Next: npm run credentials, then npm run verify -- credentials.hjson (README, Quick start)."
