#!/usr/bin/env python3
"""QuorumKV next to its peers: JSON lines (peers.Bench or io.quorumkv.examples.Bench records) ->
a markdown table per workload (op, clients): median ops/s, p50 and p99 over the runs of each
system, and QuorumKV's throughput ratio to each peer (> 1 means QuorumKV is faster); QuorumKV's
weaker reads (get-lease, get-follower, get-stale) are compared with the peer's linearizable get.
Usage: ratio.py FILE... (or JSON lines on stdin)."""
import json
import statistics
import sys
from collections import defaultdict


def system_of(rec):
    s = str(rec.get("system", ""))
    if "QuorumKv" in s or s == "quorumkv" or str(rec.get("label", "")).startswith("quorumkv"):
        return "quorumkv"
    return s


def main(paths):
    lines = []
    for p in paths or ["-"]:
        with (sys.stdin if p == "-" else open(p)) as f:
            lines += [l for l in f if l.startswith("{")]
    runs = defaultdict(list)  # (op, clients, system) -> records
    for l in lines:
        r = json.loads(l)
        runs[(r["op"], int(r["clients"]), system_of(r))].append(r)
    systems = sorted({k[2] for k in runs}, key=lambda s: (s != "quorumkv", s))
    peers = [s for s in systems if s != "quorumkv"]
    head = ["op", "clients"]
    for s in systems:
        head += [f"{s} ops/s (runs)", f"{s} p50/p99 ms"]
    head += [f"quorumkv / {p}" for p in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for op, clients in sorted({(k[0], k[1]) for k in runs}):
        row = [op, str(clients)]
        med = {}
        for s in systems:
            rs = runs.get((op, clients, s), [])
            if not rs:
                row += ["-", "-"]
                continue
            med[s] = statistics.median(r["ops_per_s"] for r in rs)
            p50 = statistics.median(r["p50_us"] for r in rs) / 1000
            p99 = statistics.median(r["p99_us"] for r in rs) / 1000
            errors = sum(int(r.get("errors", 0)) for r in rs)
            each = " / ".join("%.0f" % r["ops_per_s"] for r in rs)
            row.append(f"**{med[s]:,.0f}** ({each})"
                       + (f", {errors} errors" if errors else ""))
            row.append(f"{p50:.2f} / {p99:.2f}")
        for p in peers:
            q = med.get("quorumkv")
            if q is not None and med.get(p):
                row.append(f"{q / med[p]:.2f}x")
            elif q is not None and op.startswith("get-") and runs.get(("get", clients, p)):
                # a weaker read of ours (get-lease, ...) against the peer's linearizable get
                peer_get = statistics.median(r["ops_per_s"] for r in runs[("get", clients, p)])
                row.append(f"{q / peer_get:.2f}x (vs its get)")
            else:
                row.append("-")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
