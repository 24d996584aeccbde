#!/usr/bin/env bash
# Builds the release adapter and the load harness, then runs the harness's scenarios
# (all by default: raw uplink latency downlink idle overload). Figures go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin constellation-mqtt --example load
exec target/release/examples/load "$@"
