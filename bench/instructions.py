#!/usr/bin/env python3
"""Instructions per request, LIKE/REACT commands against their native twins, counted by callgrind.

    bench/.venv/bin/python bench/instructions.py [--module target/release/liblike.so] [--requests N]
        [--rows HAS,COUNT] [--keep-dumps DIR]

Starts redis-server under `valgrind --tool=callgrind` with the module, loads the same data as module
keys and as native keys, then for each command runs N requests pipelined 16 deep from one client,
between `callgrind_control -z` (zero the counters) and `callgrind_control -d` (dump them). Printed
figure = whole-server instructions of the dump / requests (or / items for the 50-key commands):
parsing, dispatch, the command, the reply. Unlike timings on a shared 2-core machine, these do not
move between runs. Takes ~5 minutes (the server runs ~50x slower under callgrind).

A second table splits each module command (callgrind_annotate of the same dumps, inclusive
instructions per request): the module API's fixed part (the dispatcher's context, RM_OpenKey,
RM_CloseKey, reading the key's type and value, the reply, replication and keyspace events) against
what the native twin pays for the same steps (lookupKey*, addReply*, propagation, events), and the
module's own remainder; a third lists the module's most expensive functions. The API part is the
floor no module command goes below on this server.

Data: 10,000 items of 100 users from [0, 10,000) + 10^12 (as the throughput section's): a LIKE key and
a SET per item; for reactions, 2-kind (like/dislike) and 7-kind families, each item a REACT key and the
two hashes of the native way (user -> kind, kind -> count) updated by the Lua script of the reactions
section. A REACT.STATUS / LIKE.STATUS request covers 50 items; its native twin is 50 HGETALL + 50 HGET
(50 SCARD + 50 SISMEMBER), per item. The growing-keys row: 200 more keys (and SETs) of 100 users, each
taking 100 new users, round robin, so that its figure includes the size checks a growing key passes.

--big-keys: instead, 10 LIKE keys and 10 SETs of 100,000 random 32-bit IDs each (a like-set of
coded blocks, where a write shifts one block's bits), and LIKE.HAS / ADD / DEL / TOGGLE against
SISMEMBER / SADD / SREM there: what a write costs on a big key. Takes ~1-2 minutes.
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


GROWING_KEYS = 200


def load_growing(r, n):
    """GROWING_KEYS LIKE keys and SETs of USERS users from [0, ITEMS) + 10^12; returns the n IDs the
    growing row adds, round robin over the keys: each key's next users, new to it. Its own random
    stream, so the other rows' data stay as they were."""
    rng = random.Random(20261204)
    per_key = n // GROWING_KEYS + 1
    adds = []
    for k in range(GROWING_KEYS):
        users = [uid(x) for x in rng.sample(range(ITEMS), USERS + per_key)]
        r.execute_command("LIKE.ADD", f"lg:{k}", *users[:USERS])
        r.execute_command("SADD", f"sg:{k}", *users[:USERS])
        adds.append(users[USERS:])
    return [adds[i % GROWING_KEYS][i // GROWING_KEYS] for i in range(n)]


def standard_pairs(r, rng, n):
    """The rows over 10,000 items of 100 users: (name, module stream, native stream, requests)."""
    load(r, rng)
    sha = r.script_load(REACT_LUA)
    ids = [uid(rng.randrange(ITEMS)) for _ in range(n)]
    keys = [rng.randrange(ITEMS) for _ in range(n)]
    feeds = [[rng.randrange(ITEMS) for _ in range(FEED)] for _ in range(n // FEED)]
    writes = [(rng.randrange(max(1, n * 2 // 25)), uid(rng.randrange(100_000))) for _ in range(n)]
    growing = load_growing(r, n)

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
        # The throughput section's writes (bench/run.sh): random users from [0, 100,000) + 10^12
        # into random keys, ~12.5 per key by the end, so most land in keys of 1 to 25 likes.
        ("LIKE.ADD / SADD (small keys, as bench/run.sh's throughput writes)",
         single(lambda k, u, i: ("LIKE.ADD", f"lw:{writes[i][0]}", writes[i][1])),
         single(lambda k, u, i: ("SADD", f"sw:{writes[i][0]}", writes[i][1])), n),
        # Keys of 100 likes that each take 100 more, round robin (a post gaining likes): the
        # rows above give a key ~2 writes, so they rarely reach a form's size check (at
        # every 1/8 of a set's growth); here each key passes four, at 112, 128, 160 and 192.
        ("LIKE.ADD / SADD (keys growing from 100 to 200 likes)",
         single(lambda k, u, i: ("LIKE.ADD", f"lg:{i % GROWING_KEYS}", growing[i])),
         single(lambda k, u, i: ("SADD", f"sg:{i % GROWING_KEYS}", growing[i])), n),
        # Above every ID of the key (a range twice as wide: the block's low-bit width
        # changes, and so it does when the ID goes again): the costliest write of a coded block.
        ("LIKE.ADD / SADD (100 likes, a new highest ID)",
         single(lambda k, u, i: ("LIKE.ADD", f"l:{k}", u + ITEMS)),
         single(lambda k, u, i: ("SADD", f"s:{k}", u + ITEMS)), n),
        ("LIKE.DEL / SREM (100 likes, the highest ID)",
         single(lambda k, u, i: ("LIKE.DEL", f"l:{k}", u + ITEMS)),
         single(lambda k, u, i: ("SREM", f"s:{k}", u + ITEMS)), n),
        # Within the key's range (99% new), then the same IDs removed.
        ("LIKE.ADD / SADD (100 likes, an ID in the key's range)",
         single(lambda k, u, i: ("LIKE.ADD", f"l:{k}", u)),
         single(lambda k, u, i: ("SADD", f"s:{k}", u)), n),
        ("LIKE.DEL / SREM (100 likes, the same IDs)",
         single(lambda k, u, i: ("LIKE.DEL", f"l:{k}", u)),
         single(lambda k, u, i: ("SREM", f"s:{k}", u)), n),
        # A toggle on (the ID is new), then off: what a like button sends. Its native
        # twins are the SADD and SREM it amounts to (native Redis needs a script or two
        # round trips to toggle).
        ("LIKE.TOGGLE on / SADD (100 likes, an ID in the key's range)",
         single(lambda k, u, i: ("LIKE.TOGGLE", f"l:{k}", u)),
         single(lambda k, u, i: ("SADD", f"s:{k}", u)), n),
        ("LIKE.TOGGLE off / SREM (the same IDs)",
         single(lambda k, u, i: ("LIKE.TOGGLE", f"l:{k}", u)),
         single(lambda k, u, i: ("SREM", f"s:{k}", u)), n),
        ("LIKE.MCOUNT x50 / SCARD, per key",
         lambda: (("LIKE.MCOUNT", *[f"l:{k}" for k in f]) for f in feeds),
         lambda: (("SCARD", f"s:{k}") for f in feeds for k in f), n),
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
    return pairs


BIG_KEYS = 10
BIG_LIKES = 100_000


def load_big(r, rng):
    """BIG_KEYS keys of BIG_LIKES random 32-bit IDs, as LIKE keys and as SETs; each key's IDs
    (as a list and as a set)."""
    keys = []
    for k in range(BIG_KEYS):
        ids = rng.sample(range(1 << 32), BIG_LIKES)
        for i in range(0, BIG_LIKES, 10_000):
            r.execute_command("LIKE.ADD", f"b:{k}", *ids[i:i + 10_000])
            r.execute_command("SADD", f"bs:{k}", *ids[i:i + 10_000])
        keys.append((ids, set(ids)))
    return keys


def big_pairs(r, rng, n):
    """The rows of --big-keys: reads of IDs half present, then new IDs added, toggled and removed."""
    held = load_big(r, rng)
    new = []
    for i in range(n):
        while True:
            x = rng.randrange(1 << 32)
            if x not in held[i % BIG_KEYS][1]:
                break
        new.append(x)
    # Half the reads ask for a user the key holds, half for one it does not.
    present = [rng.choice(held[i % BIG_KEYS][0]) if i % 2 == 0 else new[i] for i in range(n)]

    def single(fmt):
        return lambda: (fmt(i % BIG_KEYS, i) for i in range(n))

    label = f"{BIG_KEYS} keys of {BIG_LIKES:,} random 32-bit IDs"
    return [
        ("PING (floor)", single(lambda k, i: ("PING",)), None, n),
        (f"LIKE.HAS / SISMEMBER ({label}, half present)",
         single(lambda k, i: ("LIKE.HAS", f"b:{k}", present[i])),
         single(lambda k, i: ("SISMEMBER", f"bs:{k}", present[i])), n),
        (f"LIKE.ADD / SADD ({label}, new IDs)",
         single(lambda k, i: ("LIKE.ADD", f"b:{k}", new[i])),
         single(lambda k, i: ("SADD", f"bs:{k}", new[i])), n),
        ("LIKE.DEL / SREM (the same IDs)",
         single(lambda k, i: ("LIKE.DEL", f"b:{k}", new[i])),
         single(lambda k, i: ("SREM", f"bs:{k}", new[i])), n),
        ("LIKE.TOGGLE on / SADD (the same IDs)",
         single(lambda k, i: ("LIKE.TOGGLE", f"b:{k}", new[i])),
         single(lambda k, i: ("SADD", f"bs:{k}", new[i])), n),
        ("LIKE.TOGGLE off / SREM (the same IDs)",
         single(lambda k, i: ("LIKE.TOGGLE", f"b:{k}", new[i])),
         single(lambda k, i: ("SREM", f"bs:{k}", new[i])), n),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default="target/release/liblike.so")
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--big-keys", action="store_true", help="the big-key write rows instead (see above)")
    ap.add_argument("--rows", default=None,
                    help="comma-separated parts of row names: only the rows whose name holds one (PING always runs)")
    ap.add_argument("--keep-dumps", default=None, metavar="DIR",
                    help="copy each callgrind dump to DIR (for callgrind_annotate --auto=yes, per source line)")
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
        if args.big_keys:
            pairs = big_pairs(r, rng, args.requests)
        else:
            pairs = standard_pairs(r, rng, args.requests)
        if args.rows:
            wanted = args.rows.split(",")
            pairs = [p for p in pairs if p[0].startswith("PING") or any(w in p[0] for w in wanted)]
        n = args.requests
        module_obj = os.path.basename(args.module)
        pid = str(srv.pid)
        dumps = 0

        def count(stream, per, costs=None):
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
            if args.keep_dumps:
                os.makedirs(args.keep_dumps, exist_ok=True)
                shutil.copy(path, os.path.join(args.keep_dumps, f"dump.{dumps}"))
            if costs is not None:
                costs.update(inclusive_costs(path, module_obj))
                costs[OWN] = own_code(path, module_obj)
            with open(path) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        return int(line.split()[1]) / per
            raise RuntimeError(f"no totals in {path}")

        print(f"| command | module instr/req | native instr/req | module / native |")
        print("|---|---:|---:|---:|")
        splits = []
        for name, mod, nat, per in pairs:
            mc, nc = {}, {}
            a = count(mod, per, mc)
            b = count(nat, per, nc) if nat else None
            cells = f"{b:,.0f} | {a / b:.3f}" if b else " | "
            print(f"| {name} | {a:,.0f} | {cells} |", flush=True)
            if nat:
                splits.append((name, split(mc, n), split(nc, n), top_module(mc, n)))
        print_splits(splits)
    finally:
        try:
            r.shutdown(nosave=True)
        except redis.exceptions.RedisError:
            pass
        srv.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


# The steps a command takes, by the server functions that do them: (module API, native twin).
STEPS = [
    ("context", ["moduleCreateContext", "moduleFreeContext"], []),
    ("key open / close", ["RM_OpenKey", "RM_CloseKey"], ["lookupKeyReadOrReply", "lookupKeyRead",
                                                        "lookupKeyWrite", "lookupKeyWriteOrReply",
                                                        "lookupKeyReadWithFlags"]),
    # A new key: RM_ModuleTypeSetValue adds it to the keyspace (dbAdd on the native side).
    ("key type / value", ["RM_KeyType", "RM_ModuleTypeGetType", "RM_ModuleTypeGetValue",
                          "RM_ModuleTypeSetValue", "RM_ModuleTypeReplaceValue"], ["checkType", "dbAdd"]),
    ("arguments", ["RM_StringPtrLen"], []),
    ("reply", ["RM_ReplyWithLongLong", "RM_ReplyWithArray", "RM_ReplySetArrayLength",
               "RM_ReplyWithNull", "RM_ReplyWithStringBuffer", "RM_ReplyWithMap"],
     ["addReplyLongLong", "addReply", "addReplyArrayLen", "addReplyBulk", "addReplyNull"]),
    ("replicate / events", ["RM_ReplicateVerbatim", "RM_Replicate", "RM_NotifyKeyspaceEvent",
                            "RM_SignalModifiedKey"], ["notifyKeyspaceEvent", "signalModifiedKey"]),
]
# What runs the command: the module's dispatcher, or the native command function.
NATIVE_COMMANDS = ["saddCommand", "sremCommand", "scardCommand", "sismemberCommand"]


# The key of a dump's costs that holds the module's own code (see own_code).
OWN = ("", "own")


def annotate_lines(path, inclusive):
    """(instructions, function, object file) of every function callgrind_annotate lists."""
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0][:1].isdigit():
            continue
        try:
            v = int(parts[0].replace(",", ""))
        except ValueError:
            continue
        where = parts[2] if parts[1].startswith("(") else parts[1] + " " + parts[2]
        obj = where.rsplit("[", 1)[1].rstrip("]") if "[" in where else ""
        fn = where.split(":", 1)[-1].rsplit(" [", 1)[0].strip()
        yield v, fn, obj


def inclusive_costs(path, module_obj):
    """Inclusive instructions of every function in a callgrind dump, by bare name (the largest of
    the entries a name has: inlined copies are listed per source file)."""
    costs = {}
    for v, fn, obj in annotate_lines(path, True):
        key = (fn, "module" if os.path.basename(obj) == module_obj else "")
        costs[key] = max(costs.get(key, 0), v)
    return costs


def own_code(path, module_obj):
    """Instructions executed in the module's own code (self cost of every function of its object
    file, inlined library code included): what the module adds to the server's steps. Code inlined
    from another source file is listed under that file with no object, so a function counts as the
    module's when any of its entries names the module's object."""
    entries = list(annotate_lines(path, False))
    ours = {fn for _, fn, obj in entries if os.path.basename(obj) == module_obj}
    return sum(v for v, fn, obj in entries if fn in ours and (not obj or os.path.basename(obj) == module_obj))


def split(costs, n):
    """Per-request instructions of the command and of each step (the module API's functions for
    a module command, the native ones otherwise: the API calls the native ones inside)."""
    def get(names):
        return sum(costs.get((f, ""), 0) for f in names) / n
    module = get(["RedisModuleCommandDispatcher"])
    total = module or get(NATIVE_COMMANDS)
    steps = {s: get(mod if module else nat) for s, mod, nat in STEPS}
    return total, steps, (costs.get(OWN, 0) / n if module else None)


def top_module(costs, n, k=5):
    """The module's most expensive functions (inclusive, per request), past the entry wrappers."""
    skip = ("COMMANDS::entry", "command_table", "{{closure}}", "call_once", "LocalKey")
    rows = [(v / n, fn) for (fn, where), v in costs.items()
            if where == "module" and not any(x in fn for x in skip)]
    rows.sort(reverse=True)
    return rows[:k]


def print_splits(splits):
    print()
    print("Where a request's instructions go (inclusive, per request, from the same dumps): the command")
    print("(the module's dispatcher, or the native command function), its steps through the server, and")
    print("the rest (the module's own work and the dispatcher's, or the native data structure's). `own code`:")
    print("the instructions executed in the module's own code (self cost of its functions, code inlined")
    print("into them included); `command total - own code` is what the server's code takes: the API")
    print("steps, the dispatcher's own instructions and the allocator calls the module's code makes.")
    print()
    names = [s for s, _, _ in STEPS]
    print("| command | side | command total | " + " | ".join(names) + " | rest | own code |")
    print("|---|---|---:|" + "---:|" * (len(names) + 2))
    for name, (mt, ms, mo), (nt, ns, _), _ in splits:
        for side, t, st, own in (("module", mt, ms, mo), ("native", nt, ns, None)):
            if not t:
                # A script or another command than the four set commands: not split.
                continue
            rest = t - sum(st.values())
            own_cell = f"{own:,.0f}" if own is not None else ""
            print(f"| {name} | {side} | {t:,.0f} | " + " | ".join(f"{st[s]:,.0f}" for s in names)
                  + f" | {rest:,.0f} | {own_cell} |")
    print()
    print("The module's most expensive functions per request (inclusive; inlined callees count in their caller):")
    print()
    for name, _, _, top in splits:
        print(f"- {name}: " + "; ".join(f"{fn} {v:,.0f}" for v, fn in top))


if __name__ == "__main__":
    main()
