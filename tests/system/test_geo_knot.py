"""Differential test: country-level geolocation against Knot's mod-geoip.

The same GeoIP database (written by tests/data/make_mmdb.pl), the same zone
and the same client subnets are served by knotd with mod-geoip (Debian's
knot-module-geoip, geodb mode keyed on country/iso_code, EDNS Client Subnet
on) and by a quorumdns node with --geoip-db and geolocation record sets (with
the ECS maxima at /32 and /128, since Knot does not cut source prefixes).
Every query must get the same rcode, flags, answer (values and TTL) and,
when a country's set answered, the same ECS scope.  One difference is
deliberate and checked as such: when no country matches, Knot falls back
to the zone's plain records with scope 0, while quorumdns answers its "*"
set with the scope of the database network that decided (the default is
only right for clients outside the listed countries).

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_geo_knot.py
"""

import json
import subprocess
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.query
import pytest

from conftest import KNOTD, assert_nothing_left, free_port, start_quorumdns, wait_answers, Server
from cluster_util import REPO

GEOIP_SO = Path("/usr/lib/x86_64-linux-gnu/knot/modules-3.2/geoip.so")
MAKE_MMDB = REPO / "tests" / "data" / "make_mmdb.pl"

NETWORKS = [
    {"network": "81.2.69.0/24", "continent": "EU", "country": "GB", "subdivision": "ENG"},
    {"network": "81.2.64.0/20", "continent": "EU", "country": "GB"},
    {"network": "192.0.2.0/25", "continent": "EU", "country": "FR"},
    {"network": "198.51.100.0/22", "continent": "NA", "country": "US", "subdivision": "CA"},
    {"network": "203.0.113.0/24", "continent": "AS", "country": "JP"},
    {"network": "2001:db8:1::/48", "continent": "EU", "country": "DE"},
    {"network": "2001:db8:2::/44", "continent": "NA", "country": "US"},
]

COUNTRIES = {"GB": "192.0.2.2", "US": "192.0.2.4", "FR": "192.0.2.5"}
DEFAULT = "192.0.2.9"

ZONE_HEAD = """\
$ORIGIN geo.test.
$TTL 300
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A 192.0.2.53
"""

SUBNETS = [
    ("81.2.69.0", 24), ("81.2.70.0", 24), ("81.2.79.0", 24), ("81.2.80.0", 24),
    ("192.0.2.0", 24), ("192.0.2.0", 25), ("192.0.2.128", 25),
    ("198.51.100.0", 24), ("198.51.103.0", 24), ("198.51.104.0", 24),
    ("203.0.113.0", 24), ("10.1.2.0", 24), ("0.0.0.0", 0),
    ("2001:db8:1::", 48), ("2001:db8:2:100::", 56), ("2001:db8:9::", 48),
]

KNOT_CONF = """\
server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    edns-client-subnet: on

log:
  - target: stderr
    any: info

database:
    storage: "{dir}"

mod-geoip:
  - id: country
    config-file: "{dir}/geo.conf"
    ttl: 60
    mode: geodb
    geodb-file: "{db}"
    geodb-key: [ country/iso_code ]

zone:
  - domain: geo.test.
    file: "{zone}"
    storage: "{dir}"
    journal-content: none
    zonefile-sync: -1
    module: mod-geoip/country
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not Path(KNOTD).exists() or not GEOIP_SO.exists():
        pytest.skip("knotd or knot-module-geoip not installed")
    root = tmp_path_factory.mktemp("geoknot")
    db = root / "country.mmdb"
    spec = {"schema": "geoip2", "type": "QDNS-Test-Country", "networks": NETWORKS}
    subprocess.run(["perl", str(MAKE_MMDB), str(db)], input=json.dumps(spec).encode(),
                   check=True, timeout=60)
    # Knot: the default as plain records, each country a geo view.
    kdir = root / "knot"
    kdir.mkdir()
    kzone = kdir / "geo.test.zone"
    kzone.write_text(ZONE_HEAD + f"www 60 A {DEFAULT}\n")
    (kdir / "geo.conf").write_text("www.geo.test:\n" + "".join(
        f'  - geo: "{c}"\n    A: {v}\n' for c, v in COUNTRIES.items()))
    port = free_port()
    conf = kdir / "knot.conf"
    conf.write_text(KNOT_CONF.format(dir=kdir, port=port, db=db, zone=kzone))
    with open(kdir / "knotd.log", "wb") as log:
        proc = subprocess.Popen([KNOTD, "-c", str(conf)], cwd=kdir,
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    knot = Server(proc, "127.0.0.1", port, kdir / "knotd.log", [("127.0.0.1", port)], kdir)
    # quorumdns: the same answers as geolocation record sets.
    qzone = root / "geo.test.zone"
    lines = [{"name": "www.geo.test.", "type": "A", "set_identifier": c.lower(), "ttl": 60,
              "records": [v], "geo_location": {"country_code": c}}
             for c, v in COUNTRIES.items()]
    lines.append({"name": "www.geo.test.", "type": "A", "set_identifier": "any", "ttl": 60,
                  "records": [DEFAULT], "geo_location": {"country_code": "*"}})
    qzone.write_text(ZONE_HEAD + "".join(f";quorumdns-rrset {json.dumps(l)}\n"
                                         for l in lines))
    qdns = None
    try:
        wait_answers("127.0.0.1", port, "geo.test.", proc, log=knot.log)
        qdns = start_quorumdns(root / "qdns", zones={"geo.test.": qzone},
                               extra=["--geoip-db", str(db),
                                      # Knot looks up the whole source prefix.
                                      "--ecs-max-ipv4-prefix", "32",
                                      "--ecs-max-ipv6-prefix", "128"], ipv6=False,
                               probe_zone="geo.test.")
        yield knot, qdns
    finally:
        for srv in (knot, qdns):
            if srv is not None:
                alive = srv.alive()
                srv.stop()
                assert_nothing_left(srv)
        assert alive, "a server died during the tests"


def ask(srv, address, source):
    q = dns.message.make_query("www.geo.test.", "A", use_edns=0)
    q.flags &= ~dns.flags.RD
    q.use_edns(0, options=[dns.edns.ECSOption(address, source)])
    return dns.query.udp(q, srv.host, port=srv.port, timeout=2)


def ecs_of(msg):
    opts = [o for o in msg.options if isinstance(o, dns.edns.ECSOption)]
    assert len(opts) == 1, msg
    return opts[0]


@pytest.mark.parametrize("address,source", SUBNETS, ids=[f"{a}/{s}" for a, s in SUBNETS])
def test_country_answers_match_knot(servers, address, source):
    knot, qdns = servers
    rk, rq = ask(knot, address, source), ask(qdns, address, source)
    assert rq.rcode() == rk.rcode()
    assert (rq.flags & dns.flags.AA) == (rk.flags & dns.flags.AA)
    vk = sorted((r.to_text(), s.ttl) for s in rk.answer for r in s)
    vq = sorted((r.to_text(), s.ttl) for s in rq.answer for r in s)
    assert vq == vk, f"knot {vk}, quorumdns {vq}"
    ek, eq = ecs_of(rk), ecs_of(rq)
    assert (eq.family, eq.srclen, eq.address) == (ek.family, ek.srclen, ek.address)
    if vk and vk[0][0] != DEFAULT:
        assert eq.scopelen == ek.scopelen, (eq.scopelen, ek.scopelen)
    else:
        # The deliberate difference (module docstring).
        assert ek.scopelen == 0
        assert source == 0 or eq.scopelen > 0
