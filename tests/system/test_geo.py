"""System tests of location-aware answers: EDNS Client Subnet and the
geolocation routing policy on a real 3-node cluster.

Each node runs with --geoip-db pointing at a small exact database that the
test writes with tests/data/make_mmdb.pl (Debian's libmaxmind-db-writer-
perl), in MaxMind's GeoIP2 schema.  Record sets with geo_location are
written through the API on a follower (relayed, through raft); every node
is then asked over UDP with ECS options from addresses in different
countries and subdivisions, and the ECS option of each answer is compared
byte for byte (family, source prefix and address as sent, scope the length
of the database network that decided).  Also: the "*" default and the
NODATA when nothing holds the client, a cut /32 source prefix, IPv6,
source prefix 0, no ECS, a plain name (scope 0), malformed ECS (FORMERR),
validation errors naming their fields, export lines that import reads back,
quorumctl's --geo-* options, the database's metadata in /v1/health, and a
SIGHUP reload to a changed database while queries keep being answered.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_geo.py
"""

import json
import os
import socket
import subprocess
import threading
import time

import dns.edns
import dns.message
import dns.rcode
import pytest

from cluster_util import REPO, Cluster

ZONE = "geo.test."
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))
MAKE_MMDB = REPO / "tests" / "data" / "make_mmdb.pl"
QUORUMCTL = os.environ.get("QUORUMCTL_BIN",
                           str(REPO / "build" / "tools" / "quorumctl" / "quorumctl"))

NETWORKS = [
    {"network": "81.2.69.0/24", "continent": "EU", "country": "GB", "subdivision": "ENG"},
    {"network": "81.2.70.0/24", "continent": "EU", "country": "GB", "subdivision": "SCT"},
    {"network": "192.0.2.0/24", "continent": "EU", "country": "FR"},
    {"network": "198.51.100.0/22", "continent": "NA", "country": "US", "subdivision": "CA"},
    {"network": "203.0.113.0/24", "continent": "AS", "country": "JP"},
    {"network": "2001:db8:1::/48", "continent": "EU", "country": "DE", "subdivision": "BY"},
]


def write_mmdb(path, networks, schema="geoip2", db_type="QDNS-Test-City"):
    spec = {"schema": schema, "type": db_type, "networks": networks}
    tmp = f"{path}.tmp"
    subprocess.run(["perl", str(MAKE_MMDB), tmp], input=json.dumps(spec).encode(),
                   check=True, timeout=60)
    os.rename(tmp, path)  # a reader never sees half a file


@pytest.fixture(scope="module")
def geo(tmp_path_factory):
    root = tmp_path_factory.mktemp("geo")
    db = root / "test.mmdb"
    write_mmdb(db, NETWORKS)
    c = Cluster(root / "cluster").start(3, extra=["--geoip-db", str(db)])
    try:
        follower = c.followers()[0]
        r = follower.post("/v1/zones", {"name": ZONE})
        assert r.status == 201, r
        changes = [upsert(rs("www", "eng", "192.0.2.1", country_code="GB",
                             subdivision_code="ENG")),
                   upsert(rs("www", "gb", "192.0.2.2", country_code="GB")),
                   upsert(rs("www", "eu", "192.0.2.3", continent_code="EU")),
                   upsert(rs("www", "us", "192.0.2.4", country_code="US")),
                   upsert(rs("www", "any", "192.0.2.9", country_code="*")),
                   upsert(rs("nodef", "gb", "192.0.2.20", country_code="GB")),
                   upsert({"name": f"plain.{ZONE}", "type": "A", "ttl": 60,
                           "records": ["192.0.2.99"]})]
        r = follower.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)
        assert r.status == 200, r
        c.wait_change_insync(follower, r.json["change"]["id"], timeout=10 * SLACK)
        yield c, db
    finally:
        c.close()


def rs(label, sid, value, **geo):
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": sid,
            "records": [value], "geo_location": geo}


