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
import signal
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


def side_call(target, node_id, cert, key, http_line, body="", ca=None):
    """One API request on target's side channel (the nodes' calls to each
    other) as node node_id, as raft_intruder makes it; returns what it
    printed."""
    cmd = [str(INTRUDER), "--target", target.raft, "--id", str(node_id), "--http", http_line,
           "--body", body, "--wait-ms", "3000"]
    if cert:
        cmd += ["--cert", str(cert), "--key", str(key)]
    if ca:
        cmd += ["--ca", str(ca)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout


def test_nodes_call_each_other_with_certificates_not_tokens(tmp_path):
    """Every node has its own admin token: registration, polls, relayed
    writes, a join and a removal work all the same, so no node sends an
    operator's token to another.  The removed node's certificate, still
    valid, no longer gets it a raft connection."""
    _need_intruder()
    c = Cluster(tmp_path / "own-tokens", max_nodes=4)
    try:
        for i in range(1, 5):
            c[i].admin_token = f"admin-token-of-n{i}-0123456789"
        c.start(3)  # waits until every node's member entry is registered
        leader = c.leader()
        follower = c.followers()[0]
        # The tokens really differ: the follower's is refused by the leader.
        assert leader.get("/v1/zones", token=follower.admin_token).status == 401
        # A write through the follower, with the follower's token, is relayed.
        r = follower.post("/v1/zones", {"name": "own.test."})
        assert r.status == 201, r
        r = follower.post("/v1/zones/own.test./changes", {"changes": [
            change("UPSERT", "www.own.test.", "A", ["192.0.2.5"])]})
        assert r.status in (200, 202), r
        c.wait_dns([c[1], c[2], c[3]], "www.own.test.", "A", {"192.0.2.5"}, timeout=5)
        # The leader polls its peers (INSYNC needs their applied index).
        end = time.monotonic() + 5
        while True:
            ms = leader.get("/v1/cluster").json["members"]
            if all(m.get("reachable") for m in ms if m["id"] != leader.id):
                break
            assert time.monotonic() < end, ms
            time.sleep(0.1)
        # A node joins with its certificate (and a token nobody else knows).
        c[4].start(join=c[1].api, join_role="standby")
        end = time.monotonic() + 15
        while 4 not in {m["id"] for m in leader.get("/v1/cluster").json["members"]}:
            assert time.monotonic() < end, c[4].log()
            time.sleep(0.1)
        c.wait_dns([c[4]], "www.own.test.", "A", {"192.0.2.5"}, timeout=10)
        assert "joined the cluster" in c[4].log()
        # Removing it: the leader tells it to stop, over the side channel.
        c.wait_ready([1, 2, 3, 4], timeout=15)
        r = c.leader().req("DELETE", "/v1/cluster/members/4")
        assert r.status in (200, 202), r
        c[4].proc.wait(10)
        c[4].expected_exit = c[4].proc.returncode
        assert "removed from the cluster" in c[4].log()
        # Its certificate is still valid, but it is no member: no raft.
        leader = c.leader([1, 2, 3])
        cert, key = c.node_cert(4)
        source, out = attack(c, leader, 4, cert=cert, key=key)
        end = time.monotonic() + 3
        refusal = f"refused a connection from {source}: node 4 is not a member"
        while refusal not in leader.log(10 ** 7):
            assert time.monotonic() < end, leader.log()
            time.sleep(0.05)
        assert not any(forged_visible(n) for n in (c[1], c[2], c[3]))
    finally:
        c.close()


def test_side_channel_grants_a_node_only_what_nodes_ask(tls_cluster):
    """A valid node certificate on the side channel may register only its own
    node and relay; anything else on its own account is refused, and
    without a certificate of the CA nothing gets through."""
    c, other_ca = tls_cluster
    leader = c.leader()
    cert, key = c.node_cert(3)
    out = side_call(leader, 3, cert, key, "POST /v1/zones", '{"name":"side.test."}')
    assert "403" in out.split("\n", 2)[1], out
    member = ('{"id":2,"name":"evil","raft":"127.0.0.99:1","dns":"127.0.0.99:53",'
              '"api":"127.0.0.99:1"}')
    out = side_call(leader, 3, cert, key, "POST /v1/cluster/members", member)
    assert "403" in out and "only itself" in out, out
    out = side_call(leader, 3, cert, key, "GET /v1/health")
    assert "200" in out.split("\n", 2)[1], out
    bad_cert, bad_key = issue_cert(other_ca, 3, other_ca / "side-3", ips=[])
    out = side_call(leader, 3, bad_cert, bad_key, "POST /v1/zones", '{"name":"side.test."}')
    assert "HTTP/1.1" not in out, out
    assert "side.test." not in {z["name"] for z in leader.get("/v1/zones").json["zones"]}
    ms = {m["id"]: m for m in leader.get("/v1/cluster").json["members"]}
    assert ms[2]["raft"] == c[2].raft and ms[2].get("name") != "evil", ms[2]


def test_ca_rotation_without_downtime(tmp_path):
    """The README's rotation, with SIGHUP instead of restarts: trust the old
    and the new CA, give every node a certificate of the new CA one at a
    time, then trust the new CA alone.  Writes are answered by every node
    at each step; afterwards a certificate of the old CA is refused, and a
    restarted node (all its connections new) catches up."""
    _need_intruder()
    c = Cluster(tmp_path / "rotation", max_nodes=3)
    try:
        c.start(3)
        c.create_zone("rot.test.")
        step = [0]

        def write_everywhere():
            step[0] += 1
            name = f"s{step[0]}.rot.test."
            r = c.leader().post("/v1/zones/rot.test./changes", {"changes": [
                change("UPSERT", name, "A", [f"192.0.2.{step[0]}"])]})
            assert r.status in (200, 202), r
            c.wait_dns(c.running(), name, "A", {f"192.0.2.{step[0]}"}, timeout=5)

        def hup(nodes):
            for n in nodes:
                before = n.log(10 ** 7).count("reload: node certificate")
                n.proc.send_signal(signal.SIGHUP)
                end = time.monotonic() + 5
                while n.log(10 ** 7).count("reload: node certificate") == before:
                    assert time.monotonic() < end, n.log()
                    time.sleep(0.05)

        nodes = [c[1], c[2], c[3]]
        old_ca = (c.pki / "ca.crt").read_bytes()
        old = tmp_path / "old-ca"
        old.mkdir(mode=0o700)
        (old / "ca.crt").write_bytes(old_ca)
        (old / "ca.key").write_bytes((c.pki / "ca.key").read_bytes())
        new = make_ca(tmp_path / "new-ca")
        (c.pki / "ca.crt").write_bytes(old_ca + (new / "ca.crt").read_bytes())
        hup(nodes)
        write_everywhere()
        for n in nodes:
            issue_cert(new, n.id, c.pki / f"node-{n.id}", ips=[n.host])
            hup([n])
            write_everywhere()
        (c.pki / "ca.crt").write_bytes((new / "ca.crt").read_bytes())
        hup(nodes)
        write_everywhere()

        # A certificate of the old CA no longer gets in.
        old_cert = issue_cert(old, 3, tmp_path / "old-ca-node-3")
        target = c.leader()
        source, out = attack(c, target, 3, cert=old_cert[0], key=old_cert[1])
        end = time.monotonic() + 3
        while f"refused a connection from {source}" not in target.log(10 ** 7):
            assert time.monotonic() < end, target.log()
            time.sleep(0.05)
        assert not forged_visible(target)

        # A restarted node makes every connection anew, with the new CA.
        c[3].stop()
        write_everywhere()
        c.restart(3)
        c.wait_ready([1, 2, 3], timeout=15)
        write_everywhere()
    finally:
        c.close()


def test_idle_connections_do_not_lock_nodes_out(tls_cluster):
    """A host that may reach the raft port keeps 100 connections open that
    never start TLS (reopening them as the node closes them): a restarted
    node still connects, catches up and takes writes, because the node caps
    unauthenticated connections per address (and logs that it does)."""
    import socket
    import threading
    c, _ = tls_cluster
    leader = c.leader()
    follower = [n for n in c.running() if n.id != leader.id][0]
    stop = threading.Event()

    def hold():
        socks = []
        while not stop.is_set():
            socks = [s for s in socks if s.fileno() >= 0]
            while len(socks) < 100 and not stop.is_set():
                s = socket.socket()
                s.settimeout(1)
                try:
                    s.connect((leader.host, leader.raft_port))
                    s.setblocking(False)
                    socks.append(s)
                except OSError:
                    s.close()
                    break
            for s in list(socks):  # drop the ones the node closed
                try:
                    if s.recv(1) == b"":
                        s.close()
                        socks.remove(s)
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    socks.remove(s)
            time.sleep(0.1)
        for s in socks:
            s.close()

    t = threading.Thread(target=hold)
    t.start()
    try:
        time.sleep(1)
        follower.stop()
        settle(c, "while-held")
        c.restart(follower.id)
        c.wait_ready([n.id for n in c.nodes.values() if n.proc], timeout=20)
        settle(c, "after-restart")
        log = leader.log(10 ** 7)
        assert "from this address" in log
        # No node was turned away (nodes connect from their own addresses).
        nodes_refused = re.findall(r"refused a connection from 127\.0\.0\.1\d:\d+: too many", log)
        assert not nodes_refused, nodes_refused
    finally:
        stop.set()
        t.join()


def test_https_join_never_falls_back_to_plain_http(tmp_path):
    """--join https://... to a member whose API speaks plain HTTP: the
    joining node must not fall back to HTTP (which would work), so it stays
    out and says why."""
    c = Cluster(tmp_path / "https-join", max_nodes=4)
    try:
        c.start(3)
        url = "https://" + c[1].api[len("http://"):]
        c[4].start(join=url, join_role="standby")
        time.sleep(4)  # two join attempts (every 2 s)
        assert c[4].alive(), c[4].log()
        members = {m["id"] for m in c.leader([1, 2, 3]).get("/v1/cluster").json["members"]}
        assert 4 not in members
        log = c[4].log()
        assert f"joining through {url}" in log and "joined the cluster" not in log, log
    finally:
        c.close()
