#!/usr/bin/python3
"""zones_peers.py -- memory and load time of many small zones: quorumdns vs Knot and NSD.

Generates N zone files (apex SOA + NS + one A each, the issue 12 shape) in a
temporary directory, then, one server at a time, on loopback ports of its own:

  knot      knotd with one `zone:` per file (journal and timers off: the zone
            files are the only source), started in the foreground;
  nsd       nsd with one `zone:` per file, zone database off;
  quorumdns a 3-node cluster (tools/bench/cluster_bench.Cluster) fed the same
            files through POST /v1/zones/bulk (1,000 zones per request).

For each: seconds from start to the last zone answering (for quorumdns:
from the first bulk request to every node answering the last zone), the
RSS of the server process (quorumdns: every node; the maximum is reported)
and RSS / N.  Also quorumdns's RSS per zone after all three nodes restart
(only the replicated state and the DNS copy, no request garbage), and the
restart-to-answering time.

Usage: tools/bench/zones_peers.py [--zones 100000] [--only knot,nsd,quorumdns]
Prints a Markdown table; figures go to BENCHMARKS.md.  Nothing is left running.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import TOKEN, Cluster, free_port  # noqa: E402


def zone_name(k):
    return f"z{k}.peers{k % 97}.example."


def zone_text(k):
    n = zone_name(k)
    return (f"$TTL 3600\n{n} SOA ns1.{n} hostmaster.{n} 1 7200 3600 1209600 300\n"
            f"{n} NS ns1.{n}\nns1.{n} A 192.0.2.{k % 250 + 1}\n")


def write_zones(d, n):
    os.makedirs(d, exist_ok=True)
    for k in range(n):
        with open(os.path.join(d, f"{zone_name(k)}zone"), "w") as f:
            f.write(zone_text(k))


def soa_ok(addr, port, name, timeout=0.3):
    q = struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 6, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (addr, port))
        data = s.recv(1500)
        return (data[3] & 0xF) == 0 and struct.unpack(">H", data[6:8])[0] > 0
    except OSError:
        return False
    finally:
        s.close()


def wait_answers(addr, port, names, limit=3600):
    t0 = time.time()
    for name in names:
        while not soa_ok(addr, port, name):
            if time.time() - t0 > limit:
                raise RuntimeError(f"{name} not served after {limit} s")
            time.sleep(0.05)
    return time.time() - t0


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kb(pid):
    """Proportional set size: pages shared between processes (NSD's forked
    server and its parent) counted once in total."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def metrics(cl, i):
    """A few raft figures of node i from GET /metrics."""
    want = {"quorumdns_raft_elections_total": "elections",
            "quorumdns_raft_snapshots_total": "snapshots",
            "quorumdns_raft_snapshot_seconds_total": "snapshot_s",
            "quorumdns_raft_log_entries": "log_entries"}
    out = {}
    try:
        conn = http.client.HTTPConnection(cl.addr(i), cl.api, timeout=10)
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        body = conn.getresponse().read()
        for line in body.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in want:
                out[want[parts[0]]] = float(parts[1])
    except (OSError, http.client.HTTPException, ValueError):
        pass
    return out