def upsert(rrset):
    return {"action": "UPSERT", "rrset": rrset}


def ask(node, qname, ecs=None, raw_opt=None, timeout=2.0):
    """Sends one UDP query (ECS option (address, source prefix) or raw option
    bytes) and returns (raw response, parsed response)."""
    q = dns.message.make_query(qname, "A", use_edns=0)
    if ecs is not None:
        q.use_edns(0, options=[dns.edns.ECSOption(ecs[0], ecs[1])])
    wire = q.to_wire()
    if raw_opt is not None:
        # Replace the (empty) OPT RDATA with raw_opt: OPT is the last 11 bytes.
        assert wire[-2:] == b"\x00\x00"
        wire = wire[:-2] + len(raw_opt).to_bytes(2, "big") + raw_opt
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout * SLACK)
        port = node.dns_port if hasattr(node, "dns_port") else node.port
        s.sendto(wire, (node.host, port))
        data = s.recv(65535)
    finally:
        s.close()
    return data, dns.message.from_wire(data)


def ecs_bytes(family, source, scope, address):
    return (b"\x00\x08" + (4 + len(address)).to_bytes(2, "big") + family.to_bytes(2, "big")
            + bytes([source, scope]) + address)


def expect(data, msg, values, option):
    """The answer's A values, and the response ending with the OPT that holds
    exactly `option` (None: an OPT without options)."""
    got = sorted(r.to_text() for s in msg.answer for r in s)
    assert got == sorted(values), got
    assert msg.rcode() == dns.rcode.NOERROR
    body = option or b""
    assert data.endswith(len(body).to_bytes(2, "big") + body), data.hex()


V4 = socket.inet_aton


CASES = [
    # (client address, source prefix) -> (values, echoed option)
    (("81.2.69.160", 32), ["192.0.2.1"], ecs_bytes(1, 32, 24, V4("81.2.69.160"))),
    (("81.2.69.0", 24), ["192.0.2.1"], ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3])),
    (("81.2.70.5", 24), ["192.0.2.2"], ecs_bytes(1, 24, 24, V4("81.2.70.5")[:3])),
    (("192.0.2.77", 24), ["192.0.2.3"], ecs_bytes(1, 24, 24, V4("192.0.2.0")[:3])),
    (("198.51.101.0", 24), ["192.0.2.4"], ecs_bytes(1, 24, 22, V4("198.51.101.0")[:3])),
    (("203.0.113.5", 24), ["192.0.2.9"], ecs_bytes(1, 24, 24, V4("203.0.113.0")[:3])),
    (("2001:db8:1:2::", 56), ["192.0.2.3"],
     ecs_bytes(2, 56, 48, socket.inet_pton(socket.AF_INET6, "2001:db8:1:2::")[:7])),
    (("0.0.0.0", 0), ["192.0.2.9"], ecs_bytes(1, 0, 0, b"")),
]


@pytest.mark.parametrize("ecs,values,option", CASES,
                         ids=[f"{c[0][0]}/{c[0][1]}" for c in CASES])
def test_every_node_answers_by_client_subnet_with_the_deciding_scope(geo, ecs, values,
                                                                    option):
    cluster, _ = geo
    for node in cluster.running():
        data, msg = ask(node, f"www.{ZONE}", ecs=ecs)
        expect(data, msg, values, option)


def test_nothing_holds_the_client_gives_nodata_with_scope(geo):
    cluster, _ = geo
    for node in cluster.running():
        data, msg = ask(node, f"nodef.{ZONE}", ecs=("203.0.113.5", 24))
        expect(data, msg, [], ecs_bytes(1, 24, 24, V4("203.0.113.0")[:3]))
        assert msg.authority and msg.authority[0].rdtype == dns.rdatatype.SOA
        data, msg = ask(node, f"nodef.{ZONE}", ecs=("81.2.70.9", 24))
        expect(data, msg, ["192.0.2.20"], ecs_bytes(1, 24, 24, V4("81.2.70.0")[:3]))


