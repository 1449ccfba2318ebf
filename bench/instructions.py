#!/usr/bin/env python3
"""Instructions per request, LIKE/REACT commands against their native twins, counted by callgrind.

    bench/.venv/bin/python bench/instructions.py [--module target/release/liblike.so] [--requests N]

Starts redis-server under `valgrind --tool=callgrind` with the module, loads the same data as module
keys and as native keys, then for each command runs N requests pipelined 16 deep from one client,
between `callgrind_control -z` (zero the counters) and `callgrind_control -d` (dump them). Printed
figure = whole-server instructions of the dump / requests (or / items for the 50-key commands):
parsing, dispatch, the command, the reply. Unlike timings on a shared 2-core machine, these do not
move between runs. Takes ~3 minutes (the server runs ~50x slower under callgrind).

Data: 10,000 items of 100 users from [0, 10,000) + 10^12 (as the throughput section's): a LIKE key and
a SET per item; for reactions, 2-kind (like/dislike) and 7-kind families, each item a REACT key and the
two hashes of the native way (user -> kind, kind -> count) updated by the Lua script of the reactions
section. A REACT.STATUS / LIKE.STATUS request covers 50 items; its native twin is 50 HGETALL + 50 HGET
(50 SCARD + 50 SISMEMBER), per item.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadbench import REACT_LUA, free_port  # noqa: E402

ITEMS = 10_000
USERS = 100
KINDS = {2: ["like", "dislike"], 7: ["like", "love", "care", "haha", "wow", "sad", "angry"]}
FEED = 50


def uid(x):
    return 10 ** 12 + x


def load(r, rng):
    p = r.pipeline(transaction=False)
    for i in range(ITEMS):
        users = [uid(x) for x in rng.sample(range(ITEMS), USERS)]
        p.execute_command("LIKE.ADD", f"l:{i}", *users)
        p.execute_command("SADD", f"s:{i}", *users)
        for nk, kinds in KINDS.items():
            pairs = []
            for j, kind in enumerate(kinds):
                part = users[j::nk]
                p.execute_command("REACT.ADD", f"r{nk}:{i}", kind, *part)
                pairs += [v for u in part for v in (u, kind)]
            p.execute_command("HSET", f"h{nk}:{i}", *pairs)
            p.execute_command("HSET", f"h{nk}:{i}:c", *[v for j, k in enumerate(kinds)
                                                       for v in (k, len(users[j::nk]))])
        if len(p) >= 512:
            p.execute()
    p.execute()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default="target/release/liblike.so")
    ap.add_argument("--requests", type=int, default=20_000)
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install valgrind redis-server)")
    module = os.path.abspath(args.module)
    tmp = tempfile.mkdtemp(prefix="like-callgrind-")
    port = free_port()
    out = os.path.join(tmp, "cg.out")
    srv = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                            "redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                            "--dir", tmp, "--loadmodule", module],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis(port=port)
    try:
        for _ in range(600):
            try:
                r.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        rng = random.Random(7)
        load(r, rng)
        sha = r.script_load(REACT_LUA)
        n = args.requests
        ids = [uid(rng.randrange(ITEMS)) for _ in range(n)]
        keys = [rng.randrange(ITEMS) for _ in range(n)]
        feeds = [[rng.randrange(ITEMS) for _ in range(FEED)] for _ in range(n // FEED)]

        def single(fmt):
            return lambda: (fmt(keys[i], ids[i], i) for i in range(n))

        def feed_native(a, b):
            return lambda: (c for f, u in zip(feeds, ids) for k in f for c in (a(k), b(k, u)))

        def kind(nk, i):
            return KINDS[nk][i % nk]

        # name, module command stream, native command stream, requests per figure
        pairs = [
            ("PING (floor)", single(lambda k, u, i: ("PING",)), None, n),
            ("LIKE.HAS / SISMEMBER", single(lambda k, u, i: ("LIKE.HAS", f"l:{k}", u)),
             single(lambda k, u, i: ("SISMEMBER", f"s:{k}", u)), n),
            ("LIKE.COUNT / SCARD", single(lambda k, u, i: ("LIKE.COUNT", f"l:{k}")),
             single(lambda k, u, i: ("SCARD", f"s:{k}")), n),
            ("LIKE.ADD / SADD (new keys)", single(lambda k, u, i: ("LIKE.ADD", f"la:{i}", u)),
             single(lambda k, u, i: ("SADD", f"sa:{i}", u)), n),
            ("LIKE.ADD / SADD (100 likes)", single(lambda k, u, i: ("LIKE.ADD", f"l:{k}", u + ITEMS)),
             single(lambda k, u, i: ("SADD", f"s:{k}", u + ITEMS)), n),
            ("LIKE.DEL / SREM (100 likes)", single(lambda k, u, i: ("LIKE.DEL", f"l:{k}", u + ITEMS)),
             single(lambda k, u, i: ("SREM", f"s:{k}", u + ITEMS)), n),
            ("LIKE.STATUS x50 / SCARD + SISMEMBER, per key",
             lambda: (("LIKE.STATUS", u, *[f"l:{k}" for k in f]) for f, u in zip(feeds, ids)),
             feed_native(lambda k: ("SCARD", f"s:{k}"), lambda k, u: ("SISMEMBER", f"s:{k}", u)), n),
        ]
        for nk in KINDS:
            pairs += [
                (f"REACT.SET / Lua script, {nk} kinds",
                 single(lambda k, u, i, nk=nk: ("REACT.SET", f"r{nk}:{k}", u, kind(nk, i))),
                 single(lambda k, u, i, nk=nk: ("EVALSHA", sha, 1, f"h{nk}:{k}", u, kind(nk, i))), n),
                (f"REACT.STATUS x50 / HGETALL + HGET, {nk} kinds, per item",
                 lambda nk=nk: (("REACT.STATUS", u, *[f"r{nk}:{k}" for k in f]) for f, u in zip(feeds, ids)),
                 feed_native(lambda k, nk=nk: ("HGETALL", f"h{nk}:{k}:c"),
                             lambda k, u, nk=nk: ("HGET", f"h{nk}:{k}", u)), n),
            ]
        pid = str(srv.pid)
        dumps = 0

        def count(stream, per):
            nonlocal dumps
            subprocess.run(["callgrind_control", "-z", pid], capture_output=True, check=True)
            p = r.pipeline(transaction=False)
            for c in stream():
                p.execute_command(*c)
                if len(p) >= 16:
                    p.execute()
            p.execute()
            subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
            dumps += 1
            path = f"{out}.{pid}.{dumps}"
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.1)
            with open(path) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        return int(line.split()[1]) / per
            raise RuntimeError(f"no totals in {path}")

        print(f"| command | module instr/req | native instr/req | module / native |")
        print("|---|---:|---:|---:|")
        for name, mod, nat, per in pairs:
            a = count(mod, per)
            b = count(nat, per) if nat else None
            cells = f"{b:,.0f} | {a / b:.3f}" if b else " | "
            print(f"| {name} | {a:,.0f} | {cells} |", flush=True)
    finally:
        try:
            r.shutdown(nosave=True)
        except redis.exceptions.RedisError:
            pass
        srv.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
