#!/usr/bin/python3
"""relay_bench.py -- what a write relayed by a follower costs, against the same write
sent to the leader.

For each binary of --bin (comma-separated: run the code before and after a
change in the same invocation) and each of --rounds rounds, alternating
the binaries round by round: starts a 3-voter cluster on loopback
(cluster_bench.Cluster: the default TLS raft transport, own data
directories and ports, nothing left running), creates one zone, then

  1. "direct":  --clients keep-alive API clients upsert one A set per
     request into the zone, sent to the leader, for --duration s;
  2. "relayed": the same, sent to a follower (which relays each write to
     the leader over the nodes' side channel);

and reports upserts/s, p50/p99 latency and each node's CPU time (user +
system, /proc/PID/stat) per upsert: the node the clients talk to, the
leader, and the third node.

Usage: tools/bench/relay_bench.py [--bin A[,B]] [--rounds 2] [--duration 8] [--clients 4]
Prints one line per phase and a Markdown table; figures go to BENCHMARKS.md.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import Cluster  # noqa: E402
from zones_bench import cpu_ticks, req, timed_upserts  # noqa: E402

ZONE = "relay.bench."


def upserts(cl, node, duration, clients):
    """Upserts into ZONE through node's API; (count, seconds, p50, p99, errors)."""
    return timed_upserts(cl, node, ZONE, duration, clients)


def phase(cl, entry, leader, duration, clients):
    hz = os.sysconf("SC_CLK_TCK")
    cpu0 = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
    n, took, p50, p99, errs = upserts(cl, entry, duration, clients)
    cpu1 = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
    us = {i: (cpu1[i] - cpu0[i]) * 1e6 / hz / max(1, n) for i in cl.procs}
    other = [i for i in cl.procs if i not in (entry, leader)][0]
    return {"rate": n / took, "p50": p50, "p99": p99, "errors": errs,
            "entry": us[entry] if entry != leader else None, "leader": us[leader],
            "third": us[other], "load": os.getloadavg()[0]}


def run(binary, duration, clients):
    import http.client
    cl = Cluster(os.path.abspath(binary))
    try:
        for i in range(1, 4):
            cl.start(i)
        leader = cl.leader(30)
        conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=30)
        st, out = req(conn, "POST", "/v1/zones", {"name": ZONE})
        if st != 201:
            raise RuntimeError(f"zone creation: {st} {out[:200]}")
        time.sleep(1)  # every node has applied it
        follower = min(i for i in cl.procs if i != leader)
        out = {}
        for name, entry in (("direct", leader), ("relayed", follower)):
            # warm-up (connections, the first channel), not counted
            upserts(cl, entry, 1, clients)
            if cl.leader(5) != leader:
                raise RuntimeError("the leader changed during the run")
            out[name] = phase(cl, entry, leader, duration, clients)
        if cl.leader(5) != leader:
            raise RuntimeError("the leader changed during the run")
        return out
    finally:
        cl.stop_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/node/quorumdns",
                    help="one quorumdns binary, or several comma-separated (alternated per "
                    "round); relative to the current directory (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds; each round runs every binary on a fresh cluster "
                    "(default: %(default)s)")
    ap.add_argument("--duration", type=float, default=8,
                    help="seconds of each timed phase (direct, relayed), after a 1 s "
                    "warm-up (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=4,
                    help="concurrent keep-alive API clients sending upserts "
                    "(default: %(default)s)")
    args = ap.parse_args()
    rows = []
    for rnd in range(1, args.rounds + 1):
        for binary in args.bin.split(","):
            t = time.strftime("%H:%M:%SZ", time.gmtime())
            res = run(binary, args.duration, args.clients)
            for name, r in res.items():
                entry = f"{r['entry']:.0f}" if r["entry"] is not None else "-"
                print(f"# {t} {binary} round {rnd} {name}: {r['rate']:.0f} upserts/s "
                      f"p50 {r['p50']:.1f} ms p99 {r['p99']:.1f} ms ({r['errors']} errors); "
                      f"CPU us per upsert: entry {entry}, leader {r['leader']:.0f}, "
                      f"third {r['third']:.0f}; load {r['load']:.1f}", flush=True)
                rows.append((binary, rnd, name, r))
    print("| binary | round | sent to | upserts/s | p50 / p99 ms | µs CPU per upsert: "
          "follower sent to | leader | other follower | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for binary, rnd, name, r in rows:
        entry = f"{r['entry']:.0f}" if r["entry"] is not None else "–"
        print(f"| {binary} | {rnd} | {name} | {r['rate']:,.0f} | {r['p50']:.1f} / "
              f"{r['p99']:.1f} | {entry} | {r['leader']:.0f} | {r['third']:.0f} | "
              f"{r['load']:.1f} |")


if __name__ == "__main__":
    main()
