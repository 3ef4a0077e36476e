#!/usr/bin/env bash
# Runs the test suite with the machine's clock a year ahead, then puts the clock back (real time =
# start + what the monotonic clock measured meanwhile). Shows that no test depends on today's date:
# faketime moves Node's clock only, while chDB, file times and Redis keep the real one, so the whole
# machine has to move. Sets the system clock: root on a machine of its own (a VM or CI runner), never
# on a shared host; commit nothing while it runs (commits would carry next year's date).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test-year-ahead: needs root (it sets the system clock)" >&2; exit 2; }
days="${1:-365}"
u0=$(cut -d' ' -f1 /proc/uptime)
t0=$(date +%s.%N)
restore() {
  local u1
  u1=$(cut -d' ' -f1 /proc/uptime)
  date -s "@$(python3 -c "print($t0 + $u1 - $u0)")" >/dev/null
  echo "test-year-ahead: clock back at $(date -u +%FT%TZ)"
}
trap restore EXIT
date -s "@$(python3 -c "print($t0 + $days * 86400)")" >/dev/null
echo "test-year-ahead: clock set to $(date -u +%FT%TZ)"
npx vitest run "${@:2}"
