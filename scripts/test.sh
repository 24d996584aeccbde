#!/usr/bin/env bash
# Runs every test of constellation-mqtt, after installing what the tests need.
# Used as is by .ci/run; safe to run on a developer machine.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