def test_without_ecs_the_source_address_decides_and_nothing_is_echoed(geo):
    cluster, _ = geo
    # 127.0.0.1 is in no network of the database: the default answers.
    for node in cluster.running():
        data, msg = ask(node, f"www.{ZONE}")
        expect(data, msg, ["192.0.2.9"], None)


def test_a_plain_name_echoes_scope_zero(geo):
    cluster, _ = geo
    node = cluster.running()[0]
    data, msg = ask(node, f"plain.{ZONE}", ecs=("81.2.69.160", 24))
    expect(data, msg, ["192.0.2.99"], ecs_bytes(1, 24, 0, V4("81.2.69.0")[:3]))


@pytest.mark.parametrize("opt", [
    ecs_bytes(3, 24, 0, b"\x01\x02\x03"),          # unknown family
    ecs_bytes(1, 24, 0, b"\x01\x02\x03\x04"),      # too many address bytes
    ecs_bytes(1, 23, 0, b"\x01\x02\x03"),          # a bit past the prefix
    ecs_bytes(1, 24, 8, b"\x01\x02\x03"),          # scope in a query
    ecs_bytes(1, 33, 0, b"\x01\x02\x03\x04\x05"),  # prefix over 32
], ids=["family", "length", "bits", "scope", "prefix"])
def test_malformed_ecs_is_formerr(geo, opt):
    cluster, _ = geo
    data, msg = ask(cluster.running()[0], f"www.{ZONE}", raw_opt=opt)
    assert msg.rcode() == dns.rcode.FORMERR


def test_validation_names_the_fields(geo):
    cluster, _ = geo
    leader = cluster.leader()
    bad = [upsert(rs("v", "a", "192.0.2.1", country_code="XX")),
           upsert(rs("v", "b", "192.0.2.1", continent_code="ZZ")),
           upsert(rs("v", "c", "192.0.2.1", country_code="GB", subdivision_code="XYZ")),
           upsert(rs("v", "d", "192.0.2.1", country_code="GB", continent_code="EU")),
           upsert(rs("v", "e", "192.0.2.1", subdivision_code="CA"))]
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": bad}, timeout=10)
    assert r.status == 400, r
    errors = {(e.get("index"), e["field"]) for e in r.json["error"]["errors"]}
    fields = {f for _, f in errors}
    assert any(f.endswith("geo_location.country_code") for f in fields), errors
    assert any(f.endswith("geo_location.continent_code") for f in fields), errors
    assert any(f.endswith("geo_location.subdivision_code") for f in fields), errors
    indexes = {i for i, _ in errors}
    assert {0, 1, 2, 3, 4} <= indexes, errors
    # Well formed, but two policies in one set, and two in one group.
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [
        upsert(dict(rs("v", "f", "192.0.2.1", country_code="US"), weight=1))]}, timeout=10)
    assert r.status == 400, r
    assert "one routing policy" in r.text, r.text
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [
        upsert({"name": f"www.{ZONE}", "type": "A", "ttl": 60, "set_identifier": "w",
                "records": ["192.0.2.1"], "weight": 1})]}, timeout=10)
    assert r.status == 400, r
    assert "mixes" in r.text and "geolocation" in r.text, r.text


