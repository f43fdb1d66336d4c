#!/usr/bin/python3
"""failover_bench.py -- how long a failover pair takes to follow its endpoint.

Starts a 3-node cluster (tests/system/cluster_util.py, nodes on 127.0.0.11-13),
an HTTP endpoint on 127.0.0.1 that the script stops and starts, an HTTP
health check on it (interval 1 s, failure threshold 3 by default) and a
failover pair whose primary names the check.  Each trial stops the endpoint
(connections refused) and measures the time until EVERY node answers the
secondary over DNS (polled every 20 ms), then starts it again and measures
the time until every node answers the primary.  Then, with the endpoint
healthy, it counts the raft log entries per second in steady state (the
votes' cost) over --steady seconds.

Usage: tools/bench/failover_bench.py [--trials 20] [--interval 1] [--threshold 3]
         [--steady 20]
Prints the figures as Markdown (p50, p99, max of failover and recovery;
log entries per second).  Nothing is left running.
"""
import argparse
import http.server
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "system"))
from cluster_util import Cluster  # noqa: E402

ZONE = "bench.test."
PRIMARY, SECONDARY = "192.0.2.1", "192.0.2.2"


class Endpoint:
    def __init__(self):
        self.port = 0
        self.server = None

    def start(self):
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"OK\n")

            def log_message(self, *a):
                pass

        class S(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = S(("127.0.0.1", self.port), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def answers(node):
    return {r.to_text() for s in node.q(f"www.{ZONE}", "A").answer for r in s}


def until_all(cluster, want, limit=60):
    t0 = time.monotonic()
    pending = list(cluster.running())
    while pending:
        pending = [n for n in pending if answers(n) != {want}]
        if time.monotonic() - t0 > limit:
            raise SystemExit(f"nodes {[n.id for n in pending]} never answered {want}")
        if pending:
            time.sleep(0.02)
    return time.monotonic() - t0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20,
                    help="endpoint stop/start cycles, each timing a failover and a recovery "
                    "(default: %(default)s)")
    ap.add_argument("--interval", type=int, default=1,
                    help="the health check's request_interval: seconds between a node's "
                    "probes (default: %(default)s)")
    ap.add_argument("--threshold", type=int, default=3,
                    help="the health check's failure_threshold: consecutive probe results "
                    "that flip a node's verdict (default: %(default)s)")
    ap.add_argument("--steady", type=float, default=20,
                    help="seconds over which the steady-state raft log entries per second "
                    "are counted (default: %(default)s)")
    a = ap.parse_args()
    ep = Endpoint()
    ep.start()
    with tempfile.TemporaryDirectory() as tmp:
        c = Cluster(os.path.join(tmp, "cluster")).start(3)
        try:
            leader = c.leader()
            assert leader.post("/v1/zones", {"name": ZONE}).status == 201
            r = leader.post("/v1/healthchecks", {
                "type": "HTTP", "ip_address": "127.0.0.1", "port": ep.port,
                "request_interval": a.interval, "failure_threshold": a.threshold})
            assert r.status == 201, r
            hc = r.json["healthcheck"]["id"]
            rs = [{"action": "UPSERT", "rrset": {
                "name": f"www.{ZONE}", "type": "A", "ttl": 1, "records": [ip],
                "set_identifier": sid, "failover": role, **extra}}
                for ip, sid, role, extra in ((PRIMARY, "p", "PRIMARY",
                                              {"health_check_id": hc}),
                                             (SECONDARY, "s", "SECONDARY", {}))]
            r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": rs})
            assert r.status == 200, r
            until_all(c, PRIMARY)
            time.sleep(a.interval * 3)   # every node has voted
            down, up = [], []
            for i in range(a.trials):
                ep.stop()
                down.append(until_all(c, SECONDARY))
                ep.start()
                up.append(until_all(c, PRIMARY))
                print(f"trial {i + 1}: failover {down[-1]:.2f} s, recovery {up[-1]:.2f} s",
                      file=sys.stderr)
            time.sleep(2)
            i0 = leader.health()["applied_index"]
            time.sleep(a.steady)
            i1 = leader.health()["applied_index"]
        finally:
            c.close()
            ep.stop()
    bound = a.interval * a.threshold + 1
    print(f"| {a.trials} trials, interval {a.interval} s, threshold {a.threshold} "
          f"| p50 | p99 | max | bound (interval × threshold + 1 s) |")
    print("|---|---|---|---|---|")
    for name, v in (("endpoint stopped → every node answers the secondary", down),
                    ("endpoint back → every node answers the primary", up)):
        print(f"| {name} | {pct(v, 50):.2f} s | {pct(v, 99):.2f} s | {max(v):.2f} s "
              f"| {bound} s |")
    print(f"\nsteady state, 1 check × 3 nodes: {(i1 - i0) / a.steady:.1f} log entries/s "
          f"over {a.steady:.0f} s")


if __name__ == "__main__":
    main()
