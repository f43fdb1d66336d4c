"""Partitions: the leader cut off, a follower cut off, a node cut from one
peer only, a flapping link, and a slow/lossy link (tc netem, when the
kernel has it).  Each runs the checker's workload through the fault and
verifies the history once the network is healed."""

import threading
import time

import pytest

from checker import Workload
from faultcluster import SLACK
import faultnet


def probe_write(wl, node_id, timeout=10.0):
    """One write of the probe register to node_id, as one request (no client
    retry): (history entry, seconds until its answer)."""
    t0 = time.monotonic()
    w = wl.write(len(wl.regs) - 1, node_id=node_id, retry=False, timeout=timeout)
    return w, w["t1"] - t0


def test_leader_cut_off(fcluster):
    """Leader cut off from both followers: a write sent to a majority node
    just after the cut succeeds within 1.5 s of it (the relay to the lost
    leader is retried at the new one); the minority acknowledges nothing."""
    c = fcluster()
    c.start(3)
    wl = Workload(c)
    wl.create_zone()
    old = c.wait_ready()
    with wl:
        time.sleep(1.0)
        majority = [i for i in c.nodes if i != old.id]
        follower = majority[0]
        c.no_write = {old.id}
        minority_writes = []
        stop = threading.Event()

        def write_minority():
            while not stop.is_set():
                minority_writes.append(wl.write(len(wl.regs) - 1, node_id=old.id,
                                                retry=False, timeout=3.0))
                time.sleep(0.05)
        t_cut = time.monotonic()
        c.net.isolate(old.id)
        wl.h.event(f"n{old.id} (leader) cut off")
        w, took = probe_write(wl, follower)
        th = threading.Thread(target=write_minority, daemon=True)
        th.start()
        new = c.wait_leader(majority, timeout=5)
        time.sleep(2.5)
        stop.set()
        th.join(10)
        t_heal = time.monotonic()
        c.net.heal()
        c.no_write = set()
        wl.h.event("healed")
        time.sleep(1.0)
    print(f"leader cut off: write to n{follower} answered {w['outcome']} "
          f"{took:.3f} s after the cut (new leader n{new.id}); attempts {w['attempts']}")
    acked_in_cut = [m for m in minority_writes if m["outcome"] == "ok" and m["t1"] < t_heal]
    assert not acked_in_cut, f"the minority acknowledged writes: {acked_in_cut}"
    summary = wl.verify()
    print("history:", summary)
    assert w["outcome"] == "ok", w
    assert w["t1"] - t_cut <= 1.5 * SLACK, \
        f"a write to a majority node took {w['t1'] - t_cut:.2f} s after the cut (target 1.5 s)"
