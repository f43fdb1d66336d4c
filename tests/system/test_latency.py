"""System tests of the latency routing policy on a real 3-node cluster.

The nodes are in three regions (--region eu-west / us-east / ap-northeast,
all three placed by --region-coordinates) and read a small exact GeoIP
database (tests/data/make_mmdb.pl) that places 81.2.69.0/24 in London and
198.51.100.0/22 in New York.  A name holds one latency record set per
region.  Checked, every answer on every node the same bytes after the id
and the ECS option byte for byte:
  - with neither map data nor measurements: the region nearest the client's
    GeoIP coordinates, scope the database network;
  - with a map loaded through the API: the lowest RTT, longest prefix
    first, a nested prefix narrowing the scope, a resolver's /24 answered
    for its whole /24;
  - validation of map loads (fields named), deletes; export and import of
    latency sets;
  - measured RTTs: real DNS-over-TCP clients bound to their own loopback
    /24 ask one node; the kernel's RTTs (TCP_INFO) become that node's
    region's measured entry, proposed through the leader, and decide (the
    RTTs are loopback ones: this kernel has no sch_netem to add delay);
  - a record whose health check fails gives way; all down: fail open;
  - a restarted node keeps the map (log and snapshot) and answers alike;
  - quorumctl latency-map load/show/delete and record upsert --region.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_latency.py
"""

import json
import os
import socket
import subprocess
import time

import dns.message
import dns.query
import pytest

from conftest import free_port
from test_geo import (QUORUMCTL, SLACK, V4, ecs_bytes, same_everywhere, upsert,
                      wait_values, write_mmdb)

ZONE = "lat.test."
REGIONS = {1: "eu-west", 2: "us-east", 3: "ap-northeast"}
COORDS = "eu-west=51.5,-0.12;us-east=40.71,-74;ap-northeast=35.68,139.69"
VALUE = {"eu-west": "192.0.2.1", "us-east": "192.0.2.2", "ap-northeast": "192.0.2.3"}
NETWORKS = [
    {"network": "81.2.69.0/24", "country": "GB", "latitude": 51.5, "longitude": -0.12},
    {"network": "198.51.100.0/22", "country": "US", "latitude": 40.71,
     "longitude": -74.0},
]


def rs(label, region, **extra):
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": region,
            "records": [VALUE[region]], "region": region, **extra}


def change(cluster, node, changes):
    r = node.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)
    assert r.status == 200, r
    cluster.wait_change_insync(node, r.json["change"]["id"], timeout=10 * SLACK)


def load(node, entries, status=200):
    r = node.post("/v1/latency-map", {"entries": entries}, timeout=10)
    assert r.status == status, r
    return r


def wait_map(cluster, pred, timeout=15.0):
    """Every running node's map satisfies pred(entries)."""
    for node in cluster.running():
        end = time.monotonic() + timeout * SLACK
        while True:
            r = node.get("/v1/latency-map?limit=100000")
            assert r.status == 200, r
            if pred(r.json["entries"]):
                break
            assert time.monotonic() < end, (
                f"n{node.id}: {r.json}; "
                + "; ".join(f"n{n.id}: {n.get('/v1/latency-map').json['this_node']}"
                            for n in cluster.running()))
            time.sleep(0.2)
    return r.json


@pytest.fixture
def lat(cluster_factory, tmp_path):
    db = tmp_path / "lat.mmdb"
    write_mmdb(db, NETWORKS)
    c = cluster_factory()
    c.bootstrap_ids = [1, 2, 3]
    bs = c.bootstrap_str(c.bootstrap_ids)
    for i in c.bootstrap_ids:
        c.nodes[i].start(bootstrap=bs, extra=[
            "--geoip-db", str(db), "--region-coordinates", COORDS,
            "--region", REGIONS[i], "--latency-report-interval", "1",
            "--ecs-max-ipv4-prefix", "32"])
    c.wait_ready(c.bootstrap_ids)
    follower = c.followers()[0]
    r = follower.post("/v1/zones", {"name": ZONE})
    assert r.status == 201, r
    change(c, follower, [upsert(rs("www", reg)) for reg in VALUE])
    return c


