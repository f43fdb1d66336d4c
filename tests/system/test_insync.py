"""INSYNC and status that tell the truth (issue 13, parts 3 and 4).

- A change names the members that have not applied it and the ones that are
  unreachable; with --insync-rule reachable (the default) it becomes INSYNC
  once every reachable member has applied it, with --insync-rule all only
  when every member has.
- `quorumctl change wait` prints who it waits for and fails at once on an
  id that cannot exist (NoSuchChange).
- A member whose API refuses connections is unreachable at once in
  /v1/cluster (not ~2 s later), and its figures are marked stale.

Run from this directory:
  QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_insync.py
"""

import os
import time

import pytest

from cluster_util import change
from test_cluster import post_changes
from test_quorumctl import QUORUMCTL, ctl

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


def start(c, extra=()):
    c.bootstrap_ids = [1, 2, 3]
    bs = c.bootstrap_str(c.bootstrap_ids)
    for i in c.bootstrap_ids:
        c[i].start(bootstrap=bs, extra=list(extra))
    c.wait_ready(c.bootstrap_ids)
    return c


def follower_killed(c):
    leader = c.leader()
    # first the leader has heard from every member
    end = time.monotonic() + 10 * SLACK
    while not all(m["reachable"] for m in leader.get("/v1/cluster").json["members"]):
        assert time.monotonic() < end, leader.get("/v1/cluster").json
        time.sleep(0.05)
    down = [n for n in c.running() if n.id != leader.id][-1]
    down.kill()
    down.expected_exit = -9
    return leader, down


def test_change_names_unreachable_member_and_is_insync_without_it(cluster_factory):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    c = start(cluster_factory())
    c.create_zone("sync.test.")
    leader, down = follower_killed(c)
    r = post_changes(leader, "sync.test.", [change("CREATE", "a.sync.test.", "A", ["192.0.2.1"])])
    assert r.status == 200, r
    cid = r.json["change"]["id"]
    t0 = time.monotonic()
    p = ctl(c, "change", "wait", cid, "--timeout", str(10 * SLACK), servers=[leader.api])
    assert p.returncode == 0, (p.stdout, p.stderr)
    waited = time.monotonic() - t0
    assert waited < 3 * SLACK, waited
    body = leader.get(f"/v1/changes/{cid}").json
    assert body["status"] == "INSYNC", body
    assert [m["id"] for m in body["unreachable_members"]] == [down.id], body
    assert body["pending_members"] == [], body


def test_insync_rule_all_waits_and_change_wait_names_who(cluster_factory):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    c = start(cluster_factory(), extra=["--insync-rule", "all"])
    c.create_zone("all.test.")
    leader, down = follower_killed(c)
    r = post_changes(leader, "all.test.", [change("CREATE", "a.all.test.", "A", ["192.0.2.1"])])
    assert r.status == 200, r
    cid = r.json["change"]["id"]
    p = ctl(c, "change", "wait", cid, "--timeout", "2", servers=[leader.api])
    assert p.returncode == 4, (p.stdout, p.stderr)
    assert f"unreachable: n{down.id}" in p.stderr, p.stderr
    assert f"not INSYNC after 2 s: unreachable: n{down.id}" in p.stderr, p.stderr
    body = leader.get(f"/v1/changes/{cid}").json
    assert body["status"] == "PENDING" and \
        [m["name"] for m in body["unreachable_members"]] == [f"n{down.id}"], body
    # back: it applies the change and the change becomes INSYNC
    c.restart(down.id)
    down.expected_exit = None
    p = ctl(c, "change", "wait", cid, "--timeout", str(15 * SLACK), servers=[leader.api])
    assert p.returncode == 0, (p.stdout, p.stderr)


def test_change_wait_fails_fast_on_an_unknown_id(cluster_factory):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    c = start(cluster_factory())
    for bad in ("Cnope", "C0000000000000001"):
        t0 = time.monotonic()
        p = ctl(c, "change", "wait", bad, "--timeout", "60")
        took = time.monotonic() - t0
        assert p.returncode == 1, (bad, p.stdout, p.stderr)
        assert "NoSuchChange" in p.stderr, p.stderr
        assert took < 2 * SLACK, (bad, took)
    # an id whose index this node has not reached may still come: waited for
    t0 = time.monotonic()
    p = ctl(c, "change", "wait", "C%016X" % 0xFFFFFFF, "--timeout", "60")
    assert p.returncode == 1 and "NoSuchChange" in p.stderr, p.stderr
    assert time.monotonic() - t0 >= 4.5


def test_refused_member_is_unreachable_at_once_and_stale(cluster_factory):
    c = start(cluster_factory())
    leader, down = follower_killed(c)
    t0 = time.monotonic()
    while True:
        members = {m["id"]: m for m in leader.get("/v1/cluster").json["members"]}
        if not members[down.id]["reachable"]:
            break
        assert time.monotonic() - t0 < 0.8 * SLACK, members[down.id]
        time.sleep(0.02)
    m = members[down.id]
    assert m["stale"] is True and m["seen_ms_ago"] is not None, m
    assert members[leader.id]["stale"] is False and members[leader.id]["seen_ms_ago"] == 0
    print(f"\nunreachable after {time.monotonic() - t0:.2f} s")
