"""System tests of GET /v1/zones/{zone}/explain and `quorumctl record
explain` on a real 3-node cluster.

Each node runs with --geoip-db pointing at a small exact database written
with tests/data/make_mmdb.pl.  Record sets of every kind the explain
reports on are written through the API: geolocation (subdivision, country,
continent, "*"), geoproximity (coordinates with a positive and a negative
bias), failover and weighted sets whose TCP health check fails (nothing
listens on its port).  Then the explain of every node is checked against
what that node answers over UDP to the same client (the same records, the
same ECS scope byte for byte), and its reasons against the data: the
place of the client, each candidate's match / distance and bias / share /
role and health, fail open, NODATA.  One node is then restarted with a
database that puts London in France: the explain says the nodes
disagree, names that node, and quorumctl prints a row per node and the
line saying so.  Bad requests get 400 naming the field.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_explain.py
"""

import subprocess
import time
import urllib.parse

import pytest

from cluster_util import READ_TOKEN, http
from conftest import free_port
from test_geo import QUORUMCTL, SLACK, V4, ask, ecs_bytes, upsert, write_mmdb

ZONE = "why.test."

NETWORKS = [
    {"network": "81.2.69.0/24", "continent": "EU", "country": "GB", "subdivision": "ENG",
     "latitude": 51.5, "longitude": -0.12},
    {"network": "192.0.2.0/24", "continent": "EU", "country": "FR",
     "latitude": 48.86, "longitude": 2.35},
    {"network": "198.51.100.0/22", "continent": "NA", "country": "US",
     "subdivision": "CA", "latitude": 40.71, "longitude": -74.0},
    {"network": "203.0.113.0/24", "continent": "AS", "country": "JP"},
]

# The same networks, but London is in France: a node with this database
# decides otherwise for London's clients.
OTHER = [dict(n, country="FR", subdivision="IDF") if n["network"] == "81.2.69.0/24"
         else n for n in NETWORKS]

LONDON = ("81.2.69.0", 24)


def geo(label, sid, value, **where):
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": sid,
            "records": [value], "geo_location": where}


def prox(label, sid, value, lat, lon, bias=None):
    loc = {"coordinates": {"latitude": lat, "longitude": lon}}
    if bias is not None:
        loc["bias"] = bias
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": sid,
            "records": [value], "geoproximity_location": loc}


def routed(label, sid, value, **routing):
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": sid,
            "records": [value], **routing}


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    from cluster_util import Cluster
    root = tmp_path_factory.mktemp("explain")
    db = root / "geo.mmdb"
    write_mmdb(db, NETWORKS)
    c = Cluster(root / "cluster").start(3, extra=["--geoip-db", str(db)])
    try:
        leader = c.leader()
        r = leader.post("/v1/zones", {"name": ZONE})
        assert r.status == 201, r
        closed = free_port()  # nothing listens: the TCP check fails
        r = leader.post("/v1/healthchecks", {"type": "TCP", "ip_address": "127.0.0.1",
                                             "port": closed, "request_interval": 1,
                                             "failure_threshold": 1}, timeout=10)
        assert r.status == 201, r
        hc = r.json["healthcheck"]["id"]
        changes = [
            upsert(geo("www", "eng", "192.0.2.1", country_code="GB", subdivision_code="ENG")),
            upsert(geo("www", "gb", "192.0.2.2", country_code="GB")),
            upsert(geo("www", "eu", "192.0.2.3", continent_code="EU")),
            upsert(geo("www", "us", "192.0.2.4", country_code="US")),
            upsert(geo("www", "any", "192.0.2.9", country_code="*")),
            upsert(geo("nodef", "gb", "192.0.2.20", country_code="GB")),
            upsert(prox("near", "london", "192.0.2.11", "51.5", "-0.12", bias=-20)),
            upsert(prox("near", "frankfurt", "192.0.2.12", "50.11", "8.68", bias=50)),
            upsert(prox("near", "newyork", "192.0.2.13", "40.71", "-74")),
            upsert(routed("fo", "main", "192.0.2.31", failover="PRIMARY",
                          health_check_id=hc)),
            upsert(routed("fo", "backup", "192.0.2.32", failover="SECONDARY")),
            upsert(routed("wt", "a", "192.0.2.41", weight=1, health_check_id=hc)),
            upsert(routed("wt", "b", "192.0.2.42", weight=3, health_check_id=hc)),
            upsert({"name": f"plain.{ZONE}", "type": "A", "ttl": 60,
                    "records": ["192.0.2.99"]}),
        ]
        r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)
        assert r.status == 200, r
        c.wait_change_insync(leader, r.json["change"]["id"], timeout=10 * SLACK)
        c.hc = hc
        c.db_path = db
        yield c
    finally:
        c.close()


