#!/usr/bin/env bash
# Runs the whole test suite: the set-up check, unit and property tests of the
# like-set, and the integration tests against real redis-server processes
# (single node, replica, cluster) with the module loaded.
#
# The tests start the first `redis-server` on PATH; to test another server
# build, put its directory first:
#   PATH=/opt/redis-7.4/bin:$PATH bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Installs what is missing, then stops with one line per need it could not meet.
bash scripts/deps.sh
echo "testing against: $(command -v redis-server): $(redis-server --version)"
cargo build --release
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --no-fail-fast -- --test-threads=2 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (unit, property and integration tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "\nsuite: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
