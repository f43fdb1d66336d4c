#!/usr/bin/python3
"""zones_bench.py -- many-zone benchmark of a 3-voter quorumdns cluster on loopback.

Starts its own cluster (cluster_bench.Cluster: own data directories and
ports, nothing left running), then for each catalog size in --sizes:

  1. creates zones until the cluster holds that many, with --clients
     concurrent API clients (POST /v1/zones, or POST /v1/zones/bulk with
     --bulk N zones per request: then --create-clients 2); reports zone
     creations/s of that stretch;
  2. once every node is idle again (the snapshots the stretch asked for
     written), upserts one A record set per request into one zone for
     --duration s with --clients clients; reports upserts/s and p50/p99
     latency;
  3. reports every node's RSS and the RSS per zone;
  4. with --window W, creates W more zones --rounds times and reports the
     median of their creations/s, and each node's CPU per creation (its loop
     and its other threads apart): the creation rate at this catalog size
     (the stretch of step 1 spans every size from the previous one, and at
     the first size times a cluster that has just started), so sizes compare
     as the upserts do; per window also the snapshots each node took and
     each node's longest health answer with its time, and per size the
     windows' overall rate and the CPU per creation of all nodes together
     (over every window, and over those in which no node took a snapshot);

while every node's GET /v1/health is probed every 20 ms (the longest answer
of any node per stretch: a stall of a node's loop), and each node's
/metrics gives its elections, snapshots (count, seconds) and raft log
entries kept since its last snapshot.  After the last size, every node is
stopped and restarted: restart to answering (every node answers the first,
middle and last zone), RSS after the restart and the snapshot size on disk.

With --perf SECONDS, `perf record -g` samples the leader and a follower
during the first SECONDS of each upsert phase and of the first creation
window, and prints the top of `perf report` (with
--rounds 2 or more, only the first round is profiled, and the medians in
the table leave it out).  When the windows of a size go past the next size,
that size's stretch creates nothing and its windows go on from there (RSS
per zone divides by the zones there are).  The leader is looked up again
before every creation stretch and upsert round (writes sent to a deposed
leader are forwarded, a different path).

Usage: tools/bench/zones_bench.py [--bin build/node/quorumdns] [--sizes 10,100000]
                                  [--clients 8] [--duration 10] [--bulk 0]
                                  [--create-clients N] [--perf SECONDS] [--with-a]
                                  [--rounds R] [--window W]
Every upsert round and window also prints the machine's steal time over it
(/proc/stat: the share of CPU time the hypervisor gave to other guests,
the noise of a shared machine).  Prints a Markdown table (upserts/s: the
median of the rounds, with their range); figures go to BENCHMARKS.md.
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import TOKEN, Cluster  # noqa: E402
from zones_peers import metrics, soa_ok  # noqa: E402


def req(conn, method, path, body=None):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def zone_name(k):
    return f"z{k}.bench{k % 97}.example."


def create_zones(cl, leader, first, last, clients, bulk, with_a=False, delete=False):
    """Creates zones first..last-1 (with delete, deletes them: bulk requests
    only); returns (seconds, errors)."""
    nxt = [first]
    lock = threading.Lock()
    errors = [0]

    def take(n):
        with lock:
            a = nxt[0]
            b = min(a + n, last)
            nxt[0] = b
            return a, b

    def worker():
        conn = http.client.HTTPConnection(cl.addr(leader), cl.api, timeout=120)
        while True:
            a, b = take(bulk if bulk else 1)
            if a >= b:
                return
            if bulk and delete:
                body = {"delete": [{"name": zone_name(k), "force": True}
                                   for k in range(a, b)]}
                st, out = req(conn, "POST", "/v1/zones/bulk", body)
                ok = st == 200 and all(r.get("status") == 200
                                       for r in json.loads(out)["results"])
            elif bulk:
                body = {"create": [dict({"name": zone_name(k)}, **(
                    {"zone_file": f"ns1 3600 A 192.0.2.{k % 250 + 1}\n"} if with_a else {}))
                    for k in range(a, b)]}
                st, out = req(conn, "POST", "/v1/zones/bulk", body)
                ok = st == 200 and all(r.get("status") == 201
                                       for r in json.loads(out)["results"])
            else:
                st, out = req(conn, "POST", "/v1/zones", {"name": zone_name(a)})
                ok = st == 201
            if not ok:
                errors[0] += 1
                if errors[0] < 5:
                    print(f"{'delete' if delete else 'create'} failed: {st} {out[:200]}",
                          file=sys.stderr)

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.time() - t0, errors[0]


def timed_upserts(cl, node, zone, duration, clients):
    """Upserts into zone through node's API by `clients` threads for
    `duration` seconds, each on its own kept connection (opened again after
    a connection error); (count, seconds, p50 ms, p99 ms, errors)."""
    stop = time.time() + duration
    lat, errors = [], [0]

    def worker(w):
        conn = http.client.HTTPConnection(cl.addr(node), cl.api, timeout=30)
        k = 0
        while time.time() < stop:
            body = {"changes": [{"action": "UPSERT", "rrset": {
                "name": f"u{w}-{k % 50}.{zone}", "type": "A", "ttl": 60,
                "records": [f"192.0.2.{k % 250 + 1}"]}}]}
            a = time.time()
            try:
                st, _ = req(conn, "POST", f"/v1/zones/{zone}/changes", body)
            except OSError:
                st = 0
                conn = http.client.HTTPConnection(cl.addr(node), cl.api, timeout=30)
            if st == 200:
                lat.append((time.time() - a) * 1000)
            else:
                errors[0] += 1
            k += 1

    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.time() - t0
    lat.sort()
    pct = (lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else 0)
    return len(lat), took, pct(0.5), pct(0.99), errors[0]


def upserts(cl, leader, zone, duration, clients):
    """timed_upserts to the leader: (upserts/s, p50 ms, p99 ms, errors)."""
    n, took, p50, p99, errors = timed_upserts(cl, leader, zone, duration, clients)
    return n / took, p50, p99, errors


class Prober:
    """Probes every node's GET /v1/health every 20 ms: the longest answer,
    and by node the longest and when it began (to find in the node's log)."""

    def __init__(self, cl):
        self.cl, self.worst, self.stop = cl, 0.0, threading.Event()
        self.by_node = {i: (0.0, 0.0) for i in cl.procs}
        self.ts = [threading.Thread(target=self.run, args=(i,)) for i in cl.procs]
        for t in self.ts:
            t.start()

    def run(self, i):
        while not self.stop.is_set():
            a = time.time()
            self.cl.health(i)
            ms = (time.time() - a) * 1000
            if ms > self.by_node[i][0]:
                self.by_node[i] = (ms, a)
            self.worst = max(self.worst, ms)
            time.sleep(0.02)

    def end(self):
        self.stop.set()
        for t in self.ts:
            t.join()
        return self.worst

    def report(self):
        return "{" + ", ".join(
            f"{i}: {ms:.0f} ms at {time.strftime('%H:%M:%S', time.gmtime(at))}"
            f".{int(at * 1000) % 1000:03d}Z" for i, (ms, at) in sorted(self.by_node.items())) + "}"


def restart(cl, n):
    """Stops and restarts every node; seconds until all answer the first,
    middle and last of the n zones (of those that answered before: a
    creation that failed leaves a gap)."""
    names = []
    for k in (0, n // 2, n - 1):
        step = 1
        while k > 0 and not soa_ok(cl.addr(1), cl.dns, zone_name(k)):
            k, step = max(0, k - step), step * 2
        names.append(zone_name(k))
    for p in cl.procs.values():
        p.send_signal(signal.SIGTERM)
    for p in cl.procs.values():
        p.wait(120)
    snap = 0
    for root, _, files in os.walk(os.path.join(cl.dir, "n1")):
        snap += sum(os.path.getsize(os.path.join(root, f)) for f in files
                    if f.startswith("snapshot-") and not f.endswith(".meta"))
    t0 = time.time()
    for i in range(1, 4):
        cl.start(i)
    for i in cl.procs:
        for name in names:
            while not soa_ok(cl.addr(i), cl.dns, name):
                if time.time() - t0 > 1800:
                    raise RuntimeError(f"{name} not served after a restart")
                time.sleep(0.05)
    took = time.time() - t0
    time.sleep(2)
    return took, snap, {i: rss_kb(p.pid) for i, p in cl.procs.items()}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def current_leader(cl, before):
    """The leader now; says so when it is not the one used before."""
    now = cl.leader(30)
    if now != before:
        print(f"# leader changed: node {before} -> node {now}", flush=True)
    return now


def stat_user_sys(path):
    """(user, system) CPU time in a /proc stat file, in clock ticks."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def stat_ticks(path):
    """User + system CPU time in a /proc stat file, in clock ticks."""
    return sum(stat_user_sys(path))


def cpu_ticks(pid):
    """User + system CPU time of pid so far, in clock ticks."""
    return stat_ticks(f"/proc/{pid}/stat")


def thread_ticks(pid):
    """(main thread, other threads, main thread's system part) user + system
    CPU time of pid so far, in clock ticks: the node's loop, and raft's
    worker and the API pool (snapshot encoding and writing, bulk parsing)."""
    main = other = main_sys = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            user, system = stat_user_sys(f"/proc/{pid}/task/{tid}/stat")
        except OSError:  # a thread that ended meanwhile
            continue
        if int(tid) == pid:
            main, main_sys = user + system, system
        else:
            other += user + system
    return main, other, main_sys


def settle(cl, limit=60.0):
    """Waits until no node is still busy with the stretch just done (raft's
    worker writing the snapshots the bulk load asked for): until every node
    used under a tenth of a core over half a second, or limit seconds.
    Returns the seconds waited, so that upserts time writes at this size,
    not the tail of the load before them."""
    t0 = time.monotonic()
    hz = os.sysconf("SC_CLK_TCK")
    while time.monotonic() - t0 < limit:
        before = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
        time.sleep(0.5)
        if all((cpu_ticks(p.pid) - before[i]) / hz < 0.05 for i, p in cl.procs.items()):
            break
    return time.monotonic() - t0


def machine_ticks():
    """(all, stolen) CPU ticks of the machine so far, from /proc/stat: time
    the hypervisor gave to others is the noise of a shared machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[7]


def steal_since(t0):
    a, s = machine_ticks()
    return 100.0 * (s - t0[1]) / max(1, a - t0[0])


def perf_profile(pid, secs, tag=""):
    """Profile of pid (user space; ZONES_BENCH_PERF_EVENT=cpu-clock: the kernel too;
    ZONES_BENCH_PERF_CALLS=fp for a frame-pointer build): flat by symbol, then callers
    of the top ones."""
    data = f"/tmp/zones_bench.{os.getpid()}{tag}.perf"
    hz = os.environ.get("ZONES_BENCH_PERF_HZ", "400")
    event = os.environ.get("ZONES_BENCH_PERF_EVENT", "cpu-clock:u")
    calls = os.environ.get("ZONES_BENCH_PERF_CALLS", "dwarf,16384")
    subprocess.run(["perf", "record", "-F", hz, "--call-graph", calls,
                    "-e", event, "-o", data, "-p", str(pid), "--", "sleep", str(secs)],
                   capture_output=True)
    out = subprocess.run(["perf", "report", "-i", data, "--children", "--stdio",
                          "--sort", "symbol", "--percent-limit", "3", "-g", "caller,0.5,3"],
                         capture_output=True, text=True).stdout
    if os.environ.get("ZONES_BENCH_KEEP_PERF"):
        print(f"# perf data kept in {data}")
    else:
        os.unlink(data)
    return "\n".join(line for line in out.splitlines()
                     if line.strip() and not line.startswith("#"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/node/quorumdns",
                    help="the quorumdns binary, relative to the current directory "
                         "(default: %(default)s)")
    ap.add_argument("--sizes", default="10,100000",
                    help="catalog sizes to measure at, in zones, comma-separated "
                         "(default: %(default)s)")
    ap.add_argument("--clients", type=int, default=8,
                    help="concurrent API clients of the upsert phases, and of the zone "
                         "creations unless --create-clients (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=10,
                    help="seconds of each upsert phase (default: %(default)s)")
    ap.add_argument("--bulk", type=int, default=0,
                    help="zones per POST /v1/zones/bulk request (0: one POST /v1/zones "
                         "per zone) (default: %(default)s)")
    ap.add_argument("--create-clients", type=int, default=0,
                    help="concurrent API clients creating zones (0: --clients; 2 suits "
                         "--bulk) (default: %(default)s)")
    ap.add_argument("--perf", type=float, default=0,
                    help="perf record -g the leader and a follower for this many "
                         "seconds at the start of each size's first upsert phase and "
                         "first creation window (0: no profiling) (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="upsert phases per size, and with --window creation windows per "
                         "size (the table gives the median upserts/s, with their range, "
                         "and the last phase's latencies) (default: %(default)s)")
    ap.add_argument("--with-a", action="store_true",
                    help="bulk zones get one A record each (ns1.<zone>), as in issue 12 "
                         "(only with --bulk)")
    ap.add_argument("--window", type=int, default=0,
                    help="after each size's upserts, create this many more zones "
                         "--rounds times and report the median creations/s (the rate "
                         "at that size); 0: no windows (default: %(default)s)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cl = Cluster(os.path.abspath(args.bin))
    rows = []
    try:
        for i in range(1, 4):
            cl.start(i)
        leader = cl.leader(30)
        have = 0
        for size in sizes:
            leader = current_leader(cl, leader)
            probe = Prober(cl)
            # The windows of the size before may have gone past this size:
            # the stretch then creates nothing, and the windows go on from
            # what there is.
            took, errs = create_zones(cl, leader, have, max(have, size),
                                      args.create_clients or args.clients, args.bulk,
                                      args.with_a)
            stall = probe.end()
            quiet = settle(cl)
            print(f"# {have} -> {max(have, size)} zones: longest health answer by node "
                  f"{probe.report()}; the nodes were idle {quiet:.1f} s later", flush=True)
            rate = (size - have) / took if took > 0 and size > have else 0
            have = max(have, size)
            zone = zone_name(0)
            rates = []
            for rnd in range(args.rounds):
                # An election during the creation makes another node the
                # leader: upserts sent to the old one are forwarded (and
                # measure forwarding, not the write path).
                leader = current_leader(cl, leader)
                prof = {}
                ts = []
                if args.perf and (rnd == 0 or args.rounds == 1):
                    follower = min(i for i in cl.procs if i != leader)
                    for role, i in (("leader", leader), ("follower", follower)):
                        ts.append(threading.Thread(target=lambda role=role, i=i: prof.update(
                            {role: perf_profile(cl.procs[i].pid, args.perf,
                                                f".{size}.{rnd}.{i}")})))
                    for t in ts:
                        t.start()
                cpu0 = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
                m0 = machine_ticks()
                ups, p50, p99, uerr = upserts(cl, leader, zone, args.duration, args.clients)
                rates.append(ups)
                cpu1 = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
                for t in ts:
                    t.join()
                done = max(1, ups * args.duration)
                hz = os.sysconf("SC_CLK_TCK")
                cpu = {i: f"{(cpu1[i] - cpu0[i]) * 1e6 / hz / done:.0f}" for i in cl.procs}
                print(f"# {have} zones, round {rnd + 1}: {ups:.0f} upserts/s p50 {p50:.1f} ms "
                      f"p99 {p99:.1f} ms ({uerr} errors); CPU us per upsert by node "
                      f"{cpu} (leader {leader}); load {os.getloadavg()[0]:.1f}, "
                      f"steal {steal_since(m0):.0f} %", flush=True)
                for role, text in prof.items():
                    print(f"## perf, {role}, {have} zones\n{text}", flush=True)
            rss = {i: rss_kb(p.pid) for i, p in cl.procs.items()}
            rss_zones = have
            wrates, wtotal, wcpu = [], 0.0, []
            for rnd in range(args.rounds if args.window else 0):
                leader = current_leader(cl, leader)
                prof, ts = {}, []
                if args.perf and rnd == 0:
                    follower = min(i for i in cl.procs if i != leader)
                    for role, i in (("leader", leader), ("follower", follower)):
                        ts.append(threading.Thread(target=lambda role=role, i=i: prof.update(
                            {role: perf_profile(cl.procs[i].pid, args.perf,
                                                f".{size}.w{rnd}.{i}")})))
                    for t in ts:
                        t.start()
                snaps0 = {i: metrics(cl, i).get("snapshots", 0) for i in cl.procs}
                probe = Prober(cl)
                cpu0 = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
                thr0 = {i: thread_ticks(p.pid) for i, p in cl.procs.items()}
                m0 = machine_ticks()
                me0 = os.times()
                wtook, werrs = create_zones(cl, leader, have, have + args.window,
                                            args.create_clients or args.clients,
                                            args.bulk, args.with_a)
                cpu1 = {i: cpu_ticks(p.pid) for i, p in cl.procs.items()}
                thr1 = {i: thread_ticks(p.pid) for i, p in cl.procs.items()}
                me1 = os.times()
                probe.end()
                snaps = {i: int(metrics(cl, i).get("snapshots", 0) - snaps0[i])
                         for i in cl.procs}
                for t in ts:
                    t.join()
                wrates.append(args.window / wtook if wtook > 0 else 0)
                wtotal += wtook
                hz = os.sysconf("SC_CLK_TCK")
                cpu = {i: f"{(cpu1[i] - cpu0[i]) * 1e6 / hz / args.window:.0f}"
                       for i in cl.procs}
                # loop (of which the kernel's) + other threads, by node
                per = 1e6 / hz / args.window
                split = {i: f"{(thr1[i][0] - thr0[i][0]) * per:.0f}"
                            f"({(thr1[i][2] - thr0[i][2]) * per:.0f})+"
                            f"{(thr1[i][1] - thr0[i][1]) * per:.0f}"
                         for i in cl.procs}
                wcpu.append((sum(cpu1[i] - cpu0[i] for i in cl.procs) * 1e6 / hz / args.window,
                             sum(snaps.values())))
                print(f"# {have} zones, window {rnd + 1}: the next {args.window} created at "
                      f"{wrates[-1]:.0f}/s ({werrs} errors); CPU us per creation by node "
                      f"{cpu} (loop(kernel)+others {split}; leader {leader}), "
                      f"snapshots by node {snaps}, "
                      "client "
                      f"{(me1.user + me1.system - me0.user - me0.system) * 1e6 / args.window:.0f}"
                      "; "
                      f"load {os.getloadavg()[0]:.1f}, steal {steal_since(m0):.0f} %; longest "
                      f"health answer by node {probe.report()}", flush=True)
                for role, text in prof.items():
                    print(f"## perf, {role}, window at {have} zones\n{text}", flush=True)
                have += args.window
            if wrates:
                # CPU per creation of all nodes together: over the windows,
                # and over those in which no node took a snapshot (the cost
                # of a creation itself; snapshots come every state/16
                # entries, so their share per entry is the same at any size
                # once averaged over many of them).
                calm = [c for c, n in wcpu if n == 0]
                print(f"# size {size}: {len(wrates) * args.window} created in the windows at "
                      f"{len(wrates) * args.window / wtotal:.0f}/s overall; CPU us per creation, "
                      f"all nodes: {sum(c for c, _ in wcpu) / len(wcpu):.0f} over the windows "
                      f"({sum(n for _, n in wcpu)} snapshots), "
                      + (f"{sum(calm) / len(calm):.0f} over the {len(calm)} without one"
                         if calm else "every window had one"), flush=True)
            # The round perf sampled runs slower: with more rounds, it stays
            # out of the medians (not out of the windows' overall rate).
            if args.perf and args.rounds > 1:
                rates, wrates = rates[1:], wrates[1:]
            wrate = statistics.median_low(wrates) if wrates else 0
            rates.sort()
            woverall = len(wrates) * args.window / wtotal if wtotal > 0 else 0
            rows.append((size, rate, wrate, woverall, rates, p50, p99, uerr, rss, rss_zones))
            ms = {i: metrics(cl, i) for i in cl.procs}
            print(f"# size {size} ({rss_zones} zones before its windows): {rate:.0f} creations/s "
                  f"({errs} errors), "
                  f"{ups:.0f} upserts/s p50 {p50:.1f} ms p99 {p99:.1f} ms ({uerr} errors), "
                  f"RSS kB {rss}; longest health answer while creating {stall:.0f} ms; "
                  f"metrics {ms}", flush=True)
        took, snap, rss = restart(cl, have)
        print(f"# restart of all nodes at {have} zones: every node answers after "
              f"{took:.1f} s; snapshot {snap / 1e6:.1f} MB; RSS kB after {rss}", flush=True)
    finally:
        cl.stop_all()
    print("| size | zones at the upserts | creations/s (stretch) | creations/s (windows: "
          "median, overall) | upserts/s median (range) | upsert p50 ms | p99 ms | RSS MB per "
          "node (max) | RSS per zone |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, rate, wrate, woverall, rates, p50, p99, uerr, rss, rss_zones in rows:
        mx = max(rss.values())
        med = statistics.median_low(rates)
        print(f"| {size} | {rss_zones} | {rate:.0f} | {wrate:.0f}, {woverall:.0f} | {med:.0f} "
              f"({rates[0]:.0f}-{rates[-1]:.0f}) | {p50:.1f} | {p99:.1f} | {mx / 1024:.0f} "
              f"| {mx * 1024 / rss_zones:.0f} B |")


if __name__ == "__main__":
    main()
