#!/usr/bin/env bash
# Fetches the second Node line the suite is tested on (Node 24 LTS) and prints the directory holding
# its `node`, for `PATH="$(bash scripts/node24.sh):$PATH" npx vitest run`. The binary comes from the
# npm registry only (the `node-linux-<arch>` package, the platform half of the registry's `node`
# package): `npm pack` fetches the tarball and checks it against the registry's integrity, and we
# check it again against the pinned one below, so a moved tag or a changed tarball fails loudly.
# Cached and idempotent: a second call prints the same directory without touching the network.
# The cache is $CITYOPS_NODE_CACHE, else $XDG_CACHE_HOME/cityops, else ~/.cache/cityops.
# The tarball also carries Node's headers (include/node), so a native module that ever needs a
# rebuild for Node 24 can use `npm rebuild --nodedir="$(dirname "$(bash scripts/node24.sh)")"`
# without a download; today every native module we load is Node-API and loads as is.
set -euo pipefail

version=24.22.3
case "$(uname -m)" in
  x86_64) arch=x64; integrity='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' ;;
  aarch64 | arm64) arch=arm64; integrity='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==' ;;
  *) echo "node24: no node-linux package pinned for $(uname -m)" >&2; exit 1 ;;
esac
if [ "$(uname -s)" != Linux ]; then
  echo "node24: only Linux is pinned (node-linux-$arch)" >&2
  exit 1
fi

cache="${CITYOPS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cityops}"
dir="$cache/node-v$version-linux-$arch"

if [ "$("$dir/bin/node" --version 2>/dev/null || true)" = "v$version" ]; then
  echo "$dir/bin"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.node24.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# npm's own messages go to stderr: stdout is the one line the caller reads.
(cd "$work" && npm pack "node-linux-$arch@$version" --silent >/dev/null)
tarball="$work/node-linux-$arch-$version.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$integrity" ]; then
  echo "node24: node-linux-$arch@$version integrity $actual, expected $integrity" >&2
  exit 1
fi
mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked" --strip-components=1 package/bin/node package/include
if [ "$("$work/unpacked/bin/node" --version)" != "v$version" ]; then
  echo "node24: the unpacked binary does not report v$version" >&2
  exit 1
fi
# Moved into place whole, so an interrupted run never leaves a half-unpacked cache that looks done.
rm -rf "$dir"
mv "$work/unpacked" "$dir"
echo "$dir/bin"
