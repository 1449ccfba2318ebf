#!/usr/bin/env bash
# The load benchmark of the LIKE module, in one command (from the repository root):
#
#     bash bench/run.sh            # full run, about 15 minutes on 2 cores
#     bash bench/run.sh --quick    # smoke test, 2-3 minutes (not reference figures)
#
# Installs what is missing (redis-server/redis-benchmark from Debian, Python deps in
# bench/.venv), builds the module with `cargo build --release`, then runs bench/loadbench.py,
# which starts its own redis-server with the module loaded and writes bench/results/
# (results.md, results.json, memory.png). Extra arguments go to loadbench.py
# (see `bash bench/run.sh --help`).
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

# 4. the benchmark
echo "== bench/loadbench.py $*"
exec "$PY" bench/loadbench.py "$@"