def explain(node, name, client=None, rtype="A", token=READ_TOKEN, **extra):
    params = {"name": name, "type": rtype, **extra}
    if client is not None:
        params["client"] = client
    path = f"/v1/zones/{ZONE}/explain?" + urllib.parse.urlencode(params)
    return http("GET", node.api + path, token=token, timeout=10 * SLACK)


def nodes_of(r):
    assert r.status == 200, r
    body = r.json
    assert [n["name"] for n in body["nodes"]] == ["n1", "n2", "n3"], body
    assert all(n["reachable"] for n in body["nodes"]), body
    return body, {n["name"]: n["explain"] for n in body["nodes"]}


def candidates(group):
    return {c["set_identifier"]: c for c in group["candidates"]}


def answer_data(explained):
    return sorted(line.split(" ")[-1] for line in explained["answer"])


def test_geolocation_every_node_explains_its_own_answer(cl):
    body, views = nodes_of(explain(cl.followers()[0], f"www.{ZONE}", "81.2.69.0/24"))
    assert body["consistent"] is True
    for node in (cl.nodes[i] for i in (1, 2, 3)):
        e = views[f"n{node.id}"]
        # The explain's answer is the one the node gives over the wire.
        data, msg = ask(node, f"www.{ZONE}", ecs=LONDON)
        assert answer_data(e) == sorted(r.to_text() for s in msg.answer for r in s)
        assert data.endswith(b"\x00\x0b" + ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3]))
        assert e["ecs_scope"] == 24 and e["rcode"] == "NOERROR"
        assert e["client"] == {"ecs": "81.2.69.0/24", "ecs_used": True,
                               "located_by": "81.2.69.0/24"}
        loc = e["location"]
        assert (loc["found"], loc["continent"], loc["country"], loc["subdivision"],
                loc["prefix"], loc["network"]) == (True, "EU", "GB", "ENG", 24,
                                                   "81.2.69.0/24")
        [g] = e["decisions"]
        assert (g["policy"], g["outcome"], g["depends_on_location"], g["scope"]) == (
            "geolocation", "chosen", True, 24)
        c = candidates(g)
        assert {k: (v["location"], v["match"], v["chosen"]) for k, v in c.items()} == {
            "eng": ("GB-ENG", "subdivision", True), "gb": ("GB", "country", False),
            "eu": ("EU", "continent", False), "us": ("US", "none", False),
            "any": ("*", "default", False)}
        assert c["eng"]["records"] == ["192.0.2.1"] and c["eng"]["health"] == "no_check"
        assert e["decision"].startswith("geolocation chosen: eng /24")


def test_source_address_default_and_nodata(cl):
    node = cl.leader()
    _, views = nodes_of(explain(node, f"www.{ZONE}", "203.0.113.7"))
    e = views["n1"]
    # An address is the query's source: no ECS, nothing echoed.
    assert e["client"] == {"address": "203.0.113.7/32", "ecs_used": False,
                           "located_by": "203.0.113.7/32"}
    assert e["ecs_scope"] is None
    [g] = e["decisions"]
    assert candidates(g)["any"]["chosen"] and candidates(g)["any"]["match"] == "default"
    assert answer_data(e) == ["192.0.2.9"]
    # Nothing holds a Japanese client and there is no default: NODATA.
    _, views = nodes_of(explain(node, f"nodef.{ZONE}", "203.0.113.0/24"))
    for e in views.values():
        [g] = e["decisions"]
        assert g["outcome"] == "nodata" and e["answer"] == [] and e["rcode"] == "NOERROR"
        assert e["ecs_scope"] == 24
    # A plain name: no routing, scope 0.
    _, views = nodes_of(explain(node, f"plain.{ZONE}", "81.2.69.0/24"))
    assert all(e["decisions"] == [] and e["ecs_scope"] == 0 and
               answer_data(e) == ["192.0.2.99"] for e in views.values())


