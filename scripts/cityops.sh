#!/usr/bin/env bash
# `cityops` from source, with the allocator settings of scripts/memory.env (each one overridable
# from the environment). `npm start` is `scripts/cityops.sh up`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
while IFS='=' read -r key value; do
  [[ -z "$key" || "$key" == \#* ]] && continue
  [[ -z "${!key:-}" ]] && export "$key=$value"
done < "$here/memory.env"
# The bin shim: tsx resolved from the checkout, not the cwd (cli/bin/cityops.js). The broker's own
# node flags (CITYOPS_INGEST_NODE_FLAGS, words) given here, so the shim has nothing to re-run for.
flags=""
[[ "${1:-}" == "ingest" ]] && flags="${CITYOPS_INGEST_NODE_FLAGS:-}"
# shellcheck disable=SC2086
exec node $flags "$here/../cli/bin/cityops.js" "$@"
