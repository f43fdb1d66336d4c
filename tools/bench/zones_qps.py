#!/usr/bin/python3
"""zones_qps.py -- DNS qps over names spread across many zones vs as many names in one zone.

Starts its own 3-node quorumdns cluster on loopback (cluster_bench.Cluster:
own data directories and ports, nothing left running) and loads:

  many   N zones, each with apex SOA + NS and one A record (ns1.<zone>), the
         issue 12 shape, through POST /v1/zones/bulk (zones_peers.bulk_load);
  one    one zone, flat.example., holding N A records (h<k>.flat.example.),
         through change batches of 5,000 upserts.

Then, against one node (node 1), alternating --rounds times, dnsperf over
a query file of the N names of each kind in a shuffled order:

  many   "ns1.<zone k> A" for every k: each query finds its zone among N
         (longest-suffix zone lookup) then the name in a small zone;
  one    "h<k>.flat.example. A" for every k: one zone, then the name among N.

Every query is an authoritative answer with one A record.  Reports qps per
round and the ratio many/one, the node's RSS, and the raft term before and
after (elections during the run).

With --restart, the three nodes are then stopped and started again: the
seconds until every node answers the first, middle and last zone and the
flat zone, and what /v1/health answered meanwhile (every node asked every
20 ms: answers, how many said the node was publishing its restored state
to DNS, the longest stretch without an answer after the first one).

Usage: tools/bench/zones_qps.py [--bin build/node/quorumdns] [--names 100000]
                                [--rounds 3] [--seconds 10] [--clients 4]
                                [--restart]
Prints a Markdown table; figures go to BENCHMARKS.md.
"""
import argparse
import http.client
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import Cluster, request  # noqa: E402
from zones_peers import bulk_load, rss_kb, wait_answers, zone_name  # noqa: E402

FLAT = "flat.example."


def load_flat(cl, n):
    leader = cl.leader(30)
    conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=600)
    st, body = request(conn, "POST", "/v1/zones", {"name": FLAT})
    assert st == 201, body
    for a in range(0, n, 5000):
        changes = [{"action": "UPSERT", "rrset": {
            "name": f"h{k}.{FLAT}", "type": "A", "ttl": 3600,
            "records": [f"192.0.2.{k % 250 + 1}"]}} for k in range(a, min(a + 5000, n))]
        st, body = request(conn, "POST", f"/v1/zones/{FLAT}/changes", {"changes": changes},
                           key=f"flat-{a}")
        assert st == 200, body[:300]


def dnsperf(addr, port, qfile, secs, clients):
    out = subprocess.run(["dnsperf", "-s", addr, "-p", str(port), "-d", qfile,
                          "-l", str(secs), "-c", str(clients), "-q", "100"],
                         capture_output=True, text=True).stdout
    qps = lost = 0.0
    for line in out.splitlines():
        if "Queries per second" in line:
            qps = float(line.split()[-1])
        if "Queries lost" in line:
            lost = float(line.split()[2])
    return qps, lost


