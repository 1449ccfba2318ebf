#!/usr/bin/env python3
"""Memory of small keys, LIKE against SET, at every size given: the per-size table of
docs/benchmarks.md (Snowflake and 63-bit IDs from 8 to 63 likes).

    bench/.venv/bin/python bench/small_sizes.py target/release/liblike.so snowflake,u63 8,9,10,11

For each shape and size: 20,000 keys of that many IDs of the shape (loadbench.py's `shape_rows`),
each loaded with one SADD / LIKE.ADD of all its IDs, the `used_memory` delta per key
(`mem_measure_one`), SET and LIKE loaded twice, alternately; prints their means and LIKE - SET.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import loadbench as lb  # noqa: E402

NKEYS = 20_000


def main():
    module, shapes, sizes = os.path.abspath(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
    srv = lb.Server(module, "small")
    rng = np.random.default_rng(11)
    try:
        for shape in shapes:
            for n in map(int, sizes):
                frags = [lb.ids_resp(r) for r in lb.shape_rows(shape, rng, NKEYS, n)]
                per = {b"SADD": [], b"LIKE.ADD": []}
                for name in (b"SADD", b"LIKE.ADD", b"SADD", b"LIKE.ADD"):
                    lines = (lb.cmd(name, b"m:%d" % k, frags[k]) for k in range(NKEYS))
                    per[name].append(lb.mem_measure_one(srv, lines) / NKEYS)
                s, like = np.mean(per[b"SADD"]), np.mean(per[b"LIKE.ADD"])
                print(f"{shape} n={n}: SET {s:.1f} B/key, LIKE {like:.1f} B/key, LIKE-SET {like - s:+.1f}",
                      flush=True)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
