"""A disk that fills up (the leader's data directory on a small tmpfs) and
a clock jump on one node (faketime).  Each runs the checker's workload
through the fault and verifies the history afterwards."""

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from checker import Workload
import cluster_util
from cluster_util import http


FILL_ZONE = "fill.test."


def big_batch(s):
    """A change batch of ~50 KB for FILL_ZONE: 200 TXT strings of 250 bytes."""
    txt = [f'"{s:06d}{i:04d}' + "x" * 240 + '"' for i in range(200)]
    return {"changes": [{"action": "UPSERT", "rrset": {
        "name": f"fill{s % 50}.{FILL_ZONE}", "type": "TXT", "ttl": 5, "records": txt}}]}


def test_disk_fills_on_leader(fcluster):
    """Every data directory is a 64 MiB tmpfs; the leader's is filled up to
    a few MiB with a file of the test, then by big batches (in a zone of
    their own) until the log cannot grow.  The leader fail-stops (exit 3,
    with the reason in its log; libraft 0.15 cannot go on safely after a
    failed log write, consensus/logfence.h) or keeps running; it never
    crashes, and a write whose outcome is unknown is answered 503, never
    500.  Invariants hold throughout; after the space is freed (the tmpfs
    grown) and the node restarted, every node converges."""
    c = fcluster()
    for i in c.nodes:
        c.tmpfs_data_dir(i, "64m")
    c.start(3)
    wl = Workload(c)
    wl.create_zone()
    ld = c.wait_ready()
    r = ld.post("/v1/zones", {"name": FILL_ZONE, "ns": [f"ns1.{FILL_ZONE}"]})
    assert r.status == 201, r
    statuses = []
    stop = threading.Event()

    def fill():
        s = 0
        while not stop.is_set():
            s += 1
            try:
                r = http("POST", f"{ld.api}/v1/zones/{FILL_ZONE}/changes",
                         body=big_batch(s), headers={"Idempotency-Key": f"fill-{s}"},
                         timeout=3.0)
                statuses.append(r.status)
            except Exception as e:
                statuses.append(type(e).__name__ + ": " + str(e)[-80:])
                time.sleep(0.1)

    # leave 2 MiB free beyond what the node already has
    filler = ld.data_dir / "filler"
    st = os.statvfs(ld.data_dir)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - (2 << 20)))
    with wl:
        th = threading.Thread(target=fill, daemon=True)
        th.start()
        end = time.monotonic() + 25
        while time.monotonic() < end:
            st = os.statvfs(ld.data_dir)
            if not ld.alive() or st.f_bavail * st.f_frsize < (256 << 10) and len(statuses) > 5:
                break
            time.sleep(0.1)
        time.sleep(3.0)  # writes against a full disk
        stop.set()
        th.join(10)
        full_log = ld.log(3000)
        free_at_end = os.statvfs(ld.data_dir).f_bavail * 4096
        filler.unlink()
        c.resize_tmpfs(ld.id, "256m")
        exit_code = None if ld.alive() else ld.proc.returncode
        if exit_code is not None:
            ld.expected_exit = exit_code
            c.restart(ld.id)
        time.sleep(2.0)
    counts = {}
    for x in statuses:
        counts[x] = counts.get(x, 0) + 1
    print(f"leader log at the full disk ({free_at_end} bytes free):", full_log[-1500:])
    print(f"disk full on the leader: fill writes answered {counts}; "
          f"n{ld.id} {'kept running' if exit_code is None else f'exited {exit_code}'}")
    print("history:", wl.verify(timeout=30))
    assert exit_code in (None, 3), (
        f"n{ld.id} exited {exit_code} when its disk filled, not a fail-stop (3):\n{full_log}")
    if exit_code == 3:
        assert "fail-stop" in full_log and "raft log" in full_log, full_log
    bad = {k: v for k, v in counts.items() if isinstance(k, int) and k not in (200, 503)}
    assert not bad, f"writes against a full disk answered {bad}, not 200 or 503"
    assert counts.get(200, 0) > 5, counts


