#!/usr/bin/env bash
# Runs every check and test: the set-up check, formatting and lints, the
# unit and property tests of the plain-Rust core in a debug build (so every
# debug_assert! runs), then the whole suite against real redis-server
# processes (single node, replica, cluster) with the release module loaded.
#
# The tests start the first `redis-server` on PATH; to test another server
# build, put its directory first:
#   PATH=/opt/redis-7.4/bin:$PATH bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Installs what is missing, then stops with one line per need it could not meet.
bash scripts/deps.sh
echo "testing against: $(command -v redis-server): $(redis-server --version)"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
echo "== unit and property tests, debug build (debug_assert! on)"
cargo test --lib 2>&1 | tee -a "$log" || status=$?
echo "== the whole suite, against the release module"
cargo build --release
# The test binaries in their own profile (no LTO: they are clients), the
# module they load the release build.
LIKE_MODULE="$PWD/target/release/liblike.so" \
    cargo test --profile release-test --no-fail-fast -- --test-threads=2 2>&1 | tee -a "$log" || status=$?
# One closing line for everything above.
awk '/^test result:/ { p += $4; f += $6 } END { printf "\nsuite: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