def test_geoproximity_distances_and_bias(cl):
    body, views = nodes_of(explain(cl.leader(), f"near.{ZONE}", "81.2.69.0/24"))
    assert body["consistent"] is True
    for e in views.values():
        [g] = e["decisions"]
        assert (g["policy"], g["outcome"], g["scope"]) == ("geoproximity", "chosen", 24)
        c = candidates(g)
        assert c["london"]["bias"] == -20 and c["frankfurt"]["bias"] == 50
        assert c["newyork"]["bias"] == 0
        assert c["london"]["coordinates"] == {"latitude": 51.5, "longitude": -0.12}
        # London is 0 km away; Frankfurt ~640 km, halved by its bias; the
        # negative bias stretches nothing at 0 km.
        assert c["london"]["distance_km"] == 0 and c["london"]["chosen"]
        assert 600 < c["frankfurt"]["unbiased_km"] < 680
        assert c["frankfurt"]["distance_km"] == pytest.approx(
            c["frankfurt"]["unbiased_km"] * 0.5, abs=0.2)
        assert 5500 < c["newyork"]["distance_km"] < 5650
        assert answer_data(e) == ["192.0.2.11"]
    # From Paris (FR network at 48.86, 2.35): London 344 km x 1.25 = 430,
    # Frankfurt 479 km x 0.5 = 240: the bias makes Frankfurt win.
    _, views = nodes_of(explain(cl.leader(), f"near.{ZONE}", "192.0.2.0/24"))
    for e in views.values():
        c = candidates(e["decisions"][0])
        assert c["frankfurt"]["chosen"] and not c["london"]["chosen"]
        assert c["london"]["distance_km"] == pytest.approx(
            c["london"]["unbiased_km"] * 1.25, abs=0.2)
        assert answer_data(e) == ["192.0.2.12"]


def wait_unhealthy(cl, name, sid):
    deadline = time.time() + 20 * SLACK
    while True:
        _, views = nodes_of(explain(cl.leader(), name))
        if all(candidates(e["decisions"][0])[sid]["health"] == "unhealthy"
               for e in views.values()):
            return views
        assert time.time() < deadline, views
        time.sleep(0.3)


def test_failover_and_weighted_with_a_failing_check(cl):
    views = wait_unhealthy(cl, f"fo.{ZONE}", "main")
    for name, e in views.items():
        [g] = e["decisions"]
        c = candidates(g)
        assert (g["policy"], g["outcome"]) == ("failover", "chosen")
        assert (c["main"]["failover"], c["main"]["health"], c["main"]["chosen"]) == (
            "PRIMARY", "unhealthy", False)
        assert c["main"]["health_check_id"] == cl.hc
        assert (c["backup"]["failover"], c["backup"]["health"], c["backup"]["chosen"]) == (
            "SECONDARY", "no_check", True)
        assert answer_data(e) == ["192.0.2.32"]
        node = cl.nodes[int(name[1:])]
        assert node.values(f"fo.{ZONE}") == {"192.0.2.32"}
    # Both weighted sets are down: fail open, shares by weight among all.
    views = wait_unhealthy(cl, f"wt.{ZONE}", "b")
    body, views = nodes_of(explain(cl.leader(), f"wt.{ZONE}"))
    assert body["consistent"] is True  # which set one query drew does not count
    for e in views.values():
        [g] = e["decisions"]
        c = candidates(g)
        assert (g["policy"], g["outcome"]) == ("weighted", "fail_open")
        assert (c["a"]["weight"], c["a"]["share"]) == (1, 0.25)
        assert (c["b"]["weight"], c["b"]["share"]) == (3, 0.75)
        assert sum(v["chosen"] for v in c.values()) == 1
        assert e["decision"].startswith("weighted fail_open: a 25%, b 75%")


