#!/usr/bin/python3
"""probing_bench.py -- what 10,000 health checks cost a real 3-node cluster.

Starts a fast loopback HTTP endpoint (build/tools/bench/health_bench
--serve-only: the unit tests' libuv server, several ports of 127.0.0.1, in
its own process so its CPU is not a node's) and a 3-node cluster
(tests/system/cluster_util.py, nodes on 127.0.0.11-13, the API's write rate
limit off with --api-write-rate 0), then creates --checks HTTP checks
(interval --interval, spread over the endpoint's ports) through the API
with --clients concurrent clients on the leader.  Once every node has
probed each check (--settle seconds after the last creation; a sample of
checks must then be HEALTHY with a fresh vote from every node), it
measures over --duration seconds:
  - each node's CPU: utime + stime from /proc/PID/stat, as a share of one
    core;
  - the raft log entries per second: the leader's /v1/health applied_index
    rate (only votes are written then);
  - the machine's load average, before and after.

Usage: QDNS_BIN=build/node/quorumdns tools/bench/probing_bench.py
         [--checks 10000] [--interval 10] [--duration 60] [--ports 8]
         [--clients 4] [--settle 25]
Prints Markdown.  Nothing is left running.
"""
import argparse
import concurrent.futures
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "system"))
from cluster_util import ADMIN_TOKEN, Cluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of pid, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def create_checks(node, n, ports, interval, clients):
    """n HTTP checks through node's API, `clients` sessions at once; their ids."""
    ids, lock, errors = [], threading.Lock(), []

    def worker(k):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        for i in range(k, n, clients):
            body = {"type": "HTTP", "ip_address": "127.0.0.1", "port": ports[i % len(ports)],
                    "resource_path": f"/c{i}", "request_interval": interval,
                    "failure_threshold": 3}
            for _ in range(20):
                r = s.post(f"{node.api}/v1/healthchecks", json=body, timeout=30)
                if r.status_code == 429:
                    time.sleep(0.5)
                    continue
                break
            if r.status_code != 201:
                errors.append((r.status_code, r.text[:200]))
                return
            with lock:
                ids.append(r.json()["healthcheck"]["id"])

    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, range(clients)))
    if errors:
        raise SystemExit(f"creating checks failed: {errors[:3]}")
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", type=int, default=10000,
                    help="HTTP health checks to create (default: %(default)s)")
    ap.add_argument("--interval", type=int, default=10,
                    help="the checks' request_interval: seconds between a node's probes "
                    "of a check (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=60,
                    help="seconds of the measurement window (default: %(default)s)")
    ap.add_argument("--ports", type=int, default=8,
                    help="127.0.0.1 ports the endpoint (health_bench --serve-only) listens "
                    "on; the checks are spread over them (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=4,
                    help="concurrent API clients creating the checks on the leader "
                    "(default: %(default)s)")
    ap.add_argument("--settle", type=float, default=25,
                    help="seconds waited after the last check is created (and applied "
                    "everywhere) before the sample of checks is verified "
                    "(default: %(default)s)")
    a = ap.parse_args()
    bench = os.environ.get("HEALTH_BENCH_BIN",
                           os.path.join(REPO, "build", "tools", "bench", "health_bench"))
    ep = subprocess.Popen([bench, "--serve-only", "--ports", str(a.ports)],
                          stdout=subprocess.PIPE, text=True)
    try:
        ports = [int(ep.stdout.readline()) for _ in range(a.ports)]
        with tempfile.TemporaryDirectory() as tmp:
            c = Cluster(os.path.join(tmp, "cluster")).start(
                3, extra=("--api-write-rate", "0"))
            try:
                run(a, c, ports, ep)
            finally:
                c.close()
    finally:
        ep.terminate()
        ep.wait()


def run(a, c, ports, ep):
    leader = c.leader()
    t0 = time.monotonic()
    ids = create_checks(leader, a.checks, ports, a.interval, a.clients)
    took = time.monotonic() - t0
    print(f"created {len(ids)} checks in {took:.1f} s "
          f"({len(ids) / took:.0f}/s, {a.clients} clients)", file=sys.stderr)
    c.wait_applied(timeout=60)
    time.sleep(a.settle)
    sample = random.sample(ids, min(50, len(ids)))
    for hc in sample:
        s = leader.get(f"/v1/healthchecks/{hc}/status").json
        fresh = [v for v in s["votes"] if v["fresh"] and v["status"] == "HEALTHY"]
        if s["status"] != "HEALTHY" or len(fresh) != 3:
            raise SystemExit(f"not steady: check {hc}: {s}")
    nodes = c.running()
    load0 = os.getloadavg()
    cpu0 = {n.id: cpu_seconds(n.proc.pid) for n in nodes}
    ep0 = cpu_seconds(ep.pid)
    i0, w0 = leader.health()["applied_index"], time.monotonic()
    time.sleep(a.duration)
    i1, w1 = leader.health()["applied_index"], time.monotonic()
    cpu1 = {n.id: cpu_seconds(n.proc.pid) for n in nodes}
    ep1 = cpu_seconds(ep.pid)
    load1 = os.getloadavg()
    wall = w1 - w0
    bad = 0
    for hc in random.sample(ids, min(50, len(ids))):
        s = leader.get(f"/v1/healthchecks/{hc}/status").json
        bad += s["status"] != "HEALTHY" or any(v["status"] != "HEALTHY" for v in s["votes"])
    print(f"\n{a.checks:,} HTTP checks × {a.interval} s interval, 3 nodes, "
          f"measured over {wall:.0f} s (checks created in {took:.0f} s, "
          f"{a.clients} clients)\n")
    print("| node | CPU, % of one core | target |")
    print("|---|---|---|")
    for n in nodes:
        pct = 100 * (cpu1[n.id] - cpu0[n.id]) / wall
        print(f"| n{n.id} | **{pct:.1f} %** | < 25 % |")
    print(f"\nraft log entries/s (leader's applied index): **{(i1 - i0) / wall:.1f}** "
          f"(target < 20)")
    print(f"endpoint process CPU: {100 * (ep1 - ep0) / wall:.1f} % of one core; "
          f"checks sampled after the window not all healthy: {bad} of 50")
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} "
          f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
