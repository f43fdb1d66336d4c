#!/usr/bin/python3
"""cluster_bench.py -- write-path benchmark of a 3-voter quorumdns cluster on loopback.

Starts its own cluster (own data directories and ports, nothing left running),
then measures, in one invocation:

  1. sustained change throughput: concurrent clients POST change batches of
     100 record sets to the leader (keep-alive HTTP) for DURATION seconds;
  2. visibility latency: API acknowledgement -> every node answering the new
     record over DNS (UDP), sampled SAMPLES times (p50/p99/max);
  3. failover: kill -9 of the leader -> first write accepted by a survivor
     (repeated FAILOVERS times, the killed node restarted in between);
  4. DNS queries/s on a follower while idle and while the cluster applies a
     steady write load (dnsperf, same query file), and the ratio;
  5. with --big-sets N (or --big-only): a zone of N record sets, then small
     writes for --duration seconds so that every node takes several raft
     snapshots of the large state: write latency (p50/p99/max), the longest
     a node's loop took to answer GET /v1/health, and elections (raft term
     changes) -- what a snapshot taken on the node's loop would disturb.

Raft runs over the authenticated transport (a CA and node certificates are
made for the run) unless --raft-transport plaintext; --write-only runs
phases 1 and 2 only (to compare the two transports).

Usage: tools/bench/cluster_bench.py [--bin build/node/quorumdns] [--duration 10]
       tools/bench/cluster_bench.py --big-only --big-sets 1000000
       tools/bench/cluster_bench.py --write-only --raft-transport plaintext
Prints a Markdown table; figures go to BENCHMARKS.md.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "bench-admin-token"
ZONE = "bench.test."


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Cluster:
    def __init__(self, binary, n=3, transport="tls"):
        self.binary = binary
        self.n = n
        self.transport = transport
        self.dir = tempfile.mkdtemp(prefix="qdns-bench-")
        if transport == "tls":
            pki = os.path.join(self.dir, "pki")
            subprocess.run([binary, "ca", "init", pki], check=True, stdout=subprocess.DEVNULL)
            for i in range(1, n + 1):
                subprocess.run([binary, "ca", "issue", pki, "--node-id", str(i)], check=True,
                               stdout=subprocess.DEVNULL)
        self.raft, self.api, self.dns = free_port(), free_port(), free_port()
        self.procs = {}
        self.boot = ",".join(f"{i}@127.0.0.{10 + i}:{self.raft}" for i in range(1, n + 1))

    def addr(self, i):
        return f"127.0.0.{10 + i}"

    def start(self, i):
        d = os.path.join(self.dir, f"n{i}")
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(self.dir, f"n{i}.log"), "ab")
        a = self.addr(i)
        self.procs[i] = subprocess.Popen(
            [self.binary, "--data-dir", d, "--node-id", str(i), "--raft-listen", f"{a}:{self.raft}",
             "--api-listen", f"{a}:{self.api}", "-l", f"{a}:{self.dns}", "--bootstrap", self.boot,
             "--api-token", f"admin:{TOKEN}", "--log-level", os.environ.get("QDNS_BENCH_LOG", "warn"),
             "--api-write-rate", "0"] + self.identity(i),
            stdout=log, stderr=log)

    def identity(self, i):
        if self.transport == "plaintext":
            return ["--raft-transport", "plaintext"]
        pki = os.path.join(self.dir, "pki")
        return ["--node-ca", f"{pki}/ca.crt", "--node-cert", f"{pki}/node-{i}.crt",
                "--node-key", f"{pki}/node-{i}.key"]

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        keep = os.environ.get("QDNS_BENCH_KEEP_LOGS")  # a directory for the nodes' logs
        if keep:
            os.makedirs(keep, exist_ok=True)
            for i in range(1, self.n + 1):
                src = os.path.join(self.dir, f"n{i}.log")
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(keep, f"n{i}.log"))
        shutil.rmtree(self.dir, ignore_errors=True)

    def health(self, i):
        try:
            c = http.client.HTTPConnection(self.addr(i), self.api, timeout=1)
            c.request("GET", "/v1/health")
            return json.loads(c.getresponse().read())
        except OSError:
            return None

    def leader(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            for i in self.procs:
                if self.procs[i].poll() is None:
                    h = self.health(i)
                    if h and h["role"] == "leader":
                        return i
            time.sleep(0.05)
        raise RuntimeError("no leader")


def request(conn, method, path, body=None, key=None):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def batch(prefix, n, value="192.0.2.1"):
    return {"changes": [{"action": "UPSERT", "rrset": {"name": f"{prefix}-{k}.{ZONE}", "type": "A",
                                                        "ttl": 60, "records": [value]}}
                        for k in range(n)]}


def dns_query(addr, port, name, timeout=0.2):
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (addr, port))
        data = s.recv(1500)
        return struct.unpack(">H", data[6:8])[0] > 0  # ANCOUNT
    except OSError:
        return False
    finally:
        s.close()


def throughput(cl, leader, duration, clients, size):
    done = [0] * clients
    errors = [0] * clients
    stop = time.time() + duration

    def worker(w):
        conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=30)
        k = 0
        while time.time() < stop:
            st, _ = request(conn, "POST", f"/v1/zones/{ZONE}/changes", batch(f"t{w}-{k}", size))
            if st == 200:
                done[w] += size
            else:
                errors[w] += 1
            k += 1

    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.time() - t0), sum(errors)


def visibility(cl, leader, samples):
    conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=10)
    lat = []
    for s in range(samples):
        name = f"vis-{s}"
        st, _ = request(conn, "POST", f"/v1/zones/{ZONE}/changes", batch(name, 1))
        assert st == 200, st
        t0 = time.time()
        pending = set(cl.procs)
        while pending and time.time() - t0 < 5:
            for i in list(pending):
                if dns_query(cl.addr(i), cl.dns, f"{name}-0.{ZONE}", 0.05):
                    pending.discard(i)
        lat.append((time.time() - t0) * 1000)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], lat[-1]


def failover(cl):
    leader = cl.leader()
    cl.procs[leader].kill()
    cl.procs[leader].wait()
    t0 = time.time()
    body = batch(f"fo-{int(t0 * 1000)}", 1)
    key = f"fo-{t0}"
    while time.time() - t0 < 10:
        for i in cl.procs:
            if i == leader:
                continue
            try:
                conn = http.client.HTTPConnection(cl.addr(i), cl.api, timeout=0.5)
                st, _ = request(conn, "POST", f"/v1/zones/{ZONE}/changes", body, key)
                if st == 200:
                    took = time.time() - t0
                    cl.start(leader)
                    time.sleep(1.0)
                    return took
            except OSError:
                pass
        time.sleep(0.01)
    raise RuntimeError("no write accepted within 10 s")


def big_state(cl, sets, duration, clients=4):
    """Loads `sets` record sets, then writes one-set batches for `duration` s
    while probing every node's API; returns the figures of phase 5."""
    leader = cl.leader()
    conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=60)
    t0 = time.time()
    for k in range(0, sets, 5000):
        st, body = request(conn, "POST", f"/v1/zones/{ZONE}/changes",
                           batch(f"big{k // 5000}", min(5000, sets - k)))
        assert st == 200, body
    load_s = time.time() - t0
    terms0 = {i: cl.health(i)["term"] for i in cl.procs}
    stop = time.time() + duration
    lat, errors, probe_max = [], [0], {i: 0.0 for i in cl.procs}

    def writer(w):
        c = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=30)
        k = 0
        while time.time() < stop:
            a = time.time()
            st, _ = request(c, "POST", f"/v1/zones/{ZONE}/changes", batch(f"s{w}-{k}", 1))
            if st == 200:
                lat.append((time.time() - a) * 1000)
            else:
                errors[0] += 1
            k += 1

    def prober(i):
        while time.time() < stop:
            a = time.time()
            cl.health(i)
            probe_max[i] = max(probe_max[i], (time.time() - a) * 1000)
            time.sleep(0.02)

    ts = [threading.Thread(target=writer, args=(w,)) for w in range(clients)]
    ts += [threading.Thread(target=prober, args=(i,)) for i in cl.procs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    terms1 = {i: cl.health(i)["term"] for i in cl.procs}
    lat.sort()
    return {"load_s": load_s, "writes": len(lat), "errors": errors[0],
            "p50": lat[len(lat) // 2] if lat else 0, "p99": lat[int(len(lat) * 0.99) - 1] if lat else 0,
            "max": lat[-1] if lat else 0, "probe_max": max(probe_max.values()),
            "elections": sum(terms1[i] - terms0[i] for i in cl.procs) // len(cl.procs),
            "terms": (terms0, terms1)}


def dnsperf(addr, port, qfile, secs):
    out = subprocess.run(["dnsperf", "-s", addr, "-p", str(port), "-d", qfile, "-l", str(secs),
                          "-c", "4", "-q", "50"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "Queries per second" in line:
            return float(line.split()[-1])
    return 0.0


def print_big(args, b, header=True):
    if header:
        print("| measure | result | target |")
        print("|---|---|---|")
    print(f"| {args.big_sets:,} record sets loaded | {b['load_s']:.1f} s | |")
    # Every node snapshots each 2,048 entries (the default threshold).
    print(f"| one-set writes for {args.duration} s with {args.big_sets:,} sets "
          f"(~{b['writes'] // 2048} snapshots per node) | {b['writes']:,} writes, p50 {b['p50']:.1f} ms, "
          f"p99 {b['p99']:.1f} ms, max {b['max']:.1f} ms ({b['errors']} errors) | |")
    print(f"| longest GET /v1/health meanwhile (any node) | {b['probe_max']:.0f} ms | "
          f"< election timeout (400 ms) |")
    print(f"| elections meanwhile (raft term changes) | {b['elections']} | 0 |")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "..", "..", "build", "node", "quorumdns"),
                    help="the quorumdns binary the nodes run (default: build/node/quorumdns "
                    "of this checkout)")
    ap.add_argument("--duration", type=int, default=10,
                    help="seconds of phase 1's writes, of each of phase 4's two dnsperf runs "
                    "and of phase 5's writes (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=8,
                    help="concurrent keep-alive API clients of phase 1 (phase 5 uses 4) "
                    "(default: %(default)s)")
    ap.add_argument("--batch", type=int, default=100,
                    help="record sets per change request in phase 1 and in phase 4's write "
                    "load (default: %(default)s)")
    ap.add_argument("--samples", type=int, default=200,
                    help="phase 2: one-record writes timed until every node answers them "
                    "(default: %(default)s)")
    ap.add_argument("--failovers", type=int, default=3,
                    help="phase 3: leader kills timed, the killed node restarted in between "
                    "(default: %(default)s)")
    ap.add_argument("--load-rate", type=int, default=5000,
                    help="record changes/s applied while DNS qps is measured under load "
                    "(phase 4, in requests of --batch) (default: %(default)s)")
    ap.add_argument("--big-sets", type=int, default=0,
                    help="phase 5: record sets in the large zone (0: skip the phase) "
                    "(default: %(default)s)")
    ap.add_argument("--big-only", action="store_true",
                    help="run phase 5 only (needs --big-sets)")
    ap.add_argument("--write-only", action="store_true", help="run phases 1 and 2 only")
    ap.add_argument("--raft-transport", choices=("tls", "plaintext"), default="tls",
                    help="transport between the nodes' raft: tls (a CA and node "
                    "certificates are made for the run) or plaintext (default: %(default)s)")
    args = ap.parse_args()
    if args.big_only and args.big_sets <= 0:
        ap.error("--big-only needs --big-sets N")
    cl = Cluster(os.path.abspath(args.bin), transport=args.raft_transport)
    try:
        for i in range(1, 4):
            cl.start(i)
        leader = cl.leader()
        conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=10)
        st, body = request(conn, "POST", "/v1/zones", {"name": ZONE})
        assert st in (200, 201), body
        st, _ = request(conn, "POST", f"/v1/zones/{ZONE}/changes", batch("q", 1000))
        assert st == 200
        if args.big_only:
            print_big(args, big_state(cl, args.big_sets, args.duration))
            return 0
        rate, errs = throughput(cl, leader, args.duration, args.clients, args.batch)
        p50, p99, pmax = visibility(cl, leader, args.samples)
        if args.write_only:
            print("| raft transport | record changes/s | errors | ack -> all nodes p50 | p99 | max |")
            print("|---|---|---|---|---|---|")
            print(f"| {args.raft_transport} | {rate:,.0f} | {errs} | {p50:.1f} ms | {p99:.1f} ms "
                  f"| {pmax:.1f} ms |")
            return 0
        fo = [failover(cl) for _ in range(args.failovers)]
        leader = cl.leader()
        follower = next(i for i in cl.procs if i != leader)
        qfile = os.path.join(cl.dir, "queries.txt")
        with open(qfile, "w") as f:
            for k in range(1000):
                f.write(f"q-{k}.{ZONE} A\n")
        idle = dnsperf(cl.addr(follower), cl.dns, qfile, args.duration)
        stop = [False]

        def load():
            # A steady load: --load-rate record changes/s in batches of --batch.
            conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=30)
            k = 0
            interval = args.batch / args.load_rate
            next_at = time.time()
            while not stop[0]:
                request(conn, "POST", f"/v1/zones/{ZONE}/changes", batch(f"l-{k}", args.batch))
                k += 1
                next_at += interval
                time.sleep(max(0.0, next_at - time.time()))
        t = threading.Thread(target=load)
        t.start()
        busy = dnsperf(cl.addr(follower), cl.dns, qfile, args.duration)
        stop[0] = True
        t.join()
        print("| measure | result | target |")
        print("|---|---|---|")
        print(f"| change throughput ({args.clients} clients, batches of {args.batch}) | "
              f"{rate:,.0f} record changes/s ({errs} errors) | >= 20,000/s |")
        print(f"| ack -> every node answers (UDP), {args.samples} samples | "
              f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {pmax:.1f} ms | p99 < 50 ms |")
        print(f"| kill -9 leader -> write accepted | "
              f"{', '.join(f'{x:.2f}' for x in fo)} s | < 1.5 s |")
        print(f"| follower DNS qps idle / under {args.load_rate:,} changes/s | {idle:,.0f} / {busy:,.0f} "
              f"({busy / idle if idle else 0:.2f}x) | >= 0.8x |")
        if args.big_sets > 0:
            print_big(args, big_state(cl, args.big_sets, args.duration), header=False)
    finally:
        cl.stop_all()


if __name__ == "__main__":
    sys.exit(main())
