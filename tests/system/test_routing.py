"""System tests of routing policies: a real 3-node cluster (cluster_util.py),
record sets written through the API (on a follower: relayed to the leader,
through raft) and every node asked over DNS.

Checked: weighted shares on every node (chi-square over the answers, the
nodes' generators seeded by themselves), weight 0 never answered while the
others are healthy, failover answering the primary, multivalue's 8 of 10,
an alias at the apex answering with its weighted target under the apex
name and the target's TTL, an alias to a failover pair; the validation
errors of a batch listed together with their fields (health check ids
rejected when no such check exists); export writing routed sets as
';quorumdns-rrset' comment lines that import reads back; quorumctl's
routing options; weighted shares while health changes (MANUAL checks
flipped through the API): chi-square over 10,000 answers per node and
phase, the remaining sets' shares redistributed in proportion to their
weights, weight 0 answered only when every weighted set is down.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_routing.py
"""

import collections
import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.message
import dns.rdatatype
import pytest

from cluster_util import ADMIN_TOKEN, REPO, Cluster

QUORUMCTL = Path(os.environ.get("QUORUMCTL_BIN",
                                REPO / "build" / "tools" / "quorumctl" / "quorumctl"))

ZONE = "route.test."
# Waits scale with QDNS_TIMING_SLACK on a loaded machine.
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("routing") / "cluster").start(3)
    try:
        follower = c.followers()[0]
        r = follower.post("/v1/zones", {"name": ZONE})
        assert r.status == 201, r
        yield c
    finally:
        c.close()


def post(node, changes):
    return node.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)


def rs(name, rtype="A", records=(), ttl=60, **routing):
    out = {"name": name, "type": rtype, "ttl": ttl}
    if records is not None:
        out["records"] = list(records)
    out.update(routing)
    return out


def upsert(rrset):
    return {"action": "UPSERT", "rrset": rrset}


def wait_all(cluster, qname, check, timeout=5.0, qtype="A"):
    """Waits until check(values) holds on every node; returns the last values."""
    for n in cluster.running():
        end = time.monotonic() + timeout * SLACK
        while True:
            got = {r.to_text() for s in n.q(qname, qtype).answer for r in s}
            if check(got):
                break
            assert time.monotonic() < end, f"n{n.id}: {qname} -> {got}"
            time.sleep(0.02)


def chi_square(observed, shares):
    total = sum(observed)
    return sum((o - s * total) ** 2 / (s * total) for o, s in zip(observed, shares))


# Chi-square at p = 0.001 by degrees of freedom.
CHI2_P001 = {1: 10.83, 2: 13.82}


def assert_shares(draw, keys, shares, what):
    """draw() returns a Counter of answers; the counts of `keys` must fit
    `shares` (chi-square, p = 0.001).  A sample that fails is drawn once
    more and the second must pass: a fair generator then fails one check
    in a million instead of one in a thousand (this file makes seven such
    checks per run), while a biased one fails both samples."""
    limit = CHI2_P001[len(keys) - 1]
    for attempt in (1, 2):
        counts = draw()
        x2 = chi_square([counts[k] for k in keys], shares)
        print(f"{what} {dict(counts)} chi2={x2:.2f}")
        if x2 < limit:
            return counts
    raise AssertionError(f"{what}: shares off twice: {dict(counts)} chi2={x2:.2f}")


