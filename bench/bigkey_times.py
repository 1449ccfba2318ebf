"""Server time per call of single-ID writes and reads on one big key, LIKE against a native SET of
the same IDs, repeated in rounds: how the shapes section's 10M-like rows move from run to run.

    bench/.venv/bin/python bench/bigkey_times.py [--module target/release/liblike.so]
        [--shape snowflake] [--n 10000000] [--rounds 4] [--age]

Starts its own redis-server with the module (loadbench.Server), loads one key of `--n` IDs of
`--shape` (loadbench.py's shapes) as LIKE.ADD, times `--rounds` rounds of loadbench's
`shape_call_times` (5 batches of 20,000 single-ID calls each, median batch, rounds with host
steal over 3% redone), then the same for the SET. `--age` first loads and flushes a 10M-like
uniform-2^32 key as LIKE and as a SET, as the shapes section does before its Snowflake rows:
a heap that has held other big keys is slower for both. Prints one line per round (µs per call).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadbench as lb  # noqa: E402


def frags_of(row, n):
    return [lb.ids_resp(row[j:j + lb.IDS_PER_CMD]) for j in range(0, n, lb.IDS_PER_CMD)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default="target/release/liblike.so")
    ap.add_argument("--shape", default="snowflake", choices=sorted(lb.SHAPES))
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--age", action="store_true")
    args = ap.parse_args()
    srv = lb.Server(os.path.abspath(args.module), "bigkey")
    try:
        rng = np.random.default_rng(7)
        if args.age:
            frags = frags_of(lb.shape_rows("u32", rng, 1, 10_000_000)[0], 10_000_000)
            for name in (b"LIKE.ADD", b"SADD"):
                lb.mem_measure_one(srv, (lb.cmd(name, b"m:0", c) for c in frags))
                srv.flush()
        rows = lb.shape_rows(args.shape, rng, 1, args.n)
        frags = frags_of(rows[0], args.n)
        for kind, name, calls in (("LIKE", b"LIKE.ADD", lb.CALLS_LIKE), ("SET", b"SADD", lb.CALLS_SET)):
            lb.mem_measure_one(srv, (lb.cmd(name, b"m:0", c) for c in frags))
            for i in range(args.rounds):
                t = lb.shape_call_times(srv, args.shape, rng, rows, args.n, lb.SHAPE_CALLS,
                                        lb.SHAPE_CALL_REPS, names=calls)
                us = "  ".join(f"{op} {t[op]:.2f}" for op in ("has", "add", "del", "toggle") if op in t)
                print(f"{kind} round {i + 1}: {us}  (steal max {max(t['steal']):.1%})", flush=True)
            srv.flush()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
