"""A write relayed by a follower through a leader change, on loopback.

The leader is paused (SIGSTOP): the kernel still accepts the follower's
relay connection, but nothing answers it.  The two others elect a leader
after the election timeout; the follower must then abandon the relay and
send the same request, with the same idempotency key, to the new leader,
so the client gets 200 in about a second instead of waiting out the 30 s
relay timeout.  The write is applied exactly once, with or without a
client key, and the resumed old leader steps down and catches up.  (The
fault suite, tests/faults, runs the same through real partitions.)
"""

import os
import signal
import socket
import struct
import time

import pytest

from cluster_util import Cluster

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))
ZONE = "relay.test."


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "cluster")
    yield c
    for n in c.nodes.values():
        if n.alive():
            n.proc.send_signal(signal.SIGCONT)
    c.close()


def serial(node):
    r = node.get(f"/v1/zones/{ZONE}")
    assert r.status == 200, r
    return r.json["serial"]


@pytest.mark.parametrize("key", ["relay-key-1", None])
def test_relay_follows_a_leader_change(cluster, key):
    cluster.start(3)
    ld = cluster.wait_ready()
    cluster.create_zone(ZONE, via=ld, ns=[f"ns1.{ZONE}"])
    cluster.wait_applied()
    before = serial(ld)
    f = next(n for n in cluster.running() if n.id != ld.id)
    body = {"changes": [{"action": "UPSERT", "rrset": {
        "name": f"www.{ZONE}", "type": "A", "ttl": 60, "records": ["192.0.2.10"]}}]}
    ld.proc.send_signal(signal.SIGSTOP)
    t0 = time.monotonic()
    r = f.post(f"/v1/zones/{ZONE}/changes", body,
               headers={"Idempotency-Key": key} if key else None, timeout=20)
    took = time.monotonic() - t0
    assert r.status == 200, r
    assert took <= 2.0 * SLACK, f"the relayed write took {took:.2f} s through the leader change"
    assert f"relay {key or 'r-'}" in f.log(20000), "the relay was not sent again"
    ld.proc.send_signal(signal.SIGCONT)
    new = cluster.wait_leader(exclude=(ld.id,))
    assert new.id != ld.id
    cluster.wait_applied(timeout=10)
    # applied once: one batch, one serial step, on every node
    for n in cluster.running():
        assert serial(n) == before + 1, (n.id, serial(n), before)
    cluster.wait_dns(cluster.running(), f"www.{ZONE}", "A", {"192.0.2.10"})
    if key:  # the client's retry with its key returns the same change
        again = new.post(f"/v1/zones/{ZONE}/changes", body,
                         headers={"Idempotency-Key": key})
        assert again.status == 200 and again.json["change"]["id"] == r.json["change"]["id"]
        assert serial(new) == before + 1


def tcp_connections(a_host, a_port, b_host):
    """TCP connections in any state (TIME-WAIT included) between a_host:a_port
    and any port of b_host (/proc/net/tcp, IPv4)."""
    def addr(text):
        ip, port = text.split(":")
        return socket.inet_ntoa(struct.pack("<I", int(ip, 16))), int(port, 16)

    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            local, remote = (addr(x) for x in line.split()[1:3])
            for x, y in ((local, remote), (remote, local)):
                if x == (a_host, a_port) and y[0] == b_host:
                    n += 1
    return n


def test_relayed_writes_reuse_side_channels(cluster):
    """A follower relays writes over kept side channels: 40 sequential
    relayed writes open a few connections to the leader, not one each (one
    each left 40 or more, in TIME-WAIT); after the leader stops, the
    follower's channels to it are gone and relays go to the new leader;
    the follower then stops with every handle closed by its owner."""
    cluster.start(3)
    ld = cluster.wait_ready()
    cluster.create_zone(ZONE, via=ld, ns=[f"ns1.{ZONE}"])
    cluster.wait_applied()
    f = next(n for n in cluster.running() if n.id != ld.id)
    before = tcp_connections(ld.host, ld.raft_port, f.host)
    for k in range(40):
        body = {"changes": [{"action": "UPSERT", "rrset": {
            "name": f"k{k}.{ZONE}", "type": "A", "ttl": 60, "records": ["192.0.2.11"]}}]}
        r = f.post(f"/v1/zones/{ZONE}/changes", body,
                   headers={"Idempotency-Key": f"reuse-{k}"})
        assert r.status == 200, r
    after = tcp_connections(ld.host, ld.raft_port, f.host)
    # raft's two, the poll channel, a kept channel or two
    assert after - before < 10, f"{after - before} new connections for 40 relayed writes"
    print(f"\n{after - before} new connections for 40 relayed writes")
    cluster.wait_dns(cluster.running(), f"k39.{ZONE}", "A", {"192.0.2.11"})

    ld.stop()
    new = cluster.wait_leader(exclude=(ld.id,))
    via = next(n for n in cluster.running() if n.id != new.id)
    for k in range(10):
        body = {"changes": [{"action": "UPSERT", "rrset": {
            "name": f"m{k}.{ZONE}", "type": "A", "ttl": 60, "records": ["192.0.2.12"]}}]}
        r = via.post(f"/v1/zones/{ZONE}/changes", body, timeout=20)
        assert r.status == 200, r
    cluster.wait_dns(cluster.running(), f"m9.{ZONE}", "A", {"192.0.2.12"})
    via.stop()
    assert via.proc.returncode == 0, via.log()
    assert "stopped: every handle closed by its owner" in via.log(), via.log()
