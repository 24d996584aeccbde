#!/usr/bin/env bash
# The Debian package as a user gets it: built (from the debug build), installed with
# dpkg -i, then checked from the installed files: its user, state directory, unit,
# conffile, man page, and `constellation-mqtt check` run as the service's user with the
# installed configuration against the installed simulator. Purged at the end.
# Needs root (sudo is used when present); run by scripts/test.sh.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "NOTE: the Debian package was NOT tested: installing it needs root (or sudo)" >&2
  exit 0
fi
if dpkg-query -W -f='${Status}' constellation-mqtt 2>/dev/null | grep -q "installed"; then
  echo "NOTE: the Debian package was NOT tested: constellation-mqtt is already installed" \
       "on this machine, and the test would replace then purge it" >&2
  exit 0
fi

scripts/package-deb.sh --profile dev
deb="$(ls -t target/debian/constellation-mqtt_*.deb 2>/dev/null | head -n 1)"
if [ -z "$deb" ]; then deb="$(ls -t "${CARGO_TARGET_DIR:-target}"/debian/constellation-mqtt_*.deb | head -n 1)"; fi
echo "Installing $deb"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
  $sudo dpkg --purge constellation-mqtt >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "error: Debian package: $*" >&2; exit 1; }

$sudo dpkg -i "$deb"
getent passwd constellation-mqtt >/dev/null || fail "no constellation-mqtt user"
[ "$(stat -c '%U %a' /var/lib/constellation-mqtt)" = "constellation-mqtt 700" ] \
  || fail "/var/lib/constellation-mqtt: $(stat -c '%U %a' /var/lib/constellation-mqtt)"
[ "$(stat -c '%G %a' /etc/constellation-mqtt/topics.toml)" = "constellation-mqtt 640" ] \
  || fail "/etc/constellation-mqtt/topics.toml: $(stat -c '%G %a' /etc/constellation-mqtt/topics.toml)"
dpkg-query -W -f='${Conffiles}\n' constellation-mqtt | grep -q /etc/constellation-mqtt/topics.toml \
  || fail "topics.toml is not a conffile"
unit="$(dpkg -L constellation-mqtt | grep '/systemd/system/constellation-mqtt.service$')" \
  || fail "no systemd unit"
grep -q '^User=constellation-mqtt$' "$unit" || fail "$unit does not run as constellation-mqtt"
grep -q '^ExecStart=/usr/bin/constellation-mqtt run --config /etc/constellation-mqtt/topics.toml$' "$unit" \
  || fail "$unit does not start the installed binary"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$unit" 2>&1 | { ! grep constellation-mqtt; } || fail "systemd-analyze verify $unit"
else
  echo "NOTE: systemd-analyze is not installed: the installed unit was not verified" >&2
fi
[ -f /usr/share/man/man1/constellation-mqtt.1.gz ] || fail "no man page"
[ -f /usr/share/bash-completion/completions/constellation-mqtt ] || fail "no bash completion"

# The installed simulator on an ephemeral port; its banner gives the URL.
out="$(mktemp)"
/usr/bin/constellation-mqtt sim --listen 127.0.0.1:0 > "$out" 2>/dev/null &
sim_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(grep -o 'http://[^ ]*' "$out" | head -n 1 || true)"
  [ -n "$url" ] && break
  kill -0 "$sim_pid" 2>/dev/null || fail "the simulator did not start"
  sleep 0.1
done
[ -n "$url" ] || fail "the simulator printed no URL"

cd /
as_user=(runuser -u constellation-mqtt -- env "CONSTELLATION_MQTT__CONSTELLATION__URL=$url")
$sudo "${as_user[@]}" /usr/bin/constellation-mqtt check --config /etc/constellation-mqtt/topics.toml \
  || fail "check from the installed files failed"
$sudo "${as_user[@]}" /usr/bin/constellation-mqtt journal --config /etc/constellation-mqtt/topics.toml \
  || fail "the service's user cannot open its journal in /var/lib/constellation-mqtt"
rm -f "$out"

cleanup
sim_pid=""
trap - EXIT
! getent passwd constellation-mqtt >/dev/null || fail "purge left the constellation-mqtt user"
[ ! -e /var/lib/constellation-mqtt ] || fail "purge left /var/lib/constellation-mqtt"
echo "Debian package: installed, checked from its files as its user, purged"
