#!/usr/bin/env python3
"""policy_zone.py -- the data of the routing-policy benchmark (policy_bench.sh).

Writes into OUT:
  example.test.zone   quorumdns: N plain names s<i> (one A) and s8-<i> (8 A),
                      and as ';quorumdns-rrset' lines N weighted names w<i>
                      (3 sets, weights 1:2:3), N failover pairs f<i> and N
                      multivalue names m<i> (8 sets of one A)
  gdnsd/zones/example.test, gdnsd/config.in
                      gdnsd: the same plain names, and w<i> as
                      "DYNA weighted!w<i>" with the same three addresses and
                      weights in its weighted plugin
  simple.txt, simple8.txt, weighted.txt, failover.txt, multivalue.txt
                      query files (dnsperf format, --queries lines, names
                      drawn uniformly, deterministic with --seed)

Usage: tools/bench/policy_zone.py --out OUT [--n 2000] [--queries 100000] [--seed 7]
(run by policy_bench.sh, dnstap_bench.sh and metrics_bench.sh).
"""

import argparse
import json
import os
import random

HEAD = """$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
"""


def addr(i, k):
    return f"10.{(i >> 8) & 255}.{i & 255}.{k + 1}"


def routed(obj):
    return ";quorumdns-rrset " + json.dumps(obj, separators=(",", ":")) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True,
                    help="OUT: the directory the files are written into (created if missing)")
    ap.add_argument("--n", type=int, default=2000,
                    help="N: names of each kind (s<i>, s8-<i>, w<i>, f<i>, m<i>) "
                    "(default: %(default)s)")
    ap.add_argument("--queries", type=int, default=100000,
                    help="lines of each query file (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=7,
                    help="random seed of the query files (default: %(default)s)")
    a = ap.parse_args()
    n = a.n
    os.makedirs(os.path.join(a.out, "gdnsd", "zones"), exist_ok=True)
    plain = []
    for i in range(n):
        plain.append(f"s{i} 300 A {addr(i, 0)}\n")
        plain += [f"s8-{i} 300 A {addr(i, k)}\n" for k in range(8)]
    with open(os.path.join(a.out, "example.test.zone"), "w") as f:
        f.write(HEAD)
        f.writelines(plain)
        for i in range(n):
            name = f"w{i}.example.test."
            for k, w in enumerate((1, 2, 3)):
                f.write(routed({"name": name, "type": "A", "set_identifier": f"s{k}",
                                "ttl": 300, "records": [addr(i, k)], "weight": w}))
            for k, role in enumerate(("PRIMARY", "SECONDARY")):
                f.write(routed({"name": f"f{i}.example.test.", "type": "A",
                                "set_identifier": role.lower(), "ttl": 300,
                                "records": [addr(i, k)], "failover": role}))
            for k in range(8):
                f.write(routed({"name": f"m{i}.example.test.", "type": "A",
                                "set_identifier": f"m{k}", "ttl": 300,
                                "records": [addr(i, k)], "multi_value_answer": True}))
    with open(os.path.join(a.out, "gdnsd", "zones", "example.test"), "w") as f:
        f.write(HEAD)
        f.writelines(plain)
        f.writelines(f"w{i} 300 DYNA weighted!w{i}\n" for i in range(n))
    with open(os.path.join(a.out, "gdnsd", "config.in"), "w") as f:
        f.write("options => {\n  listen => [ 127.0.0.1:@PORT@ ]\n  udp_threads => 1\n"
                "  tcp_threads => 1\n  run_dir => @RUN@/run\n"
                "  state_dir => @RUN@/state\n}\n")
        f.write("plugins => {\n weighted => {\n  multi = false\n")
        for i in range(n):
            f.write(f"  w{i} => {{ a = [ {addr(i, 0)}, 1 ], b = [ {addr(i, 1)}, 2 ],"
                    f" c = [ {addr(i, 2)}, 3 ] }}\n")
        f.write(" }\n}\n")
    rnd = random.Random(a.seed)
    for fname, prefix in (("simple", "s"), ("simple8", "s8-"), ("weighted", "w"),
                          ("failover", "f"), ("multivalue", "m")):
        with open(os.path.join(a.out, f"{fname}.txt"), "w") as f:
            for _ in range(a.queries):
                f.write(f"{prefix}{rnd.randrange(n)}.example.test. A\n")


if __name__ == "__main__":
    main()
