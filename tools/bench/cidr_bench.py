#!/usr/bin/python3
"""cidr_bench.py -- IP-based routing at a million CIDR blocks.

1. build/tools/bench/lpm_micro: the trie alone -- build time, memory and
   lookup ns per query (ECS /24 and /56 clients) at --prefixes prefixes,
   --repeat runs (the spread is printed: the machine is shared).
2. A real 3-node cluster (tests/system/cluster_util.py, the API's write
   rate limit off): one collection of --prefixes distinct blocks (90 %
   IPv4 /16../28, 10 % IPv6 /32../64, in --locations locations) loaded
   through the API on the leader in changes of --chunk blocks (a change
   answered 503 because the leader changed is sent again and counted); the time
   until every node serves the last change (an ECS query for a block of the
   last chunk answers its location's set), and each node's resident memory
   (VmRSS) before and after.  --repeat runs, each on a fresh cluster.

Usage: QDNS_BIN=build/node/quorumdns tools/bench/cidr_bench.py
         [--prefixes 1000000] [--chunk 100000] [--locations 1000] [--repeat 3]
         [--no-cluster]
Prints Markdown.  Nothing is left running.
"""
import argparse
import ipaddress
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import dns.edns
import dns.message
import dns.query

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "system"))
from cluster_util import Cluster  # noqa: E402


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def blocks(n, seed):
    rnd = random.Random(seed)
    seen = set()
    out = []
    while len(out) < n:
        if len(out) % 10 != 9:
            length = rnd.choice([16, 18, 20, 22, 22, 23, 24, 24, 24, 24, 26, 28])
            addr = rnd.getrandbits(32) & ~((1 << (32 - length)) - 1)
            net = f"{ipaddress.IPv4Address(addr)}/{length}"
        else:
            length = rnd.choice([32, 40, 48, 48, 56, 64])
            addr = (0x2001 << 112) | (rnd.getrandbits(112) & ~((1 << (128 - length)) - 1))
            net = f"{ipaddress.IPv6Address(addr)}/{length}"
        if net not in seen:
            seen.add(net)
            out.append(net)
    return out


def ask(node, qname, subnet):
    net = ipaddress.ip_network(subnet)
    src = min(net.prefixlen, 24 if net.version == 4 else 56)
    q = dns.message.make_query(qname, "A", use_edns=0,
                               options=[dns.edns.ECSOption(str(net.network_address), src)])
    r = dns.query.udp(q, node.host, port=node.dns_port, timeout=2)
    return sorted(rr.to_text() for s in r.answer for rr in s)


def micro(a):
    binary = os.environ.get("LPM_MICRO_BIN",
                            os.path.join(REPO, "build", "tools", "bench", "lpm_micro"))
    rows = []
    for _ in range(a.repeat):
        p = subprocess.run([binary, str(a.prefixes), "9"], capture_output=True, text=True,
                           check=True)
        rows.append(p.stdout.strip())
        print("    " + p.stdout.strip().replace("\n", "\n    "))
    return rows


def one_cluster(a, nets, tmp):
    c = Cluster(os.path.join(tmp, "cluster")).start(3, extra=("--api-write-rate", "0"))
    try:
        leader = c.leader()
        r = leader.post("/v1/zones", {"name": "bench.test."})
        assert r.status == 201, r
        r = leader.post("/v1/cidrcollections", {"name": "big"}, timeout=30)
        assert r.status == 201, r
        coll = r.json["cidr_collection"]["id"]
        before = [rss_mb(n.proc.pid) for n in c.running()]
        retries = [0]
        t0 = time.monotonic()
        posts = []
        for at in range(0, len(nets), a.chunk):
            chunk = nets[at:at + a.chunk]
            by_loc = {}
            for k, net in enumerate(chunk):
                by_loc.setdefault(f"l{(at + k) % a.locations}", []).append(net)
            body = {"changes": [{"action": "PUT", "location_name": loc, "cidr_list": l}
                                for loc, l in by_loc.items()]}
            p0 = time.monotonic()
            while True:
                r = c.leader().post(f"/v1/cidrcollections/{coll}/changes", body,
                                    timeout=600)
                if r.status != 503:
                    break
                # A leader lost while applying: PUT again (PUT is idempotent).
                retries[0] += 1
                time.sleep(0.2)
            assert r.status == 200, r
            posts.append(time.monotonic() - p0)
        api_done = time.monotonic() - t0
        last = nets[-1]
        loc = f"l{(len(nets) - 1) % a.locations}"
        while True:  # UPSERTs are idempotent: sent again after a leader change
            r = c.leader().post("/v1/zones/bench.test./changes", {"changes": [
                {"action": "UPSERT", "rrset": {
                    "name": "www.bench.test.", "type": "A", "ttl": 60,
                    "set_identifier": s, "records": [v],
                    "cidr_routing_config": {"collection_id": coll, "location_name": s}}}
                for s, v in ((loc, "192.0.2.1"), ("*", "192.0.2.9"))]}, timeout=60)
            if r.status != 503:
                break
            retries[0] += 1
            time.sleep(0.2)
        assert r.status == 200, r
        for n in c.running():
            end = time.monotonic() + 300
            while ask(n, "www.bench.test.", last) != ["192.0.2.1"]:
                assert time.monotonic() < end, f"n{n.id} never served {last}"
                time.sleep(0.05)
        served = time.monotonic() - t0
        after = [rss_mb(n.proc.pid) for n in c.running()]
        return api_done, served, posts, before, after, retries[0]
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefixes", type=int, default=1000000,
                    help="CIDR blocks: the prefixes lpm_micro builds its trie of, and the "
                    "distinct blocks loaded into the cluster's collection "
                    "(default: %(default)s)")
    ap.add_argument("--chunk", type=int, default=100000,
                    help="blocks per change request (POST .../changes) when loading the "
                    "collection (default: %(default)s)")
    ap.add_argument("--locations", type=int, default=1000,
                    help="locations of the collection the blocks are spread over, round "
                    "robin (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of lpm_micro, and of the cluster load, each on a fresh "
                    "cluster (default: %(default)s)")
    ap.add_argument("--no-cluster", action="store_true",
                    help="run lpm_micro only (part 1): no cluster is started")
    a = ap.parse_args()
    print(f"## lpm_micro {a.prefixes} 9 (x{a.repeat})\n")
    micro(a)
    if a.no_cluster:
        return
    nets = blocks(a.prefixes, 1)
    print(f"\n## load {a.prefixes} blocks through the API, changes of {a.chunk}\n")
    print("| run | API (all changes applied) s | every node serves s | per change s "
          "(min-max) | changes retried (leader lost) | RSS before MB | RSS after MB |")
    print("|---|---|---|---|---|---|---|")
    served = []
    for i in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            api_done, t, posts, before, after, retried = one_cluster(a, nets, tmp)
        served.append(t)
        print(f"| {i + 1} | {api_done:.1f} | {t:.1f} | {min(posts):.2f}-{max(posts):.2f} "
              f"| {retried} | {'/'.join(f'{x:.0f}' for x in before)} "
              f"| {'/'.join(f'{x:.0f}' for x in after)} |", flush=True)
    print(f"\nserved after: median {statistics.median(served):.1f} s, "
          f"min {min(served):.1f}, max {max(served):.1f}")


if __name__ == "__main__":
    main()
