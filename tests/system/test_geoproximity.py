"""System tests of the geoproximity routing policy on a real 3-node cluster.

Each node runs with --geoip-db pointing at a small exact database written
with tests/data/make_mmdb.pl (MaxMind's GeoIP2 schema, with location
coordinates for most networks).  Record sets with geoproximity_location
{coordinates, bias} are written through the API on a follower (relayed,
through raft); every node is then asked over UDP with ECS options from
addresses the database places in London, Paris, New York and Munich (and
one network it has no coordinates for), and each response is compared with
the other nodes' byte for byte (after the message id) and its ECS option
with the expected one (scope: the database network's length).  Also: a
positive and a negative bias moving the Paris boundary, a record set whose
TCP health check fails giving way to the next nearest, every set down
answering the nearest (fail open), validation errors naming their fields,
export lines that import reads back, quorumctl's --geoprox-* options, and
sets naming a region of the nodes' --region-coordinates (its coordinates
taken when the set is written; an unknown region refused with its field).

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_geoproximity.py
"""

import json
import os
import socket
import subprocess

import pytest

from conftest import free_port
from test_geo import (QUORUMCTL, SLACK, V4, ecs_bytes, same_everywhere, upsert,
                      wait_values, write_mmdb)

ZONE = "prox.test."

NETWORKS = [
    {"network": "81.2.69.0/24", "country": "GB", "latitude": 51.5, "longitude": -0.12},
    {"network": "192.0.2.0/24", "country": "FR", "latitude": 48.86, "longitude": 2.35},
    {"network": "198.51.100.0/22", "country": "US", "latitude": 40.71,
     "longitude": -74.0},
    {"network": "203.0.113.0/24", "country": "JP"},  # no coordinates
    {"network": "2001:db8:1::/48", "country": "DE", "latitude": 48.14,
     "longitude": 11.58},
]

LONDON = ("51.5", "-0.12")
FRANKFURT = ("50.11", "8.68")
NEWYORK = ("40.71", "-74")


def rs(label, sid, value, place, bias=None, **extra):
    loc = {"coordinates": {"latitude": place[0], "longitude": place[1]}}
    if bias is not None:
        loc["bias"] = bias
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": sid,
            "records": [value], "geoproximity_location": loc, **extra}


@pytest.fixture
def prox(cluster_factory, tmp_path):
    db = tmp_path / "prox.mmdb"
    write_mmdb(db, NETWORKS)
    c = cluster_factory().start(3, extra=["--geoip-db", str(db), "--region-coordinates",
                                          "eu-central=50.11,8.68;us-east=40.71,-74"])
    follower = c.followers()[0]
    r = follower.post("/v1/zones", {"name": ZONE})
    assert r.status == 201, r
    change(c, follower, [upsert(rs("near", "london", "192.0.2.11", LONDON)),
                         upsert(rs("near", "frankfurt", "192.0.2.12", FRANKFURT)),
                         upsert(rs("near", "newyork", "192.0.2.13", NEWYORK))])
    return c


def change(cluster, node, changes):
    r = node.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)
    assert r.status == 200, r
    cluster.wait_change_insync(node, r.json["change"]["id"], timeout=10 * SLACK)


V6 = socket.inet_pton(socket.AF_INET6, "2001:db8:1:2::")
CASES = [
    # client (address, source) -> the nearest set, and the echoed option
    (("81.2.69.160", 32), "192.0.2.11", ecs_bytes(1, 32, 24, V4("81.2.69.160"))),
    # Paris: London 344 km, Frankfurt 479 km.
    (("192.0.2.77", 24), "192.0.2.11", ecs_bytes(1, 24, 24, V4("192.0.2.0")[:3])),
    (("198.51.101.0", 24), "192.0.2.13", ecs_bytes(1, 24, 22, V4("198.51.101.0")[:3])),
    # Munich: Frankfurt 304 km, London 918 km.
    (("2001:db8:1:2::", 56), "192.0.2.12", ecs_bytes(2, 56, 48, V6[:7])),
    # No coordinates: the first set by its records, the network's scope.
    (("203.0.113.5", 24), "192.0.2.11", ecs_bytes(1, 24, 24, V4("203.0.113.0")[:3])),
    # No address: the same set, scope 0.
    (("0.0.0.0", 0), "192.0.2.11", ecs_bytes(1, 0, 0, b"")),
]


def test_every_node_answers_the_nearest_set_with_the_deciding_scope(prox):
    for ecs, value, option in CASES:
        same_everywhere(prox, f"near.{ZONE}", ecs, [value], option)