def test_policies_answered_by_every_node(cluster):
    f = cluster.followers()[-1]
    changes = [
        upsert(rs(f"w.{ZONE}", records=["192.0.2.1"], set_identifier="one", weight=1)),
        upsert(rs(f"w.{ZONE}", records=["192.0.2.3"], set_identifier="three", weight=3)),
        upsert(rs(f"w.{ZONE}", records=["192.0.2.9"], set_identifier="zero", weight=0)),
        upsert(rs(f"fo.{ZONE}", records=["192.0.2.41"], set_identifier="p",
                  failover="PRIMARY")),
        upsert(rs(f"fo.{ZONE}", records=["192.0.2.42"], set_identifier="s",
                  failover="SECONDARY")),
        upsert(rs(f"pool.{ZONE}", records=["192.0.2.51"], ttl=30, set_identifier="a",
                  weight=1)),
        upsert(rs(f"pool.{ZONE}", records=["192.0.2.52"], ttl=30, set_identifier="b",
                  weight=1)),
        upsert(rs(ZONE, records=None,
                  alias_target={"dns_name": f"pool.{ZONE}",
                                "evaluate_target_health": True})),
        upsert(rs(f"tofo.{ZONE}", records=None, alias_target={"dns_name": f"fo.{ZONE}"})),
    ]
    changes += [upsert(rs(f"mv.{ZONE}", records=[f"192.0.2.{100 + i}"],
                          set_identifier=f"m{i}", multi_value_answer=True))
                for i in range(10)]
    r = post(f, changes)
    assert r.status == 200, r

    wait_all(cluster, f"fo.{ZONE}", lambda v: v == {"192.0.2.41"})
    wait_all(cluster, f"tofo.{ZONE}", lambda v: v == {"192.0.2.41"})
    wait_all(cluster, f"mv.{ZONE}", lambda v: len(v) == 8)
    wait_all(cluster, ZONE, lambda v: len(v) == 1 and v <= {"192.0.2.51", "192.0.2.52"})
    for n in cluster.running():
        # The apex alias: the target's records under the apex, its TTL.
        resp = n.q(ZONE, "A")
        assert resp.answer[0].name.to_text() == ZONE
        assert resp.answer[0].ttl == 30
        # The apex SOA is still there.
        assert n.q(ZONE, "SOA").answer
        # multivalue: 8 distinct of the 10, varying between answers
        seen = set()
        for _ in range(30):
            got = {r.to_text() for s in n.q(f"mv.{ZONE}", "A").answer for r in s}
            assert len(got) == 8
            seen |= got
        assert len(seen) == 10
        # weighted 1:3, weight 0 never while the others are healthy
        def draw():
            counts = collections.Counter()
            for _ in range(1200):
                got = [r.to_text() for s in n.q(f"w.{ZONE}", "A").answer for r in s]
                assert len(got) == 1
                counts[got[0]] += 1
            assert counts["192.0.2.9"] == 0, counts
            return counts
        assert_shares(draw, ["192.0.2.1", "192.0.2.3"], [0.25, 0.75], f"n{n.id} 1:3")


def bulk_answers(node, qname, n, window=256):
    """n answers of node to qname A over one raw UDP socket, `window`
    queries in flight (lost ones are sent again): the list of the single
    address each answer held, in the order they came."""
    q = dns.message.make_query(qname, "A", use_edns=False)
    q.flags = 0
    wire = bytearray(q.to_wire())
    host, port = node.dns_addr.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.connect((host, int(port)))
    sock.settimeout(0.5 * SLACK)
    out, lost_rounds = [], 0
    try:
        while len(out) < n:
            k = min(window, n - len(out))
            base = (len(out) + lost_rounds * 7919) & 0xFFFF
            ids = {(base + i) & 0xFFFF for i in range(k)}
            for qid in ids:
                wire[0:2] = struct.pack("!H", qid)
                sock.send(wire)
            while ids:
                try:
                    msg = sock.recv(4096)
                except socket.timeout:
                    lost_rounds += 1
                    assert lost_rounds < 20, f"n{node.id}: {len(ids)} queries unanswered"
                    break
                qid, flags, qd, an, ns, ar = struct.unpack("!6H", msg[:12])
                if qid not in ids:
                    continue   # a late answer to a query sent again
                ids.discard(qid)
                assert flags & 0xF == 0 and an == 1, (node.id, flags, an)
                if ns == 0 and ar == 0:
                    out.append(socket.inet_ntoa(msg[-4:]))
                else:
                    rr = dns.message.from_wire(msg).answer
                    out.append(rr[0][0].to_text())
    finally:
        sock.close()
    return out