def restart_all(cl, n):
    """Stops and starts every node; (seconds until all answer, health)."""
    for p in cl.procs.values():
        p.send_signal(signal.SIGTERM)
    for p in cl.procs.values():
        p.wait(300)
    seen, stop = {i: [] for i in range(1, 4)}, threading.Event()

    def watch(i):
        while not stop.is_set():
            try:
                h = cl.health(i)
            except ValueError:  # an answer cut short
                h = None
            seen[i].append((time.time(), h and (h.get("reason") or "ready")))
            time.sleep(0.02)

    t0 = time.time()
    for i in range(1, 4):
        cl.start(i)
    ws = [threading.Thread(target=watch, args=(i,)) for i in range(1, 4)]
    for w in ws:
        w.start()
    try:
        for i in cl.procs:
            wait_answers(cl.addr(i), cl.dns,
                         [zone_name(0), zone_name(n // 2), zone_name(n - 1), FLAT])
        took = time.time() - t0
    finally:
        stop.set()
        for w in ws:
            w.join()
    health = {}
    for i, rows in seen.items():
        answered = [t for t, h in rows if h is not None]
        gaps = [b - a for a, b in zip(answered, answered[1:])]
        health[i] = {"answers": len(answered),
                     "publishing": sum(1 for _, h in rows if h and "publishing" in h),
                     "first_s": round(answered[0] - t0, 1) if answered else None,
                     "longest_gap_ms": round(max(gaps) * 1000) if gaps else None}
    return took, health


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/node/quorumdns",
                    help="the quorumdns binary, relative to the current directory "
                    "(default: %(default)s)")
    ap.add_argument("--names", type=int, default=100000,
                    help="N: the zones of \"many\" and the names of the flat zone "
                    "(default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds, each one dnsperf run per kind (many, then one) "
                    "(default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=10,
                    help="seconds of each dnsperf run (dnsperf -l) (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=4,
                    help="dnsperf's clients (dnsperf -c) (default: %(default)s)")
    ap.add_argument("--restart", action="store_true",
                    help="then restart all three nodes: time to answering, /v1/health")
    args = ap.parse_args()
    n = args.names
    work = tempfile.mkdtemp(prefix="qdns-zones-qps-")
    cl = Cluster(os.path.abspath(args.bin))
    rows = []
    try:
        for i in range(1, 4):
            cl.start(i)
        cl.leader(30)
        t0 = time.time()
        bulk_load(cl, n)
        load_many = time.time() - t0
        t0 = time.time()
        load_flat(cl, n)
        load_one = time.time() - t0
        node = 1
        wait_answers(cl.addr(node), cl.dns, [zone_name(n - 1), FLAT])
        rng = random.Random(12)
        files = {}
        for kind, names in (("many", [f"ns1.{zone_name(k)}" for k in range(n)]),
                            ("one", [f"h{k}.{FLAT}" for k in range(n)])):
            rng.shuffle(names)
            files[kind] = os.path.join(work, f"{kind}.q")
            with open(files[kind], "w") as f:
                f.writelines(f"{name} A\n" for name in names)
        # Every name answers before measuring (the last batch applied).
        time.sleep(2)
        term0 = {i: (cl.health(i) or {}).get("term") for i in cl.procs}
        for r in range(args.rounds):
            for kind in ("many", "one"):
                qps, lost = dnsperf(cl.addr(node), cl.dns, files[kind], args.seconds,
                                    args.clients)
                rows.append((r + 1, kind, qps, lost))
                print(f"# round {r + 1} {kind}: {qps:.0f} qps, {lost:.0f} lost", flush=True)
        term1 = {i: (cl.health(i) or {}).get("term") for i in cl.procs}
        rss = rss_kb(cl.procs[node].pid)
        if args.restart:
            took, health = restart_all(cl, n)
            print(f"# restart of all nodes: every node answers after {took:.1f} s; "
                  f"/v1/health per node {health}", flush=True)
    finally:
        cl.stop_all()
        subprocess.run(["rm", "-rf", work])
    print(f"\n{n:,} names: {n:,} zones loaded in {load_many:.1f} s, one zone of {n:,} "
          f"names in {load_one:.1f} s; node {node} RSS {rss / 1024:.0f} MB; "
          f"raft terms {term0} -> {term1}\n")
    print("| round | names spread over all zones, qps | names in one zone, qps | ratio |")
    print("|---|---|---|---|")
    for r in range(1, args.rounds + 1):
        many = next(q for rr, k, q, _ in rows if rr == r and k == "many")
        one = next(q for rr, k, q, _ in rows if rr == r and k == "one")
        print(f"| {r} | {many:.0f} | {one:.0f} | {many / one if one else 0:.2f} |")
    lost = sum(x for *_, x in rows)
    print(f"\nqueries lost: {lost:.0f}")


if __name__ == "__main__":
    main()
