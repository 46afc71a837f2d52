#!/usr/bin/env bash
# npm run up [-- <stack> [pulumi up flags...]]
# From a fresh clone to a deployed stack: installs the dependencies, logs in to Pulumi's local backend
# (state under ~/.pulumi; no Pulumi Cloud account) unless a backend is already chosen, selects or creates
# the stack, and runs `pulumi up`. Uses the user's own pulumi CLI, else the one the `pulumi` npm package
# downloads on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
stack="${1:-dev}"
shift || true

[ -d node_modules/@pulumi/aws ] || npm ci

# `npm run` puts node_modules/.bin dirs first on PATH, where the npm package's downloader answers to
# `pulumi`; the user's own CLI is looked for on PATH as the user had it, without those dirs.
user_path=
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  case "$dir" in
    node_modules/.bin | node_modules/.bin/ | */node_modules/.bin | */node_modules/.bin/) ;;
    *) user_path="${user_path:+$user_path:}$dir" ;;
  esac
done
if pulumi=$(PATH="$user_path" command -v pulumi); then
  source_of_cli="the Pulumi CLI on your PATH ($pulumi)"
else
  pulumi="$root/node_modules/.bin/pulumi"
  source_of_cli="the Pulumi CLI of the pulumi npm package"
fi

# Key rotation relies on the replacementTrigger resource option, which the engine honours from 3.208 on;
# an older CLI would silently ignore it, and a rotation would not replace the old key.
required=3.208.0
version=$("$pulumi" version | sed 's/^v//')
if [ "$(printf '%s\n%s\n' "$required" "$version" | sort -V | head -n1)" != "$required" ]; then
  echo "$source_of_cli is $version; this kit needs $required or later (pulumi.com/docs/install)." >&2
  if [ "$pulumi" != "$root/node_modules/.bin/pulumi" ]; then
    echo "Upgrade it, or remove it from PATH to use the one the pulumi npm package provides." >&2
  fi
  exit 1
fi

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! "$pulumi" whoami >/dev/null 2>&1; then
  "$pulumi" login --local
fi
"$pulumi" stack select --create "$stack"
"$pulumi" up "$@"
echo
echo "Next: npm run credentials, then npm run verify -- credentials.hjson (README, Quick start)."
