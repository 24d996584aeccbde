#!/usr/bin/env bash
# Builds the Debian package (target/debian/constellation-mqtt_<version>-1_<arch>.deb)
# with cargo-deb, installing cargo-deb when missing.
#
#   scripts/package-deb.sh                  # the release build
#   scripts/package-deb.sh --profile dev    # the debug build (what the tests use)
#
# The package holds the binary, its man page and shell completions, the systemd unit
# (examples/systemd/constellation-mqtt.service run as the constellation-mqtt user instead
# of a dynamic one), /etc/constellation-mqtt/topics.toml (init's file, the journal in
# /var/lib/constellation-mqtt) and the docs. The maintainer scripts are in packaging/debian/.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
profile=release
if [ "${1:-}" = "--profile" ]; then profile="${2:?--profile needs a name}"; fi
case "$profile" in dev|test) dir=debug ;; *) dir="$profile" ;; esac

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "Installing cargo-deb (builds the Debian package)…"
  cargo install --locked cargo-deb@3.8.0
fi
cargo build --locked --profile "$profile" --bin constellation-mqtt
bin="${CARGO_TARGET_DIR:-$repo/target}/$dir/constellation-mqtt"

out=packaging/debian/generated
rm -rf "$out"
mkdir -p "$out"
"$bin" man | gzip -9n > "$out/constellation-mqtt.1.gz"
"$bin" completions bash > "$out/constellation-mqtt.bash"
"$bin" completions zsh > "$out/_constellation-mqtt"
"$bin" completions fish > "$out/constellation-mqtt.fish"
"$bin" init "$out/etc" > /dev/null
{
  cat "$out/etc/topics.toml"
  printf '\n[storage]\ndir = "/var/lib/constellation-mqtt"   # the service'"'"'s state directory\n'
} > "$out/topics.toml"
rm -r "$out/etc"
{
  echo "# constellation-mqtt as a hardened systemd service, installed by its Debian package."
  echo "# Edit /etc/constellation-mqtt/topics.toml (secrets in secrets.env beside it, mode 600),"
  echo "# then: systemctl enable --now constellation-mqtt"
  sed -e '1,/^\[Unit\]/{/^\[Unit\]/!d}' \
      -e 's|/usr/local/bin/constellation-mqtt|/usr/bin/constellation-mqtt|' \
      -e 's|^DynamicUser=yes$|User=constellation-mqtt\nGroup=constellation-mqtt|' \
      examples/systemd/constellation-mqtt.service
} > "$out/constellation-mqtt.service"
grep -q '^User=constellation-mqtt$' "$out/constellation-mqtt.service"

cargo deb --no-build --profile "$profile" --output target/debian/
