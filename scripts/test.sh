#!/usr/bin/env bash
# Runs the whole test suite: unit and property tests of the like-set, and the
# integration tests against real redis-server processes (single node,
# replica, cluster) with the module loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# Debian's package starts a redis-server on 6379; the tests use their own ports.
cargo build --release
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --release -- --test-threads=2 2>&1 | tee "$log"
# One closing line for the whole suite (unit, property and integration tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "\nsuite: %d passed, %d failed\n", p, f }' "$log"