def probes(n):
    return [zone_name(k) for k in sorted({0, n // 2, n - 1})]


def run_knot(zdir, work, n):
    port = free_port()
    conf = os.path.join(work, "knot.conf")
    with open(conf, "w") as f:
        f.write(f"server:\n  listen: 127.0.0.1@{port}\n  rundir: {work}\n"
                f"database:\n  storage: {work}\n"
                "template:\n  - id: default\n"
                f"    storage: {zdir}\n    file: %s.zone\n"
                "    journal-content: none\n    zonefile-sync: -1\n    semantic-checks: off\n"
                "zone:\n")
        for k in range(n):
            f.write(f"  - domain: {zone_name(k)}\n")
    t0 = time.time()
    p = subprocess.Popen(["knotd", "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        took = wait_answers("127.0.0.1", port, probes(n))
        time.sleep(1)
        return time.time() - t0 if took else 0, rss_kb(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)


def run_nsd(zdir, work, n):
    port = free_port()
    conf = os.path.join(work, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"server:\n  ip-address: 127.0.0.1@{port}\n  server-count: 1\n"
                f"  database: \"\"\n  zonelistfile: {work}/zone.list\n"
                f"  pidfile: {work}/nsd.pid\n  xfrdfile: {work}/xfrd.state\n"
                f"  xfrdir: {work}\n  username: \"\"\n  chroot: \"\"\n"
                f"  zonesdir: {zdir}\n  verbosity: 0\n"
                "remote-control:\n  control-enable: no\n")
        for k in range(n):
            f.write(f"zone:\n  name: {zone_name(k)}\n  zonefile: {zone_name(k)}zone\n")
    t0 = time.time()
    p = subprocess.Popen(["nsd", "-d", "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_answers("127.0.0.1", port, probes(n))
        time.sleep(1)
        took = time.time() - t0
        # nsd forks a server child (and xfrd) sharing the zone data: sum
        # their proportional set sizes, so shared pages count once.
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                              text=True).stdout.split()
        return took, pss_kb(p.pid) + sum(pss_kb(int(k)) for k in kids)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)


def bulk_load(cl, n):
    """Creates zones 0..n-1 (with their files) through POST /v1/zones/bulk,
    1,000 per request, retrying requests a leader change failed; returns the
    number of retries."""
    leader = cl.leader(30)
    conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=600)
    retries = 0
    for a in range(0, n, 1000):
        body = {"create": [{"name": zone_name(k), "zone_file": zone_text(k)}
                           for k in range(a, min(a + 1000, n))]}
        # A leader change fails the items in flight with 503: the same
        # request again, with the same Idempotency-Key, finishes them.
        for attempt in range(10):
            try:
                conn.request("POST", "/v1/zones/bulk", body=json.dumps(body),
                             headers={"Authorization": f"Bearer {TOKEN}",
                                      "Idempotency-Key": f"peers-{a}"})
                r = json.loads(conn.getresponse().read())
            except (OSError, http.client.HTTPException, ValueError):
                r = {}
            failed = [x for x in r.get("results", []) if "error" in x]
            if r.get("results") and not failed:
                break
            assert all(x["status"] == 503 for x in failed), failed[:3]
            retries += 1
            time.sleep(1)
            leader = cl.leader(30)
            conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=600)
        else:
            raise RuntimeError(f"bulk request {a} kept failing")
    if retries:
        print(f"# quorumdns: {retries} bulk request(s) retried after a leader change",
              flush=True)
    return retries


def run_quorumdns(binary, n):
    cl = Cluster(binary)
    try:
        for i in range(1, 4):
            cl.start(i)
        cl.leader(30)
        t0 = time.time()
        bulk_load(cl, n)
        for i in cl.procs:
            wait_answers(cl.addr(i), cl.dns, probes(n))
        took = time.time() - t0
        time.sleep(2)
        rss = max(rss_kb(p.pid) for p in cl.procs.values())
        print(f"# quorumdns after the load: RSS kB "
              f"{ {i: rss_kb(p.pid) for i, p in cl.procs.items()} }, "
              f"metrics { {i: metrics(cl, i) for i in cl.procs} }", flush=True)
        # Restart every node: the state comes back from snapshot + log.
        for p in cl.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in cl.procs.values():
            p.wait(60)
        t1 = time.time()
        for i in range(1, 4):
            cl.start(i)
        for i in cl.procs:
            wait_answers(cl.addr(i), cl.dns, probes(n))
        restart = time.time() - t1
        time.sleep(2)
        rss_restarted = max(rss_kb(p.pid) for p in cl.procs.values())
        snap = 0
        for root, _, files in os.walk(os.path.join(cl.dir, "n1")):
            snap += sum(os.path.getsize(os.path.join(root, f)) for f in files
                        if f.startswith("snapshot-") and not f.endswith(".meta"))
        return took, rss, rss_restarted, restart, snap
    finally:
        cl.stop_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=100000,
                    help="N: zone files generated and loaded into each server "
                    "(default: %(default)s)")
    ap.add_argument("--only", default="knot,nsd,quorumdns",
                    help="servers to measure, comma-separated, of knot, nsd and quorumdns "
                    "(default: %(default)s)")
    ap.add_argument("--bin", default="build/node/quorumdns",
                    help="the quorumdns binary, relative to the current directory "
                    "(default: %(default)s)")
    args = ap.parse_args()
    n = args.zones
    work = tempfile.mkdtemp(prefix="qdns-zones-peers-")
    rows = []
    try:
        zdir = os.path.join(work, "zones")
        write_zones(zdir, n)
        only = args.only.split(",")
        if "knot" in only:
            took, rss = run_knot(zdir, work, n)
            rows.append(("Knot 3.2", took, rss, None, None, None))
            print(f"# knot: {took:.1f} s, {rss} kB", flush=True)
        if "nsd" in only:
            took, rss = run_nsd(zdir, work, n)
            rows.append(("NSD 4.6", took, rss, None, None, None))
            print(f"# nsd: {took:.1f} s, {rss} kB", flush=True)
        if "quorumdns" in only:
            took, rss, rss2, restart, snap = run_quorumdns(os.path.abspath(args.bin), n)
            rows.append(("quorumdns (3 nodes, max)", took, rss, rss2, restart, snap))
            print(f"# quorumdns: {took:.1f} s, {rss} kB, restarted {rss2} kB in "
                  f"{restart:.1f} s, snapshot {snap} B", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{n} zones (SOA + NS + one A each)\n")
    print("| server | load s | RSS MB | RSS per zone | after restart | restart to answering s "
          "| snapshot MB |")
    print("|---|---|---|---|---|---|---|")
    for name, took, rss, rss2, restart, snap in rows:
        print(f"| {name} | {took:.1f} | {rss / 1024:.0f} | {rss * 1024 / n:.0f} B | "
              + (f"{rss2 / 1024:.0f} MB ({rss2 * 1024 / n:.0f} B/zone) | {restart:.1f} | "
                 f"{snap / 1e6:.1f} |" if rss2 else "- | - | - |"))


if __name__ == "__main__":
    main()