def test_export_lines_carry_geo_location_and_import_reads_them(geo):
    cluster, _ = geo
    leader = cluster.leader()
    r = leader.req("GET", f"/v1/zones/{ZONE}/export")
    assert r.status == 200, r
    lines = [json.loads(l.split(" ", 1)[1]) for l in r.text.splitlines()
             if l.startswith(";quorumdns-rrset ")]
    assert {"name": f"www.{ZONE}", "type": "A", "set_identifier": "eng", "ttl": 60,
            "records": ["192.0.2.1"],
            "geo_location": {"country_code": "GB", "subdivision_code": "ENG"}} in lines
    assert any(l.get("geo_location") == {"country_code": "*"} for l in lines), lines
    # Delete one, import the export: it is back and answers again.
    text = r.text
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [
        {"action": "DELETE", "rrset": rs("www", "eng", "192.0.2.1", country_code="GB",
                                         subdivision_code="ENG")}]}, timeout=10)
    assert r.status == 200, r
    wait_values(cluster, f"www.{ZONE}", ("81.2.69.160", 32), ["192.0.2.2"], 5.0)
    r = leader.req("POST", f"/v1/zones/{ZONE}/import", raw=text, content_type="text/dns",
                   timeout=10)
    assert r.status == 200, r
    wait_values(cluster, f"www.{ZONE}", ("81.2.69.160", 32), ["192.0.2.1"], 5.0)


def same_everywhere(cluster, qname, ecs, values, option):
    """Every node answers values with option, the same bytes after the id."""
    seen = None
    for node in cluster.running():
        data, msg = ask(node, qname, ecs=ecs)
        expect(data, msg, values, option)
        if seen is None:
            seen = data[2:]
        assert data[2:] == seen, f"n{node.id} differs: {data.hex()} vs {seen.hex()}"


def wait_values(cluster, qname, ecs, values, timeout=15.0):
    """Waits until every node answers qname (for the ECS client) with values."""
    for node in cluster.running():
        end = time.monotonic() + timeout * SLACK
        while True:
            _, msg = ask(node, qname, ecs=ecs)
            got = sorted(r.to_text() for s in msg.answer for r in s)
            if got == sorted(values):
                break
            assert time.monotonic() < end, f"n{node.id}: {qname} {ecs} -> {got}"
            time.sleep(0.05)


def test_quorumctl_geo_options(geo):
    cluster, _ = geo
    from cluster_util import ADMIN_TOKEN

    def ctl(*args, check=0):
        cmd = [QUORUMCTL, "--token", ADMIN_TOKEN]
        for n in cluster.running():
            cmd += ["--server", n.api]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                           env={**os.environ, "QUORUMDNS_RETRY_MS": "3000"})
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    zone = ZONE.rstrip(".")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "jp", "--geo-country", "jp",
        "192.0.2.50")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "na", "--geo-continent", "NA",
        "192.0.2.51")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "eng", "--geo-country", "GB",
        "--geo-subdivision", "ENG", "192.0.2.52")
    wait_values(cluster, f"cli.{ZONE}", ("203.0.113.1", 24), ["192.0.2.50"])
    wait_values(cluster, f"cli.{ZONE}", ("198.51.100.1", 24), ["192.0.2.51"])
    wait_values(cluster, f"cli.{ZONE}", ("81.2.69.1", 24), ["192.0.2.52"])
    shown = json.loads(ctl("--json", "record", "show", zone, "cli", "A", "--set-id",
                           "eng").stdout)
    assert shown["geo_location"] == {"country_code": "GB", "subdivision_code": "ENG"}
    listed = ctl("record", "list", zone).stdout
    assert "geo GB-ENG" in listed, listed
    p = ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--geo-country", "XX",
            "192.0.2.53", check=1)
    assert "country_code" in p.stderr + p.stdout
    # A delete names the set's geo_location itself.
    ctl("record", "delete", zone, "cli", "A", "--set-id", "jp", "192.0.2.50")
    wait_values(cluster, f"cli.{ZONE}", ("203.0.113.1", 24), [])


def test_health_shows_the_database(geo):
    cluster, db = geo
    for node in cluster.running():
        h = node.health()
        g = h["geoip"]
        assert g["path"] == str(db)
        assert g["loaded"] is True
        assert g["database_type"] == "QDNS-Test-City"
        assert g["ip_version"] == 6
        assert abs(g["build_epoch"] - time.time()) < 3600
        assert g["size"] == db.stat().st_size


