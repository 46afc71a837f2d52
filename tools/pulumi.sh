#!/usr/bin/env bash
# npm run pulumi -- <pulumi arguments>
# The Pulumi CLI the kit's commands use (lib/pulumi-cli.ts: yours on PATH when it is 3.208 or later, else the one the
# `pulumi` npm package downloads on first use), run in the project directory, so README's steps need no pulumi on
# PATH. Like `npm run up`, it logs in to Pulumi's local backend (state under ~/.pulumi) unless a backend is already
# chosen, so a first `npm run pulumi -- stack select --create dev` does not ask for a Pulumi Cloud account.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || { echo "sp-api-iam: its dependencies are not installed: run npm ci first (in $PWD)." >&2; exit 1; }
pulumi=$(node -r ./tools/register.js lib/pulumi-cli.ts) || exit $? # 2: an unsupported Node (tools/check-node.js)
# The project directory the commands use (lib/pulumi.ts): this repository, unless SP_API_IAM_PROJECT_DIR names another.
if [ -n "${SP_API_IAM_PROJECT_DIR:-}" ]; then cd "$SP_API_IAM_PROJECT_DIR"; fi
case "${1:-}" in
  login | logout | whoami | version | about | help | --help | -h | "") ;;
  *)
    if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! "$pulumi" whoami >/dev/null 2>&1; then
      "$pulumi" login --local >&2
    fi
    ;;
esac
exec "$pulumi" "$@"
