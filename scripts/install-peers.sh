#!/usr/bin/env bash
# Installs the real peers that `npm test` and `npm run bench` run against, from Debian's packages:
# clickhouse-server (the server backend's transport tests), mosquitto and mosquitto-clients (a second,
# real broker and `mosquitto_pub`), prometheus (for `promtool`: the ops kit's config, rules and every
# service's /metrics are checked with it), chromium (the dashboard's browser test drives it through
# playwright-core, which downloads no browser of its own), redis-server (the clustered broker's tests:
# two ingest instances sharing routing and persistence through it), zbar-tools (`zbarimg`: the peer QR
# decoder the image tests agree with), socat (pseudo-terminal pairs standing in for serial scanners). Idempotent: does nothing when
# they are already there.
set -euo pipefail

need=()
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/bin/clickhouse ] || need+=(clickhouse-server)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
command -v socat >/dev/null 2>&1 || need+=(socat)
# systemd: `systemd-analyze verify` and `security --offline` check the gateway's unit (edge-agent/deploy/).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# openssl: the trust-list tests make a CSCA-issued DSC and the gateway's CMS entry signatures with it.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# curl and jq: the README's tour asks the city's HTTP APIs with curl and picks fields with jq
# (cli/test/readme-tour.test.ts follows it word for word).
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
# python3-pymodbus: the real Modbus TCP and RTU slave of the Modbus source tests and the edge bench
# (test-peers/modbus-server.py); its RTU server needs python3-serial-asyncio, which it only recommends.
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || need+=(python3-pymodbus)
/usr/bin/python3 -c 'import serial_asyncio' >/dev/null 2>&1 || need+=(python3-serial-asyncio)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "install-peers: installing ${need[*]} from Debian's packages"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# An interrupted earlier install leaves dpkg half-configured.
$SUDO dpkg --configure -a || true
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-peers: done"