def test_weighted_shares_follow_health(cluster):
    """Weights 1:2:5 (and a weight-0 set without a check) on every node,
    10,000 answers each: the shares pass a chi-square test.  The weight-5
    set's MANUAL check goes unhealthy: the others share 1:2 (chi-square
    again).  All weighted sets down: only the weight-0 set; one back: only
    that one.  The nodes seed their generators themselves: their sequences
    differ."""
    leader = cluster.leader()
    checks = []
    for _ in range(3):
        r = leader.post("/v1/healthchecks", {"type": "MANUAL"}, timeout=10)
        assert r.status == 201, r
        checks.append(r.json["healthcheck"]["id"])
    ips = ["192.0.2.61", "192.0.2.62", "192.0.2.65"]
    zero = "192.0.2.60"
    qname = f"ws.{ZONE}"
    changes = [upsert(rs(qname, records=[ip], set_identifier=f"w{w}", weight=w,
                         health_check_id=hc))
               for ip, w, hc in zip(ips, (1, 2, 5), checks)]
    changes.append(upsert(rs(qname, records=[zero], set_identifier="w0", weight=0)))
    r = post(cluster.followers()[0], changes)
    assert r.status == 200, r

    def set_health(hc, healthy):
        r = leader.post(f"/v1/healthchecks/{hc}/manual",
                        {"status": "HEALTHY" if healthy else "UNHEALTHY"}, timeout=10)
        assert r.status == 200, r

    def settle(allowed):
        """Until no node's 300 answers hold an address outside `allowed`
        (health versions are published on each node on its own)."""
        for node in cluster.running():
            end = time.monotonic() + 5 * SLACK
            while not set(bulk_answers(node, qname, 300)) <= allowed:
                assert time.monotonic() < end, f"n{node.id} still answers outside {allowed}"
                time.sleep(0.05)

    N = 10_000
    settle(set(ips))
    firsts = {}
    for node in cluster.running():
        def draw():
            got = bulk_answers(node, qname, N)
            firsts.setdefault(node.id, got[:300])
            counts = collections.Counter(got)
            assert counts[zero] == 0 and set(counts) <= set(ips), (node.id, counts)
            return counts
        assert_shares(draw, ips, [1 / 8, 2 / 8, 5 / 8], f"n{node.id} 1:2:5")
    assert len({tuple(f) for f in firsts.values()}) == len(firsts), \
        "identical sequences: a fixed seed"

    set_health(checks[2], False)   # the weight-5 set goes down
    settle(set(ips[:2]))
    for node in cluster.running():
        def draw():
            counts = collections.Counter(bulk_answers(node, qname, N))
            assert set(counts) <= set(ips[:2]), (node.id, counts)
            return counts
        assert_shares(draw, ips[:2], [1 / 3, 2 / 3], f"n{node.id} 1:2")

    set_health(checks[0], False)
    set_health(checks[1], False)   # every weighted set down: weight 0 only
    settle({zero})
    for node in cluster.running():
        assert set(bulk_answers(node, qname, 2000)) == {zero}, node.id
    set_health(checks[1], True)    # one back: weight 0 no more
    settle({ips[1]})
    for node in cluster.running():
        assert set(bulk_answers(node, qname, 2000)) == {ips[1]}, node.id


def errors_of(resp):
    assert resp.status == 400, resp
    return {(e["field"], e["message"]) for e in resp.error["errors"]}