LONDON = ("81.2.69.0", 24)
NEWYORK = ("198.51.101.0", 24)
LONDON_OPT = ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3])
NEWYORK_OPT = ecs_bytes(1, 24, 22, V4("198.51.101.0")[:3])


def test_without_data_the_nearest_region_by_coordinates(lat):
    same_everywhere(lat, f"www.{ZONE}", LONDON, [VALUE["eu-west"]], LONDON_OPT)
    same_everywhere(lat, f"www.{ZONE}", NEWYORK, [VALUE["us-east"]], NEWYORK_OPT)
    # No coordinates and no RTT: every region ties and the records decide;
    # the answer still depended on the database having nothing for the
    # client's network: 200.0.0.0/5 holds none of its networks (scope 5).
    same_everywhere(lat, f"www.{ZONE}", ("203.0.113.0", 24), [VALUE["eu-west"]],
                    ecs_bytes(1, 24, 5, V4("203.0.113.0")[:3]))
    r = lat.leader().get(f"/v1/zones/{ZONE}/rrsets/www.{ZONE}/A?set_identifier=us-east")
    assert r.status == 200, r
    assert r.json.get("rrset", r.json)["region"] == "us-east", r.json
    # Export writes the region in the set's line; import reads it back.
    leader = lat.leader()
    r = leader.req("GET", f"/v1/zones/{ZONE}/export")
    assert r.status == 200, r
    lines = [json.loads(l.split(" ", 1)[1]) for l in r.text.splitlines()
             if l.startswith(";quorumdns-rrset ")]
    assert rs("www", "us-east") in lines, lines
    text = r.text
    change(lat, leader, [{"action": "DELETE", "rrset": rs("www", "us-east")}])
    wait_values(lat, f"www.{ZONE}", NEWYORK, [VALUE["eu-west"]])
    r = leader.req("POST", f"/v1/zones/{ZONE}/import", raw=text, content_type="text/dns",
                   timeout=10)
    assert r.status == 200, r
    wait_values(lat, f"www.{ZONE}", NEWYORK, [VALUE["us-east"]])


def test_a_loaded_map_decides_by_lowest_rtt_longest_prefix_first(lat):
    follower = lat.followers()[0]
    load(follower, [
        {"prefix": "81.2.69.0/24", "region": "ap-northeast", "rtt_ms": 5},
        {"prefix": "81.2.69.0/24", "region": "eu-west", "rtt_ms": 50},
        {"prefix": "81.2.69.128/25", "region": "eu-west", "rtt_ms": 1.5},
        {"prefix": "198.51.100.0/22", "region": "eu-west", "rtt_ms": 80},
        {"prefix": "2001:db8::/32", "region": "us-east", "rtt_ms": 9}])
    wait_map(lat, lambda e: len(e) == 5)
    # London's /24: ap-northeast is 5 ms away; the /25 inside it is not
    # the resolver's to choose: the answer is for its whole /24.
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["ap-northeast"]])
    same_everywhere(lat, f"www.{ZONE}", LONDON, [VALUE["ap-northeast"]], LONDON_OPT)
    # A client in the lower half: the /24 decides, and holds for the /25.
    same_everywhere(lat, f"www.{ZONE}", ("81.2.69.5", 32), [VALUE["ap-northeast"]],
                    ecs_bytes(1, 32, 25, V4("81.2.69.5")))
    # In the /25: eu-west at 1.5 ms.
    same_everywhere(lat, f"www.{ZONE}", ("81.2.69.200", 32), [VALUE["eu-west"]],
                    ecs_bytes(1, 32, 25, V4("81.2.69.200")))
    # Every node's explain of it: the RTT of each set's region, eu-west's
    # 1.5 ms chosen, the /25's scope.
    r = follower.get(f"/v1/zones/{ZONE}/explain?name=www.{ZONE}&type=A"
                     "&client=81.2.69.200/32", timeout=10 * SLACK)
    assert r.status == 200 and r.json["consistent"] is True, r
    for n in r.json["nodes"]:
        d = n["explain"]["decisions"][0]
        assert d["policy"] == "latency", d
        assert d["depends_on_location"] is True and d["scope"] == 25, d
        cands = {c["set_identifier"]: c for c in d["candidates"]}
        assert cands["eu-west"]["chosen"] is True, d
        assert cands["eu-west"]["rtt_ms"] == 1.5, d
        assert cands["ap-northeast"]["rtt_ms"] == 5, d
        assert cands["us-east"]["rtt_ms"] is None, d
    # New York: only eu-west has an RTT (80 ms): a known RTT comes before
    # regions without one, however near.
    same_everywhere(lat, f"www.{ZONE}", NEWYORK, [VALUE["eu-west"]],
                    ecs_bytes(1, 24, 22, V4("198.51.101.0")[:3]))
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8:5::")
    same_everywhere(lat, f"www.{ZONE}", ("2001:db8:5::", 48), [VALUE["us-east"]],
                    ecs_bytes(2, 48, 32, v6[:6]))
    # Deleting the operator's values of a prefix: London by coordinates again.
    r = follower.post("/v1/latency-map/delete",
                      {"entries": [{"prefix": "81.2.69.0/24"},
                                   {"prefix": "81.2.69.128/25", "region": "eu-west"}]},
                      timeout=10)
    assert r.status == 200, r
    wait_map(lat, lambda e: len(e) == 2)
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["eu-west"]])
    # 81.2.69.0/24 is outside the map's 198.51.100.0/22: the map's range
    # (0.0.0.0/1) and the database network (/24) bound the scope: 24.
    same_everywhere(lat, f"www.{ZONE}", LONDON, [VALUE["eu-west"]], LONDON_OPT)


