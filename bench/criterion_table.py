#!/usr/bin/env python3
"""Markdown table of the criterion micro-benchmarks of the like-set.

    cargo bench --bench likeset && python3 bench/criterion_table.py

Reads target/criterion/likeset/<op>_<dist>/<n>/new/estimates.json (median) and
target/criterion/likeset-sizes.tsv (written by the bench), writes bench/results/likeset.md.
"""
import json
import os
import platform
import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRIT = os.path.join(ROOT, "target", "criterion")
OPS = ["add", "remove", "contains", "count", "page100", "serialize", "deserialize"]
SIZES = [1, 10, 100, 1000, 10000, 1000000]


def fmt_t(ns):
    if ns is None:
        return "n/a"
    if ns < 1:
        return f"{ns * 1000:.0f} ps"
    if ns < 1000:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1000:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def size_name(n):
    return {1000: "1k", 10000: "10k", 1000000: "1M"}.get(n, str(n))


def median_ns(op, dist, n):
    p = os.path.join(CRIT, "likeset", f"{op}_{dist}", str(n), "new", "estimates.json")
    try:
        with open(p) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def main():
    L = ["# Like-set micro-benchmarks (criterion)\n",
         "Reproduce: `cargo bench --bench likeset && python3 bench/criterion_table.py` (from the repository root).\n",
         f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}; machine: {platform.machine()}, {os.cpu_count()} cores",
         "- median time per operation (serialize / deserialize: per whole set); sparse = random IDs from"
         " [0, 2^32), dense = consecutive IDs from 1,000,000. See the header of `bench/likeset.rs` for how"
         " each operation is timed.\n"]
    for dist in ("sparse", "dense"):
        L.append(f"## {dist}\n")
        L.append("| op | " + " | ".join(size_name(n) for n in SIZES) + " |")
        L.append("|---|" + "---:|" * len(SIZES))
        for op in OPS:
            L.append(f"| {op} | " + " | ".join(fmt_t(median_ns(op, dist, n)) for n in SIZES) + " |")
        row = ["| deserialize per like |"]
        for n in SIZES:
            t = median_ns("deserialize", dist, n)
            row.append(f" {fmt_t(t / n) if t else 'n/a'} |")
        L.append("".join(row))
        L.append("")
    sp = os.path.join(CRIT, "likeset-sizes.tsv")
    if os.path.exists(sp):
        L.append("## Sizes\n")
        L.append("`heap_bytes()` of the set and length of its serialized blob (`codec::encode`).\n")
        L.append("| dist | likes | encoding | heap bytes | heap B/like | blob bytes | blob B/like |")
        L.append("|---|---:|---|---:|---:|---:|---:|")
        with open(sp) as f:
            next(f)
            for line in f:
                d, n, enc, heap, blob = line.split()
                n, heap, blob = int(n), int(heap), int(blob)
                L.append(f"| {d} | {n:,} | {enc} | {heap:,} | {heap / n:.2f} | {blob:,} | {blob / n:.2f} |")
        L.append("")
    out = os.path.join(ROOT, "bench", "results", "likeset.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(L))
    print("\n".join(L))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