def test_bias_moves_the_boundary(prox):
    paris = ("192.0.2.77", 24)
    paris_opt = ecs_bytes(1, 24, 24, V4("192.0.2.0")[:3])
    leader = prox.leader()
    # Frankfurt +40: 479 km x 0.6 = 287 km < 344 km.
    change(prox, leader, [upsert(rs("near", "frankfurt", "192.0.2.12", FRANKFURT, 40))])
    same_everywhere(prox, f"near.{ZONE}", paris, ["192.0.2.12"], paris_opt)
    same_everywhere(prox, f"near.{ZONE}", ("81.2.69.1", 24), ["192.0.2.11"],
                    ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3]))
    # Back to 0, London -50: 344 km / 0.5 = 688 km > 479 km.
    change(prox, leader, [upsert(rs("near", "frankfurt", "192.0.2.12", FRANKFURT, 0)),
                          upsert(rs("near", "london", "192.0.2.11", LONDON, -50))])
    same_everywhere(prox, f"near.{ZONE}", paris, ["192.0.2.12"], paris_opt)
    change(prox, leader, [upsert(rs("near", "london", "192.0.2.11", LONDON))])
    same_everywhere(prox, f"near.{ZONE}", paris, ["192.0.2.11"], paris_opt)


def test_unhealthy_set_gives_way_and_all_down_fail_open(prox):
    leader = prox.leader()
    closed = free_port()  # nothing listens: the TCP check fails
    r = leader.post("/v1/healthchecks", {"type": "TCP", "ip_address": "127.0.0.1",
                                         "port": closed, "request_interval": 1,
                                         "failure_threshold": 1}, timeout=10)
    assert r.status == 201, r
    hc = r.json["healthcheck"]["id"]
    change(prox, leader, [
        upsert(rs("near", "london", "192.0.2.11", LONDON, health_check_id=hc)),
        upsert(rs("pair", "london", "192.0.2.21", LONDON, health_check_id=hc)),
        upsert(rs("pair", "newyork", "192.0.2.23", NEWYORK, health_check_id=hc))])
    london = ("81.2.69.1", 24)
    # London down: Frankfurt (640 km) before New York (5,570 km).
    wait_values(prox, f"near.{ZONE}", london, ["192.0.2.12"])
    same_everywhere(prox, f"near.{ZONE}", london, ["192.0.2.12"],
                    ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3]))
    # Both sets down: the nearest answers all the same.
    same_everywhere(prox, f"pair.{ZONE}", london, ["192.0.2.21"],
                    ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3]))
    same_everywhere(prox, f"pair.{ZONE}", ("198.51.100.9", 24), ["192.0.2.23"],
                    ecs_bytes(1, 24, 22, V4("198.51.100.0")[:3]))


def test_validation_names_the_fields(prox):
    leader = prox.leader()
    bad = [upsert(rs("v", "a", "192.0.2.1", ("91", "0"))),
           upsert(rs("v", "b", "192.0.2.1", ("0", "east"))),
           upsert(rs("v", "c", "192.0.2.1", LONDON, 100)),
           upsert(dict(rs("v", "d", "192.0.2.1", LONDON),
                       geoproximity_location={"aws_region": "eu-west-2"})),
           upsert(dict(rs("v", "e", "192.0.2.1", LONDON), weight=1))]
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": bad}, timeout=10)
    assert r.status == 400, r
    errors = {(e.get("index"), e["field"]) for e in r.json["error"]["errors"]}
    fields = {f for _, f in errors}
    for f in ("geoproximity_location.coordinates.latitude",
              "geoproximity_location.coordinates.longitude",
              "geoproximity_location.bias", "geoproximity_location"):
        assert any(x.endswith(f) for x in fields), (f, errors)
    assert {0, 1, 2, 3} <= {i for i, _ in errors}, errors
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [bad[4]]}, timeout=10)
    assert r.status == 400 and "one routing policy" in r.text, r.text
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [
        upsert({"name": f"near.{ZONE}", "type": "A", "ttl": 60, "set_identifier": "w",
                "records": ["192.0.2.1"], "weight": 1})]}, timeout=10)
    assert r.status == 400 and "geoproximity" in r.text, r.text


def test_export_lines_carry_the_location_and_import_reads_them(prox):
    leader = prox.leader()
    r = leader.req("GET", f"/v1/zones/{ZONE}/export")
    assert r.status == 200, r
    lines = [json.loads(l.split(" ", 1)[1]) for l in r.text.splitlines()
             if l.startswith(";quorumdns-rrset ")]
    assert {"name": f"near.{ZONE}", "type": "A", "set_identifier": "frankfurt", "ttl": 60,
            "records": ["192.0.2.12"],
            "geoproximity_location": {"coordinates": {"latitude": "50.11",
                                                      "longitude": "8.68"},
                                      "bias": 0}} in lines, lines
    text = r.text
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [
        {"action": "DELETE", "rrset": rs("near", "frankfurt", "192.0.2.12", FRANKFURT)}]},
        timeout=10)
    assert r.status == 200, r
    wait_values(prox, f"near.{ZONE}", ("2001:db8:1:2::", 56), ["192.0.2.11"])
    r = leader.req("POST", f"/v1/zones/{ZONE}/import", raw=text, content_type="text/dns",
                   timeout=10)
    assert r.status == 200, r
    wait_values(prox, f"near.{ZONE}", ("2001:db8:1:2::", 56), ["192.0.2.12"])


