#!/usr/bin/env bash
# npm run credentials [-- <file>]
# Writes the selected stack's credentials block to <file> (default credentials.hjson), readable by its
# owner only. The block holds secrets; the file is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-credentials.hjson}"
pulumi=$(command -v pulumi || echo node_modules/.bin/pulumi)

umask 077
tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
"$pulumi" stack output --show-secrets credentials > "$tmp"
chmod 600 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "Wrote $out (mode 600). Paste its credentials block into the job config; then delete the file or keep it private."