def test_disk_fills_on_follower(fcluster):
    """A follower's data directory (a 64 MiB tmpfs) is filled like the
    leader's above while big batches go to the leader: the follower
    fail-stops (exit 3, the reason in its log) or keeps up, never crashes;
    the leader and the other follower keep acknowledging writes (200); once
    the space is freed and the follower restarted, every node converges."""
    c = fcluster()
    for i in c.nodes:
        c.tmpfs_data_dir(i, "64m")
    c.start(3)
    wl = Workload(c)
    wl.create_zone()
    ld = c.wait_ready()
    f = c.nodes[next(i for i in c.nodes if i != ld.id)]
    r = ld.post("/v1/zones", {"name": FILL_ZONE, "ns": [f"ns1.{FILL_ZONE}"]})
    assert r.status == 201, r
    statuses = []
    filler = f.data_dir / "filler"
    st = os.statvfs(f.data_dir)
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - (2 << 20)))
    with wl:
        end = time.monotonic() + 25
        s = 0
        while time.monotonic() < end and f.alive():
            s += 1
            r = http("POST", f"{ld.api}/v1/zones/{FILL_ZONE}/changes", body=big_batch(s),
                     headers={"Idempotency-Key": f"fill-{s}"}, timeout=3.0)
            statuses.append(r.status)
        for _ in range(10):  # writes go on without the stopped follower
            s += 1
            r = http("POST", f"{ld.api}/v1/zones/{FILL_ZONE}/changes", body=big_batch(s),
                     headers={"Idempotency-Key": f"fill-{s}"}, timeout=3.0)
            statuses.append(r.status)
        full_log = f.log(3000)
        filler.unlink()
        c.resize_tmpfs(f.id, "256m")
        exit_code = None if f.alive() else f.proc.returncode
        if exit_code is not None:
            f.expected_exit = exit_code
            c.restart(f.id)
        time.sleep(2.0)
    counts = {}
    for x in statuses:
        counts[x] = counts.get(x, 0) + 1
    print(f"disk full on follower n{f.id}: writes to the leader answered {counts}; "
          f"{'kept running' if exit_code is None else f'exited {exit_code}'}")
    print("history:", wl.verify(timeout=30))
    assert exit_code in (None, 3), f"n{f.id} exited {exit_code}, not a fail-stop:\n{full_log}"
    if exit_code == 3:
        assert "fail-stop" in full_log and "raft log" in full_log, full_log
    assert set(counts) <= {200, 503}, counts
    assert counts.get(200, 0) >= 10, counts


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def faketime_env(offset_file):
    """The environment that runs a process under libfaketime with the
    offset read from offset_file (re-read every second: a live jump).  An
    ASan build accepts the preloaded library once told not to insist on
    coming first."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return ["env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME_TIMESTAMP_FILE={offset_file}",
            "FAKETIME_CACHE_DURATION=1",
            f"ASAN_OPTIONS={asan + ':' if asan else ''}verify_asan_link_order=0"]


def faketime_binary():
    """The node binary that runs under libfaketime.  libfaketime cannot be
    preloaded into a process linked with jemalloc (a normal build): its
    constructor allocates, jemalloc's initialisation reads the clock, and the
    clock's wrapper allocates again under jemalloc's init lock, so the
    process hangs before main (libfaketime issue 130; Debian 12's 0.9.10 has
    no way around it).  So the follower under test runs a build on glibc's
    malloc, the node binary itself or else the ASan build beside it
    ($QDNS_FAKETIME_BIN, default build-asan/), in a cluster of the others."""
    ldd = subprocess.run(["ldd", str(cluster_util.QDNS_BIN)], capture_output=True,
                         text=True).stdout
    if "libjemalloc" not in ldd:
        return cluster_util.QDNS_BIN
    return Path(os.environ.get("QDNS_FAKETIME_BIN",
                               cluster_util.REPO / "build-asan" / "node" / "quorumdns"))


def faketime_works(tmp):
    if not os.path.exists(LIBFAKETIME):
        return False, f"{LIBFAKETIME} missing (Debian package faketime)"
    f = tmp / "offset"
    f.write_text("+1h\n")
    r = subprocess.run(faketime_env(f) + ["date", "+%s"], capture_output=True, text=True)
    if r.returncode != 0 or abs(int(r.stdout) - time.time() - 3600) > 60:
        return False, f"libfaketime does not shift the clock: {r.stdout} {r.stderr}"
    binary = faketime_binary()
    if not binary.exists():
        return False, (f"{cluster_util.QDNS_BIN} is linked with jemalloc, which hangs under "
                       f"libfaketime, and {binary} (a glibc-malloc build) is not built")
    try:
        r = subprocess.run(faketime_env(f) + [str(binary), "--version"], capture_output=True,
                           text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False, f"{binary} hangs under libfaketime"
    if r.returncode != 0:
        return False, f"{binary} does not start under libfaketime: {r.stderr}"
    return True, ""


def test_clock_jump_on_follower(fcluster, tmp_path):
    """A follower runs under libfaketime; while the workload runs its clocks
    (wall and monotonic, which libuv and libraft time with) jump one hour
    ahead, then back: the cluster keeps a leader, the follower stays up and
    in step, and the history stays correct."""
    ok, why = faketime_works(tmp_path)
    if not ok:
        pytest.skip(why)
    c = fcluster()
    offset = c.root / "offset"
    offset.write_text("+0\n")
    for n in c.nodes.values():
        n.wrapper = []
    c.start(3)
    wl = Workload(c)
    wl.create_zone()
    ld = c.wait_ready()
    f = c.nodes[next(i for i in c.nodes if i != ld.id)]
    f.stop()
    f.wrapper = faketime_env(offset)
    f.binary = faketime_binary()
    c.restart(f.id)
    c.wait_ready()
    with wl:
        time.sleep(1.0)
        offset.write_text("+1h\n")
        time.sleep(3.0)
        offset.write_text("+0\n")
        time.sleep(3.0)
        assert f.alive(), f"n{f.id} did not survive its clock jumps:\n{f.log()}"
    print(f"n{f.id} log:", f.log(800))
    print("clock jumps on a follower:", wl.verify())
