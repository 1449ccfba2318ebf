#!/usr/bin/env bash
# Builds the module and starts redis-server with it loaded, using redis.conf,
# in the background. Data, log and pid file go to data/.
#   PORT=6380 bash scripts/run.sh    another port (default 6379)
#   redis-cli -p PORT shutdown       stop it
# Run it again after a change: it restarts its own server (data kept) with the
# new build. A server on the port that this script did not start is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release
port="${PORT:-6379}"
data="$PWD/data"
log="$data/redis-$port.log"
pidfile="$data/redis-$port.pid"
mkdir -p "$data"

if redis-cli -p "$port" ping >/dev/null 2>&1; then
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    # Ours: the pid file names a redis-server working in data/ (redis.conf's dir).
    if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ]; then
        echo "restarting the server this script started on port $port (pid $pid)"
        redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    else
        echo "another server answers on port $port: stop it (redis-cli -p $port shutdown) or choose a port: PORT=6380 bash scripts/run.sh" >&2
        exit 1
    fi
fi

# data/ holds one server's RDB and AOF: never start a second one on it.
for other in "$data"/redis-*.pid; do
    opid="$(cat "$other" 2>/dev/null || true)"
    if [ -n "$opid" ] && [ "$(readlink "/proc/$opid/cwd" 2>/dev/null)" = "$data" ]; then
        echo "the server this script started from $other (pid $opid) still uses $data: stop it first (redis-cli -p <its port> shutdown)" >&2
        exit 1
    fi
done

redis-server ./redis.conf --port "$port" --daemonize yes --logfile "$log" --pidfile "$pidfile"
for _ in $(seq 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done
if ! redis-cli -p "$port" module list | grep -q '^like$'; then
    echo "redis-server did not start with the module; its log ($log) ends with:" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
cat <<INFO
redis-server with the LIKE module is up on port $port.
  data (dump.rdb, appendonlydir/): $data
  log:                             $log
  pid file:                        $pidfile
try:  redis-cli -p $port LIKE.ADD post:1 42
stop: redis-cli -p $port shutdown
INFO
