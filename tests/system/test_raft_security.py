"""Hostile raft peers against a real 3-node cluster.

raft_intruder (tests/system/raft_intruder.c, built next to the node) speaks
raft_uv's framing and sends an AppendEntries with two forged entries — a
zone "forged.test." and the record www.forged.test. A 6.6.6.6, encoded as
genuine commands — with the term and index the target reports in
/v1/health (no token needed).

- Control: against a cluster on `--raft-transport plaintext` the attack
  works (the forged zone is served), so the intruder is a real attacker.
- Against the default, authenticated transport, each kind of intruder is
  refused: plain TCP, TLS without a certificate, a certificate from another
  CA, and a valid node certificate whose raft handshake claims another
  node's id.  Nothing is applied on any node (API and DNS), the cluster
  keeps answering and taking writes, and the attacked node's log names the
  intruder's address.
"""

import re
import subprocess
import time

import pytest

from cluster_util import (QDNS_BIN, Cluster, change, issue_cert, make_ca)

INTRUDER = QDNS_BIN.parent.parent / "tests" / "raft_intruder"
ZONE = "forged.test."


def _need_intruder():
    if not INTRUDER.exists():
        pytest.skip(f"raft_intruder not built: {INTRUDER}")


def attack(cluster, target, claim_id, *, ca=None, cert=None, key=None):
    """One intruder connection to target's raft port; returns (its own
    address, what it printed)."""
    h = target.health()
    assert h, f"n{target.id} does not answer /v1/health"
    cmd = [str(INTRUDER), "--target", target.raft, "--id", str(claim_id),
           "--term", str(h["term"]), "--prev-index", str(h["applied_index"]),
           "--prev-term", str(h["term"]), "--zone", ZONE, "--wait-ms", "2000"]
    if ca:
        cmd += ["--ca", str(ca)]
    if cert:
        cmd += ["--cert", str(cert), "--key", str(key)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"^from (\S+)$", out, re.M)
    assert m, out
    return m.group(1), out


def settle(cluster, tag):
    """A write in the current term, applied everywhere: the targets' last
    log entry is then in the term they report."""
    ld = cluster.leader()
    r = ld.post("/v1/zones/settle.test./changes",
                {"changes": [change("UPSERT", f"{tag}.settle.test.", "A", ["192.0.2.1"])]})
    assert r.status in (200, 202), r
    cluster.wait_applied()


def forged_visible(node):
    zones = node.get("/v1/zones")
    names = {z.get("name") for z in (zones.json or {}).get("zones", [])} if zones.json else set()
    return ZONE in names or bool(node.values("www." + ZONE, "A", timeout=0.5))


def test_plaintext_transport_is_open_to_forged_entries(tmp_path):
    """The control: what the authenticated transport stops is a real attack."""
    _need_intruder()
    c = Cluster(tmp_path / "plain", max_nodes=3, raft_transport="plaintext")
    try:
        c.start(3)
        assert "NEITHER AUTHENTICATED NOR ENCRYPTED" in c[1].log()
        c.create_zone("settle.test.")
        target = c.followers()[0]
        seen = False
        for attempt in range(8):
            settle(c, f"p{attempt}")
            attack(c, target, 99)
            end = time.monotonic() + 2
            while time.monotonic() < end and not seen:
                seen = forged_visible(target)
                time.sleep(0.1)
            if seen:
                break
        assert seen, "the forged zone never appeared on the plaintext cluster:\n" + target.log()
    finally:
        c.close(check_rc=False)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    _need_intruder()
    root = tmp_path_factory.mktemp("raftsec")
    c = Cluster(root / "cluster", max_nodes=3)
    c.start(3)
    c.create_zone("settle.test.")
    other_ca = make_ca(root / "other-ca")
    yield c, other_ca
    c.close()


KINDS = ["plain_tcp", "tls_no_certificate", "certificate_of_another_ca",
         "valid_certificate_claiming_another_id"]


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_raft_peer_is_refused(tls_cluster, kind):
    c, other_ca = tls_cluster
    settle(c, kind.replace("_", "-"))
    leader = c.leader()
    followers = [n for n in c.running() if n.id != leader.id]
    impostor = followers[1]  # its real certificate, claiming to be the leader
    creds = {
        "plain_tcp": {},
        "tls_no_certificate": {"ca": c.pki / "ca.crt"},
        "certificate_of_another_ca": dict(zip(
            ("cert", "key"), issue_cert(other_ca, leader.id, other_ca / "stolen-name",
                                        ips=[leader.host]))),
        "valid_certificate_claiming_another_id": dict(zip(
            ("cert", "key"), c.node_cert(impostor.id))),
    }[kind]
    claim = leader.id
    for target in c.running():
        if kind == "valid_certificate_claiming_another_id" and target is impostor:
            continue
        source, out = attack(c, target, claim, **creds)
        assert "peer closed" in out or "refused" in out, out
        # The attacked node logs the refusal with the intruder's address.
        end = time.monotonic() + 3
        while f"refused a connection from {source}" not in target.log(200000):
            assert time.monotonic() < end, \
                f"n{target.id} did not log a refusal of {source}:\n{target.log()}"
            time.sleep(0.05)

    # Nothing forged reached any node, over the API or DNS.
    time.sleep(0.3)
    for n in c.running():
        assert not forged_visible(n), f"n{n.id} applied a forged entry"
        assert n.values("www." + ZONE, "A") in (set(), None) or \
            "6.6.6.6" not in n.values("www." + ZONE, "A")
    # The cluster keeps its leader, answers and takes writes everywhere.
    assert c.leader().id == leader.id
    r = followers[0].post("/v1/zones/settle.test./changes", {"changes": [
        change("UPSERT", f"after-{kind.replace('_', '-')}.settle.test.", "A",
               ["192.0.2.77"])]})
    assert r.status in (200, 202), r
    c.wait_dns(c.running(), f"after-{kind.replace('_', '-')}.settle.test.", "A",
               {"192.0.2.77"}, timeout=5)
    c.check_alive()