def test_map_loads_are_validated_with_their_fields(lat):
    leader = lat.leader()
    r = load(leader, [
        {"prefix": "81.2.69.1/24", "region": "eu-west", "rtt_ms": 5},
        {"prefix": "81.2.69.0/33", "region": "eu-west", "rtt_ms": 5},
        {"prefix": "10.0.0.0/8", "region": "mars-north-1", "rtt_ms": 5},
        {"prefix": "10.0.0.0/8", "region": "eu-west", "rtt_ms": 0},
        {"prefix": "10.0.0.0/8", "region": "eu-west", "rtt_ms": 60001},
        {"prefix": "10.0.0.0/8", "region": "eu-west", "rtt_ms": 3, "colour": "red"},
        "not an object"], status=400)
    fields = [e["field"] for e in r.json["error"]["errors"]]
    for f in ("entries[0].prefix", "entries[1].prefix", "entries[2].region",
              "entries[3].rtt_ms", "entries[4].rtt_ms", "entries[5]", "entries[6]"):
        assert f in fields, (f, fields)
    assert "81.2.69.0/24" in r.text  # the prefix it meant
    assert "mars-north-1" in r.text
    for body in ({}, {"entries": []}, {"entries": {}}, {"entries": [], "x": 1}):
        r = leader.post("/v1/latency-map", body, timeout=10)
        assert r.status == 400 and "entries" in r.text, (body, r)
    r = leader.req("POST", "/v1/latency-map", raw="{not json", timeout=10)
    assert r.status == 400, r
    assert leader.get("/v1/latency-map").json["count"] == 0
    # A record set's region must be known too.
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [upsert(
        dict(rs("www", "eu-west"), set_identifier="x", region="mars-north-1"))]},
        timeout=10)
    assert r.status == 400 and "region" in r.text, r


def tcp_ask(node, qname, source):
    q = dns.message.make_query(qname, "A")
    return dns.query.tcp(q, node.host, port=node.dns_port, source=source,
                         timeout=5 * SLACK)


