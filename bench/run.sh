#!/usr/bin/env bash
# The load benchmark of the LIKE module, in one command (from the repository root):
#
#     bash bench/run.sh            # full run, about 30 minutes on 2 cores
#     bash bench/run.sh --quick    # smoke test, 7-8 minutes (not reference figures)
#     (both include 3-4 minutes of building the baseline module; BASELINE=none skips it)
#
# Installs what is missing (redis-server/redis-benchmark from Debian, Python deps in
# bench/.venv), builds the module with `cargo build --release`, then runs bench/loadbench.py,
# which starts its own redis-server with the module loaded and writes bench/results/
# (results.md, results.json, memory.png). Extra arguments go to loadbench.py
# (see `bash bench/run.sh --help`).
#
# BASELINE=<git ref> (default 27fa9c9, the last commit before reactions; BASELINE=none skips):
# the reactions section compares LIKE.* on like-only keys against the module built from that
# ref. It is built in a temporary `git worktree` (own CARGO_TARGET_DIR, `cargo build --release`),
# its liblike.so copied to a temp file, the worktree removed; loadbench.py gets
# `--baseline-module FILE`. The repository's working tree and index are not touched. Skipped
# when the run has no reactions section (--only without it, --report-only, --help).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

# 1. redis-server, redis-benchmark, redis-cli (and libclang for the module's bindgen build)
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "== installing redis-server redis-tools libclang-dev (apt-get)"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools libclang-dev
fi

# 2. Python deps: numpy, matplotlib (the plot), redis-py (the client)
PY=python3
pyok() { "$1" -c 'import numpy, matplotlib, redis' >/dev/null 2>&1; }
if pyok python3; then
    PY=python3
elif [ -x bench/.venv/bin/python ] && pyok bench/.venv/bin/python; then
    PY=bench/.venv/bin/python
else
    echo "== installing Python deps (numpy matplotlib redis) into bench/.venv"
    if python3 -m venv bench/.venv >/dev/null 2>&1; then
        bench/.venv/bin/pip install -q --disable-pip-version-check numpy matplotlib redis
        PY=bench/.venv/bin/python
    else
        rm -rf bench/.venv
        python3 -m pip install -q --user numpy matplotlib redis
        PY=python3
    fi
fi

# 3. the module
echo "== cargo build --release"
cargo build --release
if [ ! -f target/release/liblike.so ]; then
    echo "target/release/liblike.so not found after the build" >&2
    exit 1
fi

# 4. the baseline module (BASELINE=<git ref>), for the reactions section's before/after of LIKE.*
BASELINE=${BASELINE-27fa9c9}
want_base=1
prev=""
for a in "$@"; do
    case "$a" in
        --report-only | --help | -h) want_base=0 ;;
        --only=*) [[ ",${a#--only=}," == *,reactions,* ]] || want_base=0 ;;
    esac
    if [ "$prev" = "--only" ] && [[ ",$a," != *,reactions,* ]]; then
        want_base=0
    fi
    prev=$a
done
BASE_ARGS=()
BASE_TMP=""
BASE_WT=""
cleanup() {
    if [ -n "$BASE_WT" ] && [ -d "$BASE_WT" ]; then
        git -C "$ROOT" worktree remove --force "$BASE_WT" >/dev/null 2>&1 || true
    fi
    if [ -n "$BASE_TMP" ]; then
        rm -rf "$BASE_TMP"
    fi
}
trap cleanup EXIT
if [ -n "$BASELINE" ] && [ "$BASELINE" != "none" ] && [ "$want_base" = 1 ]; then
    if ! BASE_SHA=$(git -C "$ROOT" rev-parse --verify --quiet "$BASELINE^{commit}"); then
        echo "BASELINE=$BASELINE is not a commit of this repository (a shallow clone? git fetch --unshallow;" \
             "or BASELINE=none to skip the before/after comparison)" >&2
        exit 1
    fi
    BASE_SHORT=$(git -C "$ROOT" rev-parse --short "$BASE_SHA")
    BASE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/like-baseline.XXXXXX")
    BASE_WT="$BASE_TMP/src"
    echo "== baseline module: $BASELINE ($BASE_SHORT), cargo build --release in a temporary worktree"
    # --detach: no branch is created; the worktree's files and index are its own
    git -C "$ROOT" worktree add --quiet --detach "$BASE_WT" "$BASE_SHA"
    (cd "$BASE_WT" && CARGO_TARGET_DIR="$BASE_TMP/target" cargo build --release)
    if [ ! -f "$BASE_TMP/target/release/liblike.so" ]; then
        echo "liblike.so of $BASELINE not found after the build" >&2
        exit 1
    fi
    cp "$BASE_TMP/target/release/liblike.so" "$BASE_TMP/liblike-$BASE_SHORT.so"
    git -C "$ROOT" worktree remove --force "$BASE_WT"
    BASE_WT=""
    rm -rf "$BASE_TMP/target"
    BASE_LABEL=$BASE_SHORT
    [[ "$BASE_SHA" == "$BASELINE"* ]] || BASE_LABEL="$BASELINE ($BASE_SHORT)"
    BASE_ARGS=(--baseline-module "$BASE_TMP/liblike-$BASE_SHORT.so" --baseline-label "$BASE_LABEL")
fi

# 5. the benchmark
echo "== bench/loadbench.py ${BASE_ARGS[*]} $*"
"$PY" bench/loadbench.py "${BASE_ARGS[@]}" "$@"