def test_validation_names_the_field(cl):
    node = cl.leader()
    for params, field in [({}, "name"), ({"name": "www.other.test."}, "name"),
                          ({"name": f"www.{ZONE}", "type": "NOPE"}, "type"),
                          ({"name": f"www.{ZONE}", "client": "81.2.69.0/33"}, "client"),
                          ({"name": f"www.{ZONE}", "client": "london"}, "client"),
                          ({"name": f"www.{ZONE}", "resolver": "10.0.0.0/8"}, "resolver"),
                          ({"name": f"www.{ZONE}", "node": "n2"}, "node")]:
        path = f"/v1/zones/{ZONE}/explain?" + urllib.parse.urlencode(params)
        r = http("GET", node.api + path, token=READ_TOKEN, timeout=10)
        assert r.status == 400, (params, r)
        assert r.json["error"]["field"] == field, (params, r.json)
    r = http("GET", node.api + "/v1/zones/nope.test./explain?name=www.nope.test.",
             token=READ_TOKEN, timeout=10)
    assert r.status == 404
    r = http("GET", node.api + f"/v1/zones/{ZONE}/explain?name=www.{ZONE}", token=None,
             timeout=10)
    assert r.status == 401


def ctl(cl, *args):
    servers = [a for n in cl.nodes.values() if n.alive() for a in ("--server", n.api)]
    return subprocess.run([QUORUMCTL, *servers, "--token", READ_TOKEN, *args],
                          capture_output=True, text=True, timeout=30 * SLACK)


def test_a_node_with_another_database_decides_otherwise(cl, tmp_path):
    other = tmp_path / "other.mmdb"
    write_mmdb(other, OTHER, db_type="QDNS-Test-Other")
    n3 = cl.nodes[3]
    assert n3.stop() == 0
    cl.restart(3, extra=["--geoip-db", str(other)])
    cl.wait_ready([1, 2, 3], timeout=20 * SLACK)
    try:
        body, views = nodes_of(explain(cl.leader(), f"www.{ZONE}", "81.2.69.0/24"))
        assert body["consistent"] is False
        assert views["n3"]["geoip"]["database_type"] == "QDNS-Test-Other"
        assert views["n3"]["location"]["country"] == "FR"
        c3 = candidates(views["n3"]["decisions"][0])
        assert c3["eu"]["chosen"] and c3["eu"]["match"] == "continent"
        assert answer_data(views["n3"]) == ["192.0.2.3"]
        assert answer_data(views["n1"]) == ["192.0.2.1"]
        # ... which is what n3 answers over the wire.
        _, msg = ask(n3, f"www.{ZONE}", ecs=LONDON)
        assert sorted(r.to_text() for s in msg.answer for r in s) == ["192.0.2.3"]
        groups = {tuple(d["nodes"]): d["decision"] for d in body["decisions"]}
        assert set(groups) == {("n1", "n2"), ("n3",)}, groups
        out = ctl(cl, "record", "explain", ZONE, "www", "A", "--client", "81.2.69.0/24")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        rows = [ln for ln in lines if ln.split(" ")[0] in ("n1", "n2", "n3")]
        assert len(rows) == 3, out.stdout
        assert "192.0.2.1" in rows[0] and "192.0.2.3" in rows[2], out.stdout
        assert "QDNS-Test-Other" in rows[2] and "EU FR-IDF /24" in rows[2], out.stdout
        [disagree] = [ln for ln in lines if ln.startswith("nodes disagree:")]
        assert "n1, n2 decide" in disagree and "n3 decide" in disagree, disagree
        assert "* eng" in out.stdout and "* eu" in out.stdout, out.stdout
    finally:
        assert n3.stop() == 0
        cl.restart(3, extra=["--geoip-db", str(cl.db_path)])
        cl.wait_ready([1, 2, 3], timeout=20 * SLACK)
    out = ctl(cl, "record", "explain", ZONE, "www", "--client", "81.2.69.0/24")
    assert out.returncode == 0, out.stderr
    assert "nodes disagree" not in out.stdout, out.stdout
    out = ctl(cl, "--json", "record", "explain", ZONE, "fo")
    assert out.returncode == 0 and '"consistent": true' in out.stdout, out.stdout