def test_measured_rtts_are_proposed_and_used(lat):
    # Real TCP clients from 127.0.7.0/24 ask node 2 (us-east) only.
    n2 = lat.nodes[2]
    for k in range(12):
        tcp_ask(n2, f"www.{ZONE}", f"127.0.7.{1 + k % 3}")
    entries = wait_map(lat, lambda e: any(x["prefix"] == "127.0.7.0/24" for x in e))
    mine = [x for x in entries["entries"] if x["prefix"] == "127.0.7.0/24"]
    assert len(mine) == 1, mine
    m = mine[0]
    assert m["region"] == "us-east" and m["source"] == "measured", m
    assert m["measured_by"] == 2 and m["samples"] >= 1, m
    assert 0 < m["rtt_ms"] < 1000, m  # loopback: well under a second
    # Every node now sends 127.0.7.0/24 to us-east (the one region with an
    # RTT), scope the measured /24.
    opt = ecs_bytes(1, 24, 24, bytes([127, 0, 7]))
    wait_values(lat, f"www.{ZONE}", ("127.0.7.0", 24), [VALUE["us-east"]])
    same_everywhere(lat, f"www.{ZONE}", ("127.0.7.0", 24), [VALUE["us-east"]], opt)
    # Without ECS the source address decides: a UDP client of that /24.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.7.9", 0))
    s.settimeout(2 * SLACK)
    q = dns.message.make_query(f"www.{ZONE}", "A")
    s.sendto(q.to_wire(), (lat.nodes[1].host, lat.nodes[1].dns_port))
    msg = dns.message.from_wire(s.recv(4096))
    s.close()
    assert [r.to_text() for a in msg.answer for r in a] == [VALUE["us-east"]]
    # An operator's RTT for the same prefix and region wins over the
    # measured one; another region's lower RTT then decides.
    load(lat.leader(), [{"prefix": "127.0.7.0/24", "region": "ap-northeast",
                         "rtt_ms": 0.001}])
    wait_values(lat, f"www.{ZONE}", ("127.0.7.0", 24), [VALUE["ap-northeast"]])
    st = lat.nodes[2].get("/v1/latency-map").json["this_node"]
    assert st["region"] == "us-east" and st["connections_measured"] >= 12, st
    assert st["reports"] >= 1, st
    # A node reports only for itself over the side channel.
    r = lat.leader().post("/v1/latency-map/measured",
                          {"node": 99, "region": "us-east",
                           "entries": [{"prefix": "127.0.8.0/24", "rtt_us": 5,
                                        "samples": 1}]}, timeout=10)
    assert r.status in (200, 403), r  # an operator's token may speak for any


def test_unhealthy_region_gives_way_and_all_down_fail_open(lat):
    leader = lat.leader()
    closed = free_port()  # nothing listens: the TCP check fails
    r = leader.post("/v1/healthchecks", {"type": "TCP", "ip_address": "127.0.0.1",
                                         "port": closed, "request_interval": 1,
                                         "failure_threshold": 1}, timeout=10)
    assert r.status == 201, r
    hc = r.json["healthcheck"]["id"]
    load(leader, [{"prefix": "81.2.69.0/24", "region": "ap-northeast", "rtt_ms": 5},
                  {"prefix": "81.2.69.0/24", "region": "us-east", "rtt_ms": 70},
                  {"prefix": "81.2.69.0/24", "region": "eu-west", "rtt_ms": 90}])
    change(lat, leader, [upsert(rs("www", "ap-northeast", health_check_id=hc)),
                         upsert(rs("pair", "ap-northeast", health_check_id=hc)),
                         upsert(rs("pair", "us-east", health_check_id=hc))])
    # ap-northeast down: the next lowest RTT (us-east), not the nearest.
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["us-east"]])
    same_everywhere(lat, f"www.{ZONE}", LONDON, [VALUE["us-east"]], LONDON_OPT)
    # Both of a pair down: the lowest RTT all the same.
    wait_values(lat, f"pair.{ZONE}", LONDON, [VALUE["ap-northeast"]])
    same_everywhere(lat, f"pair.{ZONE}", LONDON, [VALUE["ap-northeast"]], LONDON_OPT)


