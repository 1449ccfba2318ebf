#!/usr/bin/env bash
# Builds the module and starts redis-server with it loaded, using redis.conf.
# PORT=6380 bash scripts/run.sh to use another port. Stop: redis-cli -p PORT shutdown
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release
port="${PORT:-6379}"
mkdir -p data
if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "a server already answers on port $port: stop it (redis-cli -p $port shutdown) or set PORT" >&2
    exit 1
fi
redis-server ./redis.conf --port "$port" --daemonize yes \
    --logfile "$PWD/data/redis.log" --pidfile "$PWD/data/redis.pid"
for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$port" module list
echo "redis-server with the LIKE module is up on port $port (log: data/redis.log)."
echo "try: redis-cli -p $port LIKE.ADD post:1 42   |   stop: redis-cli -p $port shutdown"
