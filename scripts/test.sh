#!/usr/bin/env bash
# Runs every test of constellation-mqtt, after installing what the tests need
# (Mosquitto and its clients, for the external-broker tests). Used as is by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mosquitto and its clients for the external-broker tests, openssl for the TLS test.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
   || ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  echo "Installing Mosquitto and openssl (needed by the tests)…"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto mosquitto-clients openssl >/dev/null
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
