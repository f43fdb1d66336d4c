"""Fail-stop, never silent divergence (issue 10 part 4), on real clusters of
node processes (cluster_util.py; run like test_cluster.py):

- a node whose log holds its own removal exits 0, saying so, on every
  restart (with and without --join), instead of aborting;
- an apply that cannot complete (out of memory, injected through the test
  hook QDNS_FAULT_APPLY_NOMEM of a QDNS_FAULT_HOOKS build) stops the node
  with exit 3 and a clear line, without counting the entry applied; on
  restart it applies the entry from its log and converges;
- a DNS publish that fails (injected through QDNS_FAULT_PUBLISH_FAIL) is
  retried from the replicated state until the served view matches it.

The disk-full case is in tests/faults/test_disk_clock.py.
"""

import time

import pytest

from cluster_util import Cluster, change

SLACK = float(__import__("os").environ.get("QDNS_TIMING_SLACK", "1"))


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(**kw):
        c = Cluster(tmp_path / f"cluster{len(made)}", **kw)
        made.append(c)
        return c

    yield make
    errors = []
    for c in made:
        try:
            c.close()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def post_changes(node, zone, changes, key=None, timeout=5.0):
    headers = {"Idempotency-Key": key} if key else None
    return node.post(f"/v1/zones/{zone}/changes", {"changes": changes}, headers=headers,
                     timeout=timeout)


def wait_exit(node, timeout):
    try:
        return node.proc.wait(timeout * SLACK)
    except Exception:
        raise AssertionError(f"n{node.id} still running {timeout} s later:\n{node.log(2000)}")


def test_removed_node_exits_cleanly_on_every_restart(cluster_factory):
    c = cluster_factory().start(3)
    zone = "rm.test."
    c.create_zone(zone)
    ld = c.leader()
    c[4].start(join=ld.api)
    ld = c.wait_ready([1, 2, 3, 4])
    for i in range(20):
        r = post_changes(c[4], zone, [change("CREATE", f"w{i}.{zone}", "A", ["192.0.2.1"])])
        assert r.status == 200, r
    c.wait_dns([c[4]], f"w19.{zone}", "A", {"192.0.2.1"}, timeout=5)

    c[4].expected_exit = 0
    r = ld.req("DELETE", "/v1/cluster/members/4")
    assert r.status == 200, r
    assert wait_exit(c[4], 5) == 0, c[4].log(2000)

    # restarted as it was first started (--join) and without --join
    for join in (ld.api, None, ld.api):
        c[4].start(join=join)
        c[4].expected_exit = 0
        rc = wait_exit(c[4], 10)
        log = c[4].log(3000).split("===== start")[-1]
        assert rc == 0, f"removed node exited {rc} on restart (join={join}):\n{log}"
        assert "removed from the cluster" in log, log
    # the cluster never saw it again
    members = {m["id"] for m in ld.get("/v1/cluster").json["members"]}
    assert members == {1, 2, 3}, members
    r = post_changes(c[1], zone, [change("CREATE", f"after.{zone}", "A", ["192.0.2.2"])])
    assert r.status == 200, r
    c.check_alive([1, 2, 3])