def test_batch_errors_are_listed_together(cluster):
    leader = cluster.leader()
    # What the API itself rejects (the fields' syntax).
    r = post(leader, [
        upsert(rs(f"a.{ZONE}", records=["192.0.2.1"], set_identifier="x", weight=300)),
        upsert(rs(f"b.{ZONE}", records=["192.0.2.1"], set_identifier="x",
                  failover="TERTIARY")),
        upsert(rs(f"c.{ZONE}", records=["192.0.2.1"], set_identifier="lonely")),
        upsert(rs(f"d.{ZONE}", records=["192.0.2.1"],
                  alias_target={"dns_name": f"w.{ZONE}"})),
    ])
    fields = {f for f, _ in errors_of(r)}
    assert "changes[0].rrset.weight" in fields, r
    assert "changes[1].rrset.failover" in fields, r
    assert "changes[2].rrset.set_identifier" in fields, r
    assert "changes[3].rrset.records" in fields, r
    # What the state rejects (against the zone's other sets).
    r = post(cluster.followers()[0], [
        upsert(rs(f"w.{ZONE}", records=["192.0.2.7"], set_identifier="p",
                  failover="PRIMARY")),
        upsert(rs(f"fo.{ZONE}", records=["192.0.2.43"], set_identifier="p2",
                  failover="PRIMARY")),
        upsert(rs(f"h.{ZONE}", records=["192.0.2.1"], set_identifier="h", weight=1,
                  health_check_id="3f2a-missing")),
        upsert(rs(f"mvc.{ZONE}", "CNAME", ["w.route.test."], set_identifier="m",
                  multi_value_answer=True)),
        upsert(rs(f"x.{ZONE}", records=None,
                  alias_target={"dns_name": "www.not-hosted.example."})),
        upsert(rs(f"sub.{ZONE}", "NS", ["ns.example.net."], set_identifier="n",
                  weight=1)),
    ])
    errs = errors_of(r)
    fields = {f for f, _ in errs}
    assert "changes[0].rrset.failover" in fields, errs          # mixed policies
    assert "changes[1].rrset.failover" in fields, errs          # two PRIMARYs
    assert "changes[2].rrset.health_check_id" in fields, errs   # no such check
    assert "changes[3].rrset.multi_value_answer" in fields, errs
    assert "changes[4].rrset.alias_target.dns_name" in fields, errs
    assert any(f.startswith("changes[5].rrset") for f in fields), errs
    assert any("3f2a-missing" in m and "does not exist" in m for _, m in errs), errs
    # A DELETE may name a set with an identifier and no policy (written
    # before routing existed): it reaches the state, which finds no such set.
    r = post(leader, [{"action": "DELETE",
                       "rrset": rs(f"old.{ZONE}", records=["192.0.2.1"],
                                   set_identifier="legacy")}])
    errs = errors_of(r)
    assert not any("needs a routing policy" in m for _, m in errs), errs
    assert any("does not exist" in m for _, m in errs), errs
    # Nothing of it was applied.
    for n in cluster.running():
        assert {r.to_text() for s in n.q(f"fo.{ZONE}", "A").answer for r in s} == \
            {"192.0.2.41"}


def test_export_writes_routed_sets_that_import_reads_back(cluster):
    leader = cluster.leader()
    before = leader.get(f"/v1/zones/{ZONE}/rrsets?limit=1000")
    assert before.status == 200, before
    r = leader.req("GET", f"/v1/zones/{ZONE}/export")
    assert r.status == 200, r
    text = r.text
    routed = [l for l in text.splitlines() if l.startswith(";quorumdns-rrset ")]
    assert len(routed) >= 17, text
    weighted = [json.loads(l.split(" ", 1)[1]) for l in routed]
    assert {"name": f"w.{ZONE}", "type": "A", "set_identifier": "three", "ttl": 60,
            "records": ["192.0.2.3"], "weight": 3} in weighted
    # Delete the weighted sets, then import the exported text: they return.
    r = post(leader, [{"action": "DELETE",
                       "rrset": rs(f"w.{ZONE}", records=[f"192.0.2.{i}"],
                                   set_identifier=sid, weight=w)}
                      for i, sid, w in ((1, "one", 1), (3, "three", 3), (9, "zero", 0))])
    assert r.status == 200, r
    r = leader.req("POST", f"/v1/zones/{ZONE}/import", raw=text, content_type="text/dns",
                   timeout=10)
    assert r.status == 200, r
    after = leader.get(f"/v1/zones/{ZONE}/rrsets?limit=1000")

    def key(s):
        return (s["name"], s["type"], s["set_identifier"])
    strip = [{k: v for k, v in s.items()} for s in before.json["rrsets"]
             if s["type"] != "SOA"]
    again = [s for s in after.json["rrsets"] if s["type"] != "SOA"]
    assert sorted(strip, key=key) == sorted(again, key=key)
    wait_all(cluster, f"w.{ZONE}", lambda v: len(v) == 1)

    # The same through a staged import (what quorumctl zone import uses):
    # the routed lines of a chunk become UPSERTs of the commit.
    r = post(leader, [{"action": "DELETE",
                       "rrset": rs(f"w.{ZONE}", records=[f"192.0.2.{i}"],
                                   set_identifier=sid, weight=w)}
                      for i, sid, w in ((1, "one", 1), (3, "three", 3), (9, "zero", 0))])
    assert r.status == 200, r
    r = leader.post(f"/v1/zones/{ZONE}/imports", {})
    assert r.status == 201, r
    iid = r.json["id"]
    r = leader.req("POST", f"/v1/zones/{ZONE}/imports/{iid}/chunks", raw=text,
                   content_type="text/dns", timeout=10)
    assert r.status == 200, r
    assert r.json["staged_records"] >= len(routed), r.json
    r = leader.req("POST", f"/v1/zones/{ZONE}/imports/{iid}/commit", timeout=10)
    assert r.status == 200, r
    after = leader.get(f"/v1/zones/{ZONE}/rrsets?limit=1000")
    again = [s for s in after.json["rrsets"] if s["type"] != "SOA"]
    assert sorted(strip, key=key) == sorted(again, key=key)