def test_sighup_reloads_a_changed_database_without_dropping_queries(geo):
    cluster, db = geo
    node = cluster.running()[0]
    # 192.0.2.0/24 moves from France to the United States.
    moved = [dict(n) for n in NETWORKS]
    moved[2] = {"network": "192.0.2.0/24", "continent": "NA", "country": "US"}
    write_mmdb(db, moved, db_type="QDNS-Test-City-2")
    stop = threading.Event()
    failures = []
    answered = [0]

    def hammer():
        while not stop.is_set():
            try:
                _, msg = ask(node, f"www.{ZONE}", ecs=("81.2.69.1", 24), timeout=1.0)
                vals = [r.to_text() for s in msg.answer for r in s]
                if vals != ["192.0.2.1"]:
                    failures.append(vals)
                answered[0] += 1
            except (socket.timeout, OSError) as e:
                failures.append(repr(e))
    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(0.2)
        before = node.health()["geoip"]["reloads"]
        node.proc.send_signal(1)  # SIGHUP
        end = time.monotonic() + 5 * SLACK
        while node.health()["geoip"]["reloads"] == before:
            assert time.monotonic() < end, node.log()
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert not failures, failures[:5]
    assert answered[0] > 10
    assert node.health()["geoip"]["database_type"] == "QDNS-Test-City-2"
    data, msg = ask(node, f"www.{ZONE}", ecs=("192.0.2.77", 24))
    expect(data, msg, ["192.0.2.4"], ecs_bytes(1, 24, 24, V4("192.0.2.0")[:3]))
    # A file rewritten in place with something that is not a database: the
    # node keeps answering from its private copy of the loaded one.
    db.write_bytes(b"not a database")
    node.proc.send_signal(1)
    end = time.monotonic() + 5 * SLACK
    while "error" not in node.health()["geoip"]:
        assert time.monotonic() < end, node.log()
        time.sleep(0.05)
    data, msg = ask(node, f"www.{ZONE}", ecs=("192.0.2.77", 24))
    expect(data, msg, ["192.0.2.4"], ecs_bytes(1, 24, 24, V4("192.0.2.0")[:3]))
    write_mmdb(db, NETWORKS)  # as the module's other tests expect it
    node.proc.send_signal(1)
    wait_values(cluster, f"www.{ZONE}", ("192.0.2.77", 24), ["192.0.2.3"], 5.0)


def test_api_reload_on_one_node(geo):
    from cluster_util import READ_TOKEN
    cluster, db = geo
    node = cluster.running()[1]
    before = node.health()["geoip"]["reloads"]
    r = node.post("/v1/geoip/reload")
    assert r.status == 200, r
    assert r.json["geoip"]["reloads"] == before + 1
    assert r.json["geoip"]["database_type"] == "QDNS-Test-City"
    r = node.req("POST", "/v1/geoip/reload", token=READ_TOKEN)
    assert r.status == 403, r
    good = db.read_bytes()
    db.write_bytes(b"\x00" * 64)
    try:
        r = node.post("/v1/geoip/reload")
        assert r.status == 422, r
        assert r.json["error"]["code"] == "GeoIPReloadFailed"
        assert str(db) in r.json["error"]["message"]
        data, msg = ask(node, f"www.{ZONE}", ecs=("81.2.69.1", 24))
        expect(data, msg, ["192.0.2.1"], ecs_bytes(1, 24, 24, V4("81.2.69.0")[:3]))
    finally:
        db.write_bytes(good)
    assert node.post("/v1/geoip/reload").status == 200


