#!/usr/bin/env bash
# `cityops` from source, with the allocator settings of scripts/memory.env (each one overridable
# from the environment). `npm start` is `scripts/cityops.sh up`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
while IFS='=' read -r key value; do
  [[ -z "$key" || "$key" == \#* ]] && continue
  [[ -z "${!key:-}" ]] && export "$key=$value"
done < "$here/memory.env"
# The bin shim: tsx resolved from the checkout, not the cwd (cli/bin/cityops.js).
exec node "$here/../cli/bin/cityops.js" "$@"