def test_quorumctl_routing_options(cluster):
    if not QUORUMCTL.exists():
        pytest.skip(f"quorumctl not built: {QUORUMCTL}")

    def ctl(*args, check=0):
        cmd = [str(QUORUMCTL), "--token", ADMIN_TOKEN]
        for n in cluster.running():
            cmd += ["--server", n.api]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                           env={**os.environ, "QUORUMDNS_RETRY_MS": "3000"})
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    zone = ZONE.rstrip(".")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "blue", "--weight", "10",
        "192.0.2.61")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "green", "--weight", "0",
        "192.0.2.62")
    ctl("record", "upsert", zone, "clifo", "A", "--set-id", "p", "--failover", "primary",
        "192.0.2.63")
    ctl("record", "upsert", zone, "clialias", "A", "--alias-target", "cli",
        "--evaluate-target-health")
    shown = json.loads(ctl("--json", "record", "show", zone, "cli", "A", "--set-id",
                           "blue").stdout)
    assert shown["weight"] == 10 and shown["set_identifier"] == "blue", shown
    shown = json.loads(ctl("--json", "record", "show", zone, "clialias", "A").stdout)
    assert shown["alias_target"] == {"dns_name": f"cli.{ZONE}",
                                     "evaluate_target_health": True}, shown
    table = ctl("record", "list", zone, "--name", "cli").stdout
    assert "ROUTING" in table and "weight 10" in table and "weight 0" in table, table
    table = ctl("record", "show", zone, "clialias", "A").stdout
    assert f"alias cli.{ZONE} evaluate" in table, table
    wait_all(cluster, f"cli.{ZONE}", lambda v: v == {"192.0.2.61"})
    wait_all(cluster, f"clialias.{ZONE}", lambda v: v == {"192.0.2.61"})
    wait_all(cluster, f"clifo.{ZONE}", lambda v: v == {"192.0.2.63"})
    # Bad options are usage errors, bad combinations API errors.
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--weight", "256",
        "192.0.2.1", check=2)
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--failover", "middle",
        "192.0.2.1", check=2)
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--failover", "PRIMARY",
        "192.0.2.1", check=1)  # mixes failover into a weighted group
    # Deleting without values reads the set, routing fields included.
    ctl("record", "delete", zone, "cli", "A", "--set-id", "green")
    ctl("record", "delete", zone, "clialias", "A")