def test_quorumctl_geoprox_options(prox):
    from cluster_util import ADMIN_TOKEN

    def ctl(*args, check=0):
        cmd = [QUORUMCTL, "--token", ADMIN_TOKEN]
        for n in prox.running():
            cmd += ["--server", n.api]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                           env={**os.environ, "QUORUMDNS_RETRY_MS": "3000"})
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    zone = ZONE.rstrip(".")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "paris",
        "--geoprox-coordinates", "48.86,2.35", "192.0.2.50")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "ny",
        "--geoprox-coordinates", "40.71,-74", "--geoprox-bias", "-20", "192.0.2.51")
    wait_values(prox, f"cli.{ZONE}", ("81.2.69.1", 24), ["192.0.2.50"])
    wait_values(prox, f"cli.{ZONE}", ("198.51.100.1", 24), ["192.0.2.51"])
    shown = json.loads(ctl("--json", "record", "show", zone, "cli", "A", "--set-id",
                           "ny").stdout)
    assert shown["geoproximity_location"] == {
        "coordinates": {"latitude": "40.71", "longitude": "-74"}, "bias": -20}, shown
    listed = ctl("record", "list", zone).stdout
    assert "geoprox 40.71,-74 bias -20" in listed, listed
    p = ctl("record", "upsert", zone, "cli", "A", "--set-id", "x",
            "--geoprox-coordinates", "95,0", "192.0.2.53", check=1)
    assert "latitude" in p.stderr + p.stdout
    p = ctl("record", "upsert", zone, "cli", "A", "--set-id", "x",
            "--geoprox-coordinates", "1,2", "--geoprox-bias", "100", "192.0.2.53",
            check=2)  # refused before any request: a usage error
    assert "bias" in p.stderr + p.stdout
    # A delete names the set's location itself.
    ctl("record", "delete", zone, "cli", "A", "--set-id", "paris", "192.0.2.50")
    wait_values(prox, f"cli.{ZONE}", ("81.2.69.1", 24), ["192.0.2.51"])
    # A region of the nodes' list: Frankfurt draws London from New York.
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "fra", "--geoprox-region",
        "eu-central", "192.0.2.52")
    wait_values(prox, f"cli.{ZONE}", ("81.2.69.1", 24), ["192.0.2.52"])
    assert "geoprox region eu-central bias 0" in ctl("record", "list", zone).stdout
    p = ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--geoprox-region",
            "nowhere", "192.0.2.53", check=1)
    assert "region" in p.stderr + p.stdout


def test_a_region_of_the_nodes_settings_places_a_set(prox):
    leader = prox.followers()[0]
    region = {"name": f"reg.{ZONE}", "type": "A", "ttl": 60, "set_identifier": "fra",
              "records": ["192.0.2.62"], "geoproximity_location": {"region": "eu-central",
                                                                   "bias": 0}}
    change(prox, leader, [upsert(rs("reg", "london", "192.0.2.61", LONDON)),
                          upsert(region)])
    # Munich: eu-central (Frankfurt) is nearest; London to London.
    same_everywhere(prox, f"reg.{ZONE}", ("2001:db8:1:2::", 56), ["192.0.2.62"],
                    ecs_bytes(2, 56, 48, V6[:7]))
    same_everywhere(prox, f"reg.{ZONE}", ("81.2.69.1", 24), ["192.0.2.61"],
                    ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3]))
    r = leader.get(f"/v1/zones/{ZONE}/rrsets/reg.{ZONE}/A?set_identifier=fra")
    assert r.status == 200, r
    shown = r.json.get("rrset", r.json)
    assert shown["geoproximity_location"] == {"region": "eu-central", "bias": 0}, r.json
    bad = dict(region, set_identifier="x",
               geoproximity_location={"region": "mars-north-1"})
    both = dict(region, set_identifier="y",
                geoproximity_location={"region": "eu-central",
                                       "coordinates": {"latitude": 1, "longitude": 2}})
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [upsert(bad), upsert(both)]},
                    timeout=10)
    assert r.status == 400, r
    errors = {(e.get("index"), e["field"]) for e in r.json["error"]["errors"]}
    assert {i for i, f in errors if f.endswith("geoproximity_location.region")} == {0, 1}, \
        errors
    assert "mars-north-1" in r.text, r.text
