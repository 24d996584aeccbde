#!/usr/bin/env bash
# The container image and packaging/compose/compose.yaml as a user runs them: built,
# started with Mosquitto and the simulator, a device's publish seen by the server through
# the adapter, then stopped and removed. Needs a container engine (Docker with compose);
# without one answering, it says so and tests nothing. Run by scripts/test.sh.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "NOTE: the container image and compose file were NOT tested: no container engine" \
       "answers here (docker info failed)" >&2
  exit 0
fi
compose=(docker compose -f packaging/compose/compose.yaml -p constellation-mqtt-test)
fail() { echo "error: container: $*" >&2; "${compose[@]}" logs >&2 || true; exit 1; }
trap '"${compose[@]}" down -v >/dev/null 2>&1 || true' EXIT

"${compose[@]}" up -d --build
# Each wait polls a condition with a deadline (60 s).
wait_for() {
  local what="$1"; shift
  for _ in $(seq 1 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "$what"
}
wait_for "the adapter's /readyz" curl -fsS http://127.0.0.1:8089/readyz
"${compose[@]}" exec -T mosquitto \
  mosquitto_pub -q 1 -t constellation/Compose/Device/stateobject/Temperature -m 21.5
wait_for "the StateObject at the simulator" sh -c \
  "curl -fsS 'http://127.0.0.1:8088/rest/constellation/RequestStateObjects?SentinelName=Consumer&PackageName=test&AccessKey=demo&sentinel=Compose&package=Device&name=Temperature' | grep -q 21.5"
echo "Container: built, started with Mosquitto and the simulator, a publish reached the server"