def test_restarted_node_answers_by_policy(cluster):
    """A follower stopped and started again rebuilds its routed sets from its
    log (format-2 commands): weighted, failover, multivalue and the apex
    alias answer as before."""
    f = cluster.followers()[0]
    assert f.stop() == 0
    cluster.restart(f.id)
    end = time.monotonic() + 10 * SLACK
    while True:
        try:
            got = {r.to_text() for s in f.q(f"fo.{ZONE}", "A").answer for r in s}
        except Exception:
            got = set()
        if got == {"192.0.2.41"}:
            break
        assert time.monotonic() < end, f"n{f.id} after restart: fo -> {got}"
        time.sleep(0.05)
    assert len({r.to_text() for s in f.q(f"mv.{ZONE}", "A").answer for r in s}) == 8
    alias = f.q(ZONE, "A")
    assert alias.answer and alias.answer[0].ttl == 30
    counts = collections.Counter(
        r.to_text() for _ in range(400) for s in f.q(f"w.{ZONE}", "A").answer for r in s)
    assert counts["192.0.2.9"] == 0 and counts["192.0.2.3"] > counts["192.0.2.1"], counts


STANDALONE_ZONE = """\
$ORIGIN alone.test.
$TTL 300
@ SOA ns hm 1 2 3 4 300
@ NS ns
ns A 192.0.2.53
;quorumdns-rrset {"name":"w.alone.test.","type":"A","set_identifier":"a","ttl":60,"records":["192.0.2.1"],"weight":1}
;quorumdns-rrset {"name":"w.alone.test.","type":"A","set_identifier":"b","ttl":60,"records":["192.0.2.2"],"weight":3}
;quorumdns-rrset {"name":"alone.test.","type":"A","set_identifier":"","ttl":60,"records":[],"alias_target":{"dns_name":"w.alone.test."}}
;quorumdns-rrset {"name":"fo.alone.test.","type":"A","set_identifier":"p","ttl":60,"records":["192.0.2.41"],"failover":"PRIMARY"}
;quorumdns-rrset {"name":"fo.alone.test.","type":"A","set_identifier":"s","ttl":60,"records":["192.0.2.42"],"failover":"SECONDARY"}
"""


def test_standalone_serves_routed_sets_of_a_zone_file(qdns_factory, tmp_path):
    """A zone file with export's routed-set lines, served without a cluster."""
    from conftest import query
    path = tmp_path / "alone.test.zone"
    path.write_text(STANDALONE_ZONE)
    srv = qdns_factory(zones={"alone.test.": path}, probe_zone="alone.test.",
                       ipv6=False)
    server = srv
    def draw():
        counts = collections.Counter()
        for _ in range(400):
            r = query(server, "w.alone.test.", "A")
            got = [x.to_text() for s in r.answer for x in s]
            assert len(got) == 1, r
            counts[got[0]] += 1
        return counts
    assert_shares(draw, ["192.0.2.1", "192.0.2.2"], [0.25, 0.75], "standalone 1:3")
    r = query(server, "alone.test.", "A")
    assert {x.to_text() for s in r.answer for x in s} <= {"192.0.2.1", "192.0.2.2"}
    r = query(server, "fo.alone.test.", "A")
    assert {x.to_text() for s in r.answer for x in s} == {"192.0.2.41"}


def test_standalone_refuses_a_bad_routed_line(qdns_factory, tmp_path):
    import subprocess as sp
    from conftest import QDNS_BIN
    path = tmp_path / "bad.test.zone"
    path.write_text(STANDALONE_ZONE.replace("alone.test", "bad.test")
                    + ';quorumdns-rrset {"name":"x.bad.test.","type":"A","weight":1,'
                      '"set_identifier":"x","records":["192.0.2.1"],'
                      '"health_check_id":"h1"}\n'
                    + ';quorumdns-rrset {"name":"y.bad.test.",\n')
    p = sp.run([str(QDNS_BIN), "--listen", "127.0.0.1:1", "--zone",
                f"bad.test.={path}"], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert f"{path}:11: routed record set: health checks need cluster mode" in p.stderr, \
        p.stderr
    assert f"{path}:12: routed record set: invalid JSON" in p.stderr, p.stderr
