#!/usr/bin/env bash
# Runs every test of constellation-mqtt, after installing what the tests need
# (Mosquitto and its clients, for the external-broker tests; openssl for the TLS test;
# Chromium and its WebDriver, for the consoles' browser tests).
# Used as is by .ci/run.
#
# The tests run in a copy of the repository's files in a temporary directory emptied
# first, with nothing beside it: they prove that the crate needs nothing outside itself, as
# in a user's fresh clone. The build cache (target/) is shared with this checkout.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
   || ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v mosquitto_passwd >/dev/null 2>&1 \
   || ! command -v openssl >/dev/null 2>&1; then
  echo "Installing Mosquitto and openssl (needed by the tests)…"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto mosquitto-clients openssl >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "Installing Chromium and chromedriver (needed by the browser tests)…"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Always the same directory: the test binaries keep their `CARGO_MANIFEST_DIR` (cargo
# does not rebuild a binary only because the package moved), so one built by an earlier
# run still finds its files. One run at a time.
scratch="${TMPDIR:-/tmp}/constellation-mqtt-tests"
rm -rf "$scratch"
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
copy="$scratch/constellation-mqtt"
mkdir "$copy"
# Tracked files and new ones not ignored: what a clone of this work would hold.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
  | tar --null -T - -cf -) | tar -xf - -C "$copy"
# The copy is alone in its directory: nothing beside it for a test to reach.
if [ "$(ls -A "$scratch")" != "constellation-mqtt" ]; then
  echo "error: $copy is not alone in $scratch" >&2
  exit 1
fi
echo "Testing a copy of the repository in $copy (nothing beside it)"

cd "$copy"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets

# The Debian package, installed and checked from its files (needs root: sudo when present).
scripts/test-deb.sh
# The container image and compose file, where a container engine answers.
scripts/test-container.sh