def test_a_restarted_node_keeps_the_map(lat):
    leader = lat.leader()
    entries = [{"prefix": f"10.{i}.0.0/16", "region": "ap-northeast", "rtt_ms": 1 + i}
               for i in range(200)]
    entries.append({"prefix": "81.2.69.0/24", "region": "us-east", "rtt_ms": 2})
    load(leader, entries)
    wait_map(lat, lambda e: len(e) == 201)
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["us-east"]])
    victim = lat.followers()[0]
    victim.stop()
    lat.restart(victim.id, extra=[
        "--geoip-db", str(victim.cluster.root.parent / "lat.mmdb"),
        "--region-coordinates", COORDS, "--region", REGIONS[victim.id],
        "--latency-report-interval", "1", "--ecs-max-ipv4-prefix", "32"])
    lat.wait_ready(lat.bootstrap_ids)
    wait_map(lat, lambda e: len(e) == 201)
    before = lat.leader().get("/v1/latency-map?limit=100000").json["entries"]
    after = victim.get("/v1/latency-map?limit=100000").json["entries"]
    assert [(e["prefix"], e["region"], e["rtt_ms"]) for e in before if
            e["source"] == "operator"] == \
        [(e["prefix"], e["region"], e["rtt_ms"]) for e in after if e["source"] == "operator"]
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["us-east"]])
    same_everywhere(lat, f"www.{ZONE}", LONDON, [VALUE["us-east"]], LONDON_OPT)
    same_everywhere(lat, f"www.{ZONE}", ("10.7.1.0", 24), [VALUE["ap-northeast"]],
                    ecs_bytes(1, 24, 16, bytes([10, 7, 1])))


def test_quorumctl_latency_map_and_region(lat, tmp_path):
    from cluster_util import ADMIN_TOKEN

    def ctl(*args, check=0, stdin=None):
        cmd = [QUORUMCTL, "--token", ADMIN_TOKEN]
        for n in lat.running():
            cmd += ["--server", n.api]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                           input=stdin, env={**os.environ, "QUORUMDNS_RETRY_MS": "3000"})
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    for sub in ("load", "show", "delete"):
        assert "latency" in ctl("latency-map", sub, "--help").stdout.lower()
    f = tmp_path / "map.txt"
    f.write_text("# prefix region rtt_ms\n81.2.69.0/24 ap-northeast 4.5\n"
                 "2001:db8::/32  us-east 10   # a comment\n\n")
    assert "loaded 2 of 2" in ctl("latency-map", "load", str(f)).stdout
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["ap-northeast"]])
    shown = ctl("latency-map", "show").stdout
    assert "81.2.69.0/24" in shown and "4.500" in shown and "operator" in shown, shown
    js = json.loads(ctl("--json", "latency-map", "show", "--region", "us-east").stdout)
    assert [e["prefix"] for e in js["entries"]] == ["2001:db8::/32"], js
    bad = tmp_path / "bad.txt"
    bad.write_text("81.2.69.0/24 ap-northeast\n")
    p = ctl("latency-map", "load", str(bad), check=1)  # a syntax error in an input file
    assert "bad.txt:1" in p.stderr, p.stderr
    p = ctl("latency-map", "load", str(tmp_path / "missing.txt"), check=2)  # unreadable
    p = ctl("latency-map", "load", "-", check=1, stdin="81.2.69.7/24 eu-west 3\n")
    assert "entries[0].prefix" in p.stderr + p.stdout
    ctl("latency-map", "delete", "81.2.69.0/24", "--region", "ap-northeast")
    wait_values(lat, f"www.{ZONE}", LONDON, [VALUE["eu-west"]])
    zone = ZONE.rstrip(".")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "us", "--region", "us-east",
        "192.0.2.50")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "eu", "--region", "eu-west",
        "192.0.2.51")
    wait_values(lat, f"cli.{ZONE}", NEWYORK, ["192.0.2.50"])
    assert "latency us-east" in ctl("record", "list", zone).stdout
    p = ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--region", "nowhere",
            "192.0.2.53", check=1)
    assert "region" in p.stderr + p.stdout