def test_cluster_says_when_nodes_load_different_databases(geo):
    cluster, db = geo
    leader = cluster.leader()
    # The tests above rewrote the file and reloaded some nodes only: they
    # differ now (build time), until every node reloads.
    r = leader.get("/v1/geoip")
    assert r.status == 200, r
    epochs = {n["geoip"]["build_epoch"] for n in r.json["nodes"]}
    assert r.json["consistent"] is (len(epochs) == 1), r.json
    for n in cluster.running():
        assert n.post("/v1/geoip/reload").status == 200
    r = leader.get("/v1/geoip")
    assert r.json["consistent"] is True, r.json
    assert len(r.json["nodes"]) == 3
    assert all(n["reachable"] and n["geoip"]["database_type"] == "QDNS-Test-City"
               for n in r.json["nodes"]), r.json
    # Node 3 restarted with another database: every node's view says so.
    other = db.parent / "other.mmdb"
    write_mmdb(other, NETWORKS[:2], db_type="QDNS-Other")
    node = cluster[3]
    assert node.stop() == 0
    cluster.restart(3, extra=["--geoip-db", str(other)])
    cluster.wait_ready([3])
    for asker in cluster.running():
        r = asker.get("/v1/geoip")
        assert r.status == 200, r
        assert r.json["consistent"] is False, r.json
        types = {n["id"]: n["geoip"]["database_type"] for n in r.json["nodes"]}
        assert types == {1: "QDNS-Test-City", 2: "QDNS-Test-City", 3: "QDNS-Other"}
    # Back to the same database: consistent again.
    assert node.stop() == 0
    cluster.restart(3, extra=["--geoip-db", str(db)])
    cluster.wait_ready([3])
    assert leader.get("/v1/geoip").json["consistent"] is True


FLAT_ZONE = """\
$ORIGIN flat.test.
$TTL 300
@ SOA ns hm 1 2 3 4 300
@ NS ns
ns A 192.0.2.53
"""


def test_standalone_node_reads_the_flat_schema(qdns_factory, tmp_path):
    """The ip-location-db schema: state1 is a name ("England", mapped with
    the iso-codes table), and there is no continent (derived from the
    country)."""
    db = tmp_path / "flat.mmdb"
    write_mmdb(db, [
        {"network": "81.2.69.0/24", "country": "GB", "state1": "England",
         "latitude": 51.4, "longitude": -0.76},
        {"network": "81.2.70.0/24", "country": "GB", "state1": "Scotland"},
        {"network": "203.0.113.0/24", "country": "JP", "state1": "Tokyo"},
    ], schema="flat", db_type="geolite2-city-ipv4")
    sets = [("eng", {"country_code": "GB", "subdivision_code": "ENG"}, "192.0.2.1"),
            ("as", {"continent_code": "AS"}, "192.0.2.3"),
            ("any", {"country_code": "*"}, "192.0.2.9")]
    zone = tmp_path / "flat.test.zone"
    zone.write_text(FLAT_ZONE + "".join(
        ";quorumdns-rrset " + json.dumps({"name": "www.flat.test.", "type": "A",
                                          "set_identifier": s, "ttl": 60,
                                          "records": [v], "geo_location": g}) + "\n"
        for s, g, v in sets))
    srv = qdns_factory(zones={"flat.test.": zone}, extra=["--geoip-db", str(db)],
                       probe_zone="flat.test.", ipv6=False)
    for ecs, value, scope in ((("81.2.69.9", 24), "192.0.2.1", 24),
                              (("81.2.70.9", 24), "192.0.2.9", 24),
                              (("203.0.113.9", 24), "192.0.2.3", 24)):
        data, msg = ask(srv, "www.flat.test.", ecs=ecs)
        addr = socket.inet_aton(ecs[0])[:3]
        expect(data, msg, [value], ecs_bytes(1, 24, scope, addr))


def test_tcp_answers_by_client_subnet_too(geo):
    import dns.query
    cluster, _ = geo
    node = cluster.running()[0]
    q = dns.message.make_query(f"www.{ZONE}", "A", use_edns=0)
    q.use_edns(0, options=[dns.edns.ECSOption("198.51.101.0", 24)])
    r = dns.query.tcp(q, node.host, port=node.dns_port, timeout=2 * SLACK)
    assert sorted(x.to_text() for s in r.answer for x in s) == ["192.0.2.4"]
    ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert len(ecs) == 1 and ecs[0].srclen == 24 and ecs[0].scopelen == 22
