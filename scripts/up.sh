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

# Key rotation relies on the replacementTrigger resource option, which the engine honours from 3.208 on;
# an older CLI would silently ignore it, and a rotation would not replace the old key.
required=3.208.0
version=$("$pulumi" version | sed 's/^v//')
if [ "$(printf '%s\n%s\n' "$required" "$version" | sort -V | head -n1)" != "$required" ]; then
  echo "The Pulumi CLI on PATH is $version; this kit needs $required or later (pulumi.com/docs/install)," >&2
  echo "or remove it from PATH to use the one the pulumi npm package provides." >&2
  exit 1
fi

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! "$pulumi" whoami >/dev/null 2>&1; then
  "$pulumi" login --local
fi
"$pulumi" stack select --create "$stack"
"$pulumi" up "$@"
echo
echo "Next: npm run credentials, then npm run verify -- credentials.hjson (README, Quick start)."
