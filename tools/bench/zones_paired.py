#!/usr/bin/python3
"""zones_paired.py -- writes at 10 zones and at N zones, timed in alternation.

zones_bench.py times each catalog size in its own stretch of minutes, one
after the other, and on a shared machine the speed drifts by more than the
difference it looks for (two windows at the same size differ by up to
15 %).  This bench runs two clusters (3 voters each unless --nodes) side
by side on loopback (cluster_bench.Cluster: own data directories and
ports, nothing left running): a small one holding --small zones and a
large one filled to --large zones.  Then, --rounds times, each cluster in turn (the order
alternates every round) while the other is idle:

  1. creates --window zones (bulk requests of --bulk zones, --create-clients
     clients, apex SOA + NS + one A each): creations/s and the CPU per
     creation of its nodes together;
  2. deletes them again (untimed), so that both clusters keep their size;
  3. upserts one A set per request into one zone for --duration s with
     --clients clients: upserts/s.

Before each timed phase both clusters are left to settle (every node under
a tenth of a core for half a second: no snapshot being written).  The two
measurements of a round are at most a minute apart, so the machine's drift
touches both alike; the ratios large/small of every round are printed, then
their median and range, and the ratio of the overall rates (all windows'
creations over all their time: snapshots included as they come, one every
state/16 entries on each node).

Usage: tools/bench/zones_paired.py [--bin build/node/quorumdns] [--large 1200000]
                                   [--small 10] [--window 50000] [--rounds 6]
                                   [--bulk 1000] [--create-clients 2] [--clients 8]
                                   [--duration 10] [--nodes 3]

With --nodes 1 each cluster is one voter: what a creation costs one replica
at each size, without two more replicas of the same million zones sharing
the machine's caches (on a real cluster each node has its own machine).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import Cluster  # noqa: E402
from zones_bench import (create_zones, cpu_ticks, current_leader,  # noqa: E402
                         machine_ticks, settle, steal_since, upserts, zone_name)
from zones_peers import metrics  # noqa: E402


def start(binary, nodes):
    cl = Cluster(binary, n=nodes)
    for i in range(1, nodes + 1):
        cl.start(i)
    return cl, cl.leader(30)


def window(cl, leader, first, args):
    """Creates zones first..first+window-1 and deletes them again: (creations/s,
    seconds, CPU us per creation of all nodes, steal %, snapshots the nodes took
    during the creations)."""
    hz = os.sysconf("SC_CLK_TCK")
    snaps0 = sum(metrics(cl, i).get("snapshots", 0) for i in cl.procs)
    cpu0 = sum(cpu_ticks(p.pid) for p in cl.procs.values())
    m0 = machine_ticks()
    took, errs = create_zones(cl, leader, first, first + args.window,
                              args.create_clients, args.bulk, with_a=True)
    cpu = (sum(cpu_ticks(p.pid) for p in cl.procs.values()) - cpu0) * 1e6 / hz / args.window
    steal = steal_since(m0)
    snaps = int(sum(metrics(cl, i).get("snapshots", 0) for i in cl.procs) - snaps0)
    if errs:
        raise RuntimeError(f"{errs} bulk creations failed")
    _, errs = create_zones(cl, leader, first, first + args.window, args.create_clients,
                           args.bulk, delete=True)
    if errs:
        raise RuntimeError(f"{errs} bulk deletions failed")
    return args.window / took, took, cpu, steal, snaps


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/node/quorumdns",
                    help="the quorumdns binary both clusters run, relative to the current "
                    "directory (default: %(default)s)")
    ap.add_argument("--large", type=int, default=1200000,
                    help="zones the large cluster holds (default: %(default)s)")
    ap.add_argument("--small", type=int, default=10,
                    help="zones the small cluster holds (default: %(default)s)")
    ap.add_argument("--window", type=int, default=50000,
                    help="zones created (then deleted) in each timed window "
                    "(default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=6,
                    help="rounds, each timing both clusters in turn (default: %(default)s)")
    ap.add_argument("--bulk", type=int, default=1000,
                    help="zones per POST /v1/zones/bulk request, for the initial fill and "
                    "the windows (default: %(default)s)")
    ap.add_argument("--create-clients", type=int, default=2,
                    help="concurrent API clients creating and deleting zones "
                    "(default: %(default)s)")
    ap.add_argument("--clients", type=int, default=8,
                    help="concurrent API clients of the upsert phases (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=10,
                    help="seconds of each upsert phase (default: %(default)s)")
    ap.add_argument("--nodes", type=int, default=3,
                    help="voters of each cluster (default: %(default)s); with 1, no replica "
                    "shares the machine's caches with another")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    clusters = {}
    try:
        for name, size in (("small", args.small), ("large", args.large)):
            cl, leader = start(binary, args.nodes)
            clusters[name] = [cl, leader]
            t0 = time.time()
            _, errs = create_zones(cl, leader, 0, size, args.create_clients, args.bulk,
                                   with_a=True)
            print(f"# {name}: {size} zones created in {time.time() - t0:.0f} s "
                  f"({errs} errors)", flush=True)
        # Window names follow the large cluster's zones: never one that exists.
        first = args.large
        res = {"small": [], "large": []}
        for rnd in range(args.rounds):
            order = ("small", "large") if rnd % 2 == 0 else ("large", "small")
            for name in order:
                for cl, _ in clusters.values():
                    settle(cl)
                cl, leader = clusters[name]
                leader = clusters[name][1] = current_leader(cl, leader)
                rate, took, cpu, steal, snaps = window(cl, leader, first, args)
                for c, _ in clusters.values():
                    settle(c)
                m0 = machine_ticks()
                ups, p50, p99, uerr = upserts(cl, leader, zone_name(0), args.duration,
                                              args.clients)
                res[name].append((rate, took, cpu, ups, snaps))
                print(f"# round {rnd + 1}, {name}: {rate:.0f} creations/s, {cpu:.0f} us CPU "
                      f"per creation, {snaps} snapshots (steal {steal:.0f} %); "
                      f"{ups:.0f} upserts/s p50 {p50:.1f} ms p99 {p99:.1f} ms, {uerr} errors "
                      f"(steal {steal_since(m0):.0f} %)", flush=True)
            first += args.window
    finally:
        for cl, _ in clusters.values():
            cl.stop_all()
    if not res["large"] or len(res["large"]) != len(res["small"]):
        return 1
    print("| round | creations/s small | large | ratio | CPU us small / large | "
          "snapshots small / large | upserts/s small | large | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    cr, ur = [], []
    for rnd, (s, big) in enumerate(zip(res["small"], res["large"])):
        cr.append(big[0] / s[0])
        ur.append(big[3] / s[3])
        print(f"| {rnd + 1} | {s[0]:.0f} | {big[0]:.0f} | {cr[-1]:.2f} | {s[2]:.0f} / "
              f"{big[2]:.0f} | {s[4]} / {big[4]} | {s[3]:.0f} | {big[3]:.0f} | {ur[-1]:.2f} |")
    overall = {n: len(r) * args.window / sum(x[1] for x in r) for n, r in res.items()}
    # The cost of a creation itself: the windows in which no node took a
    # snapshot (a snapshot at 1.2 M objects takes ~1 s of a core per node).
    clean = {n: [x for x in r if x[4] == 0] for n, r in res.items()}
    clean_rate = {n: len(r) * args.window / sum(x[1] for x in r) if r else 0
                  for n, r in clean.items()}
    print(f"# creations at {args.large} / {args.small} zones: median of the rounds "
          f"{statistics.median(cr):.2f} (range {min(cr):.2f}-{max(cr):.2f}), overall "
          f"{overall['large'] / overall['small']:.2f} ({overall['small']:.0f} / "
          f"{overall['large']:.0f} per s); upserts: median {statistics.median(ur):.2f} "
          f"(range {min(ur):.2f}-{max(ur):.2f})")
    if clean_rate["small"] and clean_rate["large"]:
        print(f"# creations in windows without a snapshot ({len(clean['small'])} small, "
              f"{len(clean['large'])} large): {clean_rate['small']:.0f} / "
              f"{clean_rate['large']:.0f} per s, ratio "
              f"{clean_rate['large'] / clean_rate['small']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
