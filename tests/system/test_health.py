"""System tests of health checks voted across nodes: a real 3-node cluster
(cluster_util.py), real HTTP and TCP endpoints that the test serves on the
loopback and breaks, and every node asked over DNS.

Checked: a failover pair follows its primary's endpoint on every node when
the endpoint is stopped, answers 500, the wrong body or too slowly, and
recovers; node
views made to differ for real with nftables rules on the loopback that
reject one, two or all nodes' source addresses (each node probes from its
own 127.0.0.x): with the default 18% one or two blocked nodes do not fail
over and three do, with 50% two do; a killed node's vote ages out; a
deleted check's probes stop (the endpoint sees no request) and a check in
use cannot be deleted; an HTTPS endpoint with a self-signed certificate
made by the test (healthy without the certificate check, unhealthy with it
and the reason naming the certificate, SNI seen by the server only when
enabled, failover when it stops); MANUAL and HEARTBEAT checks; CALCULATED, inverted
and disabled checks; weighted, multivalue and an alias with
evaluate_target_health following the checks (fail open when none is
healthy); the votes and the aggregate survive a leader change, and a
restart from a raft snapshot keeps checks, votes and history; API
validation names the fields; quorumctl healthcheck.

Timing bounds scale with QDNS_TIMING_SLACK.  The nftables table is named
after the test process and deleted whatever happens.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_health.py
"""

import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading
import time

import pytest

from cluster_util import assert_key_races, node_host, race_at_leader

ZONE = "hc.test."
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))
PRIMARY, SECONDARY = "192.0.2.1", "192.0.2.2"


# ------------------------------------------------------------------ endpoints


class Endpoint:
    """An HTTP server on 127.0.0.1 whose answers the test controls: mode
    "ok" (200 "OK"), "500", "body" (200 with the wrong body) or "slow";
    stop() closes the listening socket (connection refused).  Counts
    requests per source address."""

    def __init__(self, tls=None):
        self.tls = tls     # an ssl.SSLContext: HTTPS (handshake in the handler thread)
        self.seen = []     # (path, SNI name or None, Host header) per request
        self.mode = "ok"
        self.hits = {}
        self.lock = threading.Lock()
        self.port = None
        self.server = None
        self.thread = None
        self.start()

    def start(self):
        ep = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def setup(self):
                if ep.tls is not None:
                    self.request.settimeout(5)
                    self.request = ep.tls.wrap_socket(self.request, server_side=True)
                super().setup()

            def do_GET(self):
                with ep.lock:
                    ep.hits[self.client_address[0]] = ep.hits.get(
                        self.client_address[0], 0) + 1
                    ep.seen.append((self.path, getattr(self.connection, "qdns_sni", None),
                                    self.headers.get("Host")))
                mode = ep.mode
                if mode == "slow":
                    time.sleep(6)
                code = 500 if mode == "500" else 200
                body = b"all fine: OK\n" if mode in ("ok", "slow") else b"degraded\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass   # a prober that gave up on a slow answer (or on the
                       # certificate) closed first

        self.server = Server(("127.0.0.1", self.port or 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def total(self):
        with self.lock:
            return sum(self.hits.values())

    def sources(self):
        with self.lock:
            return set(self.hits)


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.stop()


class Firewall:
    """An nftables table of its own on the loopback: reject(ip) makes TCP
    connections from ip to the endpoint's port get a reset."""

    def __init__(self, port):
        self.port = port
        self.table = f"qdns_health_{os.getpid()}"
        self.handles = {}
        self.nft(f"add table inet {self.table}")
        self.nft(f"add chain inet {self.table} input "
                 "{ type filter hook input priority 0 ; policy accept ; }")

    @staticmethod
    def nft(cmd):
        subprocess.run(["nft"] + cmd.split(), check=True, capture_output=True)

    def reject(self, ip):
        self.nft(f"add rule inet {self.table} input ip saddr {ip} tcp dport {self.port} "
                 "reject with tcp reset")

    def clear(self):
        self.nft(f"flush chain inet {self.table} input")

    def delete(self):
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)


@pytest.fixture
def firewall(endpoint):
    if shutil.which("nft") is None:
        pytest.fail("nft (package nftables) is missing: tools/setup.sh installs it")
    fw = Firewall(endpoint.port)
    try:
        yield fw
    finally:
        fw.delete()


# -------------------------------------------------------------------- cluster


@pytest.fixture
def cluster(cluster_factory):
    c = cluster_factory().start(3)
    r = c.followers()[0].post("/v1/zones", {"name": ZONE})
    assert r.status == 201, r
    return c


def create_check(node, **fields):
    body = {"type": "HTTP_STR_MATCH", "ip_address": "127.0.0.1", "resource_path": "/health",
            "search_string": "OK", "request_interval": 1, "failure_threshold": 2}
    body.update(fields)
    r = node.post("/v1/healthchecks", body, timeout=10)
    assert r.status == 201, r
    return r.json["healthcheck"]["id"]


def failover_pair(node, name, check_id):
    def rs(ip, sid, role, **extra):
        out = {"name": f"{name}.{ZONE}", "type": "A", "ttl": 5, "records": [ip],
               "set_identifier": sid, "failover": role}
        out.update(extra)
        return {"action": "UPSERT", "rrset": out}

    r = node.post(f"/v1/zones/{ZONE}/changes",
                  {"changes": [rs(PRIMARY, "p", "PRIMARY", health_check_id=check_id),
                               rs(SECONDARY, "s", "SECONDARY")]}, timeout=10)
    assert r.status == 200, r


def answers(node, qname):
    return {r.to_text() for s in node.q(qname, "A").answer for r in s}


def wait_answer(cluster, qname, want, timeout):
    """Seconds until every running node answers {want} (fails after timeout)."""
    t0 = time.monotonic()
    end = t0 + timeout * SLACK
    pending = list(cluster.running())
    while pending:
        pending = [n for n in pending if answers(n, qname) != {want}]
        if pending:
            assert time.monotonic() < end, \
                f"{[n.id for n in pending]} still answer {answers(pending[0], qname)}"
            time.sleep(0.05)
    return time.monotonic() - t0


def hold_answer(cluster, qname, want, seconds):
    """Every running node answers {want} for the whole time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for n in cluster.running():
            got = answers(n, qname)
            assert got == {want}, f"n{n.id} answered {got}"
        time.sleep(0.1)


def status(node, check_id):
    r = node.get(f"/v1/healthchecks/{check_id}/status")
    assert r.status == 200, r
    return r.json


def wait_votes(node, check_id, n, timeout=10):
    end = time.monotonic() + timeout * SLACK
    while True:
        s = status(node, check_id)
        if len([v for v in s["votes"] if v["fresh"]]) >= n:
            return s
        assert time.monotonic() < end, s
        time.sleep(0.1)


# Interval 1 s, threshold 2: a node flips after 2 results; the vote then
# goes through the log.  Bound: interval x threshold + 2 s of margin.
BOUND = 1 * 2 + 2


# ---------------------------------------------------------------------- tests


def test_failover_follows_the_endpoint(cluster, endpoint):
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port)
    failover_pair(cluster.followers()[0], "www", hc)
    wait_answer(cluster, f"www.{ZONE}", PRIMARY, 5)
    s = wait_votes(leader, hc, 3)
    assert s["status"] == "HEALTHY"
    # Each node probes from its own address.
    assert {node_host(i) for i in (1, 2, 3)} <= endpoint.sources(), endpoint.sources()
    for v in s["votes"]:
        assert v["status"] == "HEALTHY" and v["http_status"] == 200
        assert v["connect_ms"] is not None and v["age_ms"] < 5000
    for breakage in ("stop", "500", "body", "slow"):
        if breakage == "stop":
            endpoint.stop()
        else:
            endpoint.mode = breakage
        # A slow answer fails at the 2 s response deadline, and the window
        # after a probe still running is skipped: each failure takes up to
        # 3 s instead of the interval.
        bound = BOUND if breakage != "slow" else 2 * (2 + 1) + 3
        took = wait_answer(cluster, f"www.{ZONE}", SECONDARY, bound)
        print(f"{breakage}: every node answers the secondary after {took:.2f} s")
        s = status(cluster.followers()[0], hc)
        assert s["status"] == "UNHEALTHY"
        assert all(v["status"] == "UNHEALTHY" for v in s["votes"]), json.dumps(s)
        # A vote carries its node's last probe: its failure reason (a node
        # may have voted before its last probe; hysteresis holds the vote).
        assert any(v.get("reason") for v in s["votes"]), json.dumps(s)
        assert s["history"][0]["to"] == "UNHEALTHY" and s["history"][0]["cause"] == "votes"
        if breakage == "stop":
            endpoint.start()
        endpoint.mode = "ok"
        took = wait_answer(cluster, f"www.{ZONE}", PRIMARY, BOUND)
        print(f"{breakage}: recovered on every node after {took:.2f} s")


def test_a_check_reads_back_with_its_defaults(cluster):
    """GET returns a check with its defaults filled in: an HTTP check made
    without resource_path shows "/", the path its probes ask for; a TCP
    check has none."""
    leader = cluster.leader()
    ids = {}
    for kind in ("HTTP", "TCP"):
        r = leader.post("/v1/healthchecks", {"type": kind, "ip_address": "127.0.0.1",
                                             "port": 9, "regions": ["1"]}, timeout=10)
        assert r.status == 201, r
        ids[kind] = r.json["healthcheck"]["id"]
    http_check = leader.get(f"/v1/healthchecks/{ids['HTTP']}").json["healthcheck"]
    assert http_check["resource_path"] == "/", http_check
    tcp_check = leader.get(f"/v1/healthchecks/{ids['TCP']}").json["healthcheck"]
    assert "resource_path" not in tcp_check, tcp_check
    for hc in ids.values():
        assert leader.req("DELETE", f"/v1/healthchecks/{hc}").status == 200


def test_no_flap_when_more_nodes_start_probing(cluster, endpoint):
    """A dead endpoint probed by one node fails its record over; then every
    node probes it.  The newcomers' first failures (still "healthy" there,
    below the threshold) are no vote, so no node answers the primary again."""
    endpoint.stop()
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port, failure_threshold=3, regions=["1"])
    failover_pair(leader, "nf", hc)
    qname = f"nf.{ZONE}"
    wait_answer(cluster, qname, SECONDARY, 3 + 2 + 2)
    check = leader.get(f"/v1/healthchecks/{hc}").json["healthcheck"]
    check.pop("regions", None)
    check = {k: v for k, v in check.items() if k not in ("id", "caller_reference")}
    r = leader.req("PUT", f"/v1/healthchecks/{hc}", body=check, timeout=10)
    assert r.status == 200, r
    end = time.monotonic() + 15 * SLACK
    while True:
        for n in cluster.running():
            got = answers(n, qname)
            assert got == {SECONDARY}, f"n{n.id} answers {got}: {json.dumps(status(leader, hc))}"
        s = status(leader, hc)
        if len([v for v in s["votes"] if v["fresh"]]) == 3:
            break
        assert time.monotonic() < end, s
        time.sleep(0.05)
    assert s["status"] == "UNHEALTHY", s
    assert all(v["status"] == "UNHEALTHY" for v in s["votes"]), s
    assert [(t["from"], t["to"]) for t in s["history"]] == [("HEALTHY", "UNHEALTHY")], s
    mine = leader.get(f"/v1/healthchecks/{hc}/status").json["this_node"]
    assert mine["voting"] is True and mine["status"] == "UNHEALTHY", mine


TLS_NAME = "hc-tls.test"


@pytest.fixture
def tls_endpoint(tmp_path):
    """An HTTPS endpoint with a self-signed certificate made here for
    TLS_NAME; its SNI callback records the name each connection asked for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", f"/CN={TLS_NAME}",
                    "-addext", f"subjectAltName=DNS:{TLS_NAME}"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def on_sni(sock, name, _ctx):
        sock.qdns_sni = name

    ctx.sni_callback = on_sni
    ep = Endpoint(tls=ctx)
    yield ep
    ep.stop()


def test_https_endpoint(cluster, tls_endpoint):
    """HTTPS and HTTPS_STR_MATCH against a self-signed endpoint: healthy
    without the certificate check, unhealthy with it (the reason names the
    certificate), SNI sent (or not) as configured, failover when the server
    stops and recovery when it is back."""
    ep = tls_endpoint
    leader = cluster.leader()
    base = {"ip_address": "127.0.0.1", "port": ep.port, "request_interval": 1,
            "failure_threshold": 2}
    sni = create_check(leader, type="HTTPS_STR_MATCH", resource_path="/sni",
                       fully_qualified_domain_name=TLS_NAME, enable_sni=True,
                       verify_certificate=False, **base)
    nosni = create_check(leader, type="HTTPS", resource_path="/nosni", search_string=None,
                         fully_qualified_domain_name=TLS_NAME, enable_sni=False, **base)
    strict = create_check(leader, type="HTTPS", resource_path="/strict", search_string=None,
                          verify_certificate=True, **base)
    failover_pair(leader, "tls", sni)
    failover_pair(leader, "tlsv", strict)
    wait_answer(cluster, f"tls.{ZONE}", PRIMARY, 5)
    s = wait_votes(leader, sni, 3)
    assert s["status"] == "HEALTHY", s
    for v in s["votes"]:
        assert v["status"] == "HEALTHY" and v["http_status"] == 200, s
    assert wait_votes(leader, nosni, 3)["status"] == "HEALTHY"
    # The untrusted certificate: every node votes unhealthy, saying why.
    took = wait_answer(cluster, f"tlsv.{ZONE}", SECONDARY, BOUND)
    print(f"verify_certificate: every node answers the secondary after {took:.2f} s")
    s = wait_votes(leader, strict, 3)
    assert s["status"] == "UNHEALTHY", s
    # No flap while the votes came in: one transition, to UNHEALTHY.
    assert [(t["from"], t["to"]) for t in s["history"]] == [("HEALTHY", "UNHEALTHY")], s
    for v in s["votes"]:
        assert v["status"] == "UNHEALTHY" and "certificate" in v.get("reason", ""), s
    assert all(path != "/strict" for path, _, _ in ep.seen), "no request after a bad handshake"
    # The server saw the name as SNI (and Host) only where SNI is enabled.
    with ep.lock:
        seen = list(ep.seen)
    assert {(n, h.split(":")[0]) for p, n, h in seen if p == "/sni"} == {(TLS_NAME, TLS_NAME)}, seen
    assert {(n, h.split(":")[0]) for p, n, h in seen if p == "/nosni"} == {(None, TLS_NAME)}, seen
    # The server stops: failover on every node; back: the primary again.
    ep.stop()
    took = wait_answer(cluster, f"tls.{ZONE}", SECONDARY, BOUND)
    print(f"https stop: every node answers the secondary after {took:.2f} s")
    assert any("refused" in v.get("reason", "") for v in status(leader, sni)["votes"])
    ep.start()
    took = wait_answer(cluster, f"tls.{ZONE}", PRIMARY, BOUND)
    print(f"https back: recovered on every node after {took:.2f} s")


def test_node_views_differ_18_percent(cluster, endpoint, firewall):
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port)
    failover_pair(leader, "fw", hc)
    wait_answer(cluster, f"fw.{ZONE}", PRIMARY, 5)
    wait_votes(leader, hc, 3)
    firewall.reject(node_host(1))
    hold_answer(cluster, f"fw.{ZONE}", PRIMARY, 4 * SLACK)
    firewall.reject(node_host(2))
    hold_answer(cluster, f"fw.{ZONE}", PRIMARY, 4 * SLACK)
    s = status(leader, hc)
    by_node = {v["node"]: v["status"] for v in s["votes"]}
    assert by_node == {1: "UNHEALTHY", 2: "UNHEALTHY", 3: "HEALTHY"}, s
    assert s["status"] == "HEALTHY"   # 1 of 3 = 33% > 18%
    firewall.reject(node_host(3))
    wait_answer(cluster, f"fw.{ZONE}", SECONDARY, BOUND)
    firewall.clear()
    wait_answer(cluster, f"fw.{ZONE}", PRIMARY, BOUND)


def test_node_views_differ_50_percent(cluster, endpoint, firewall):
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port, aggregation_percent=50)
    failover_pair(leader, "half", hc)
    wait_answer(cluster, f"half.{ZONE}", PRIMARY, 5)
    wait_votes(leader, hc, 3)
    firewall.reject(node_host(1))
    hold_answer(cluster, f"half.{ZONE}", PRIMARY, 4 * SLACK)   # 2 of 3 = 67%
    firewall.reject(node_host(2))
    wait_answer(cluster, f"half.{ZONE}", SECONDARY, BOUND)     # 1 of 3 = 33%


def test_killed_nodes_vote_ages_out(cluster, endpoint, firewall):
    leader = cluster.leader()
    victim = cluster.followers()[0]
    others = [n for n in cluster.running() if n is not victim]
    hc = create_check(leader, port=endpoint.port)   # votes fresh for 3 x 1 s
    failover_pair(leader, "age", hc)
    wait_votes(leader, hc, 3)
    for n in others:
        firewall.reject(node_host(n.id))
    hold_answer(cluster, f"age.{ZONE}", PRIMARY, 4 * SLACK)   # the victim's vote holds it
    victim.kill()
    # Its vote goes stale 3 s after it was cast, then 0 of 2 say healthy.
    first = None
    end = time.monotonic() + (3 + BOUND) * SLACK
    while first is None:
        if any(answers(n, f"age.{ZONE}") == {SECONDARY} for n in cluster.running()):
            first = time.time()
        else:
            assert time.monotonic() < end, "no node failed over"
            time.sleep(0.02)
    wait_answer(cluster, f"age.{ZONE}", SECONDARY, BOUND)
    s = status(leader, hc)
    stale = [v for v in s["votes"] if v["node"] == victim.id]
    assert stale and not stale[0]["fresh"], s
    # Not before that vote could have aged out: measured from the time it was
    # cast (a round under a sanitizer can run late, so the kill is no clock).
    aged_at = (stale[0]["voted_at"] + 3000) / 1000
    assert first >= aged_at - 0.05, (first - aged_at, s)
    assert s["fresh_votes"] == 2 and s["healthy_votes"] == 0, s
    victim.start()
    cluster.wait_ready()


def test_deleted_check_stops_probing(cluster, endpoint):
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port)
    failover_pair(leader, "del", hc)
    wait_votes(leader, hc, 3)
    # In use by a record set: refused, with the set named.
    r = leader.req("DELETE", f"/v1/healthchecks/{hc}", timeout=10)
    assert r.status == 409, r
    assert f"del.{ZONE}"[:-1] in r.json["error"]["message"], r
    # A check nothing uses goes, and so do its probes on every node.
    lone = create_check(cluster.followers()[0], port=endpoint.port, resource_path="/lone")
    wait_votes(leader, lone, 3)
    r = cluster.followers()[1].req("DELETE", f"/v1/healthchecks/{lone}", timeout=10)
    assert r.status == 200, r
    for n in cluster.running():
        assert n.get(f"/v1/healthchecks/{lone}").status in (404, 200)
    cluster.wait_applied()
    for n in cluster.running():
        assert n.get(f"/v1/healthchecks/{lone}").status == 404
    # A check alone on its endpoint: after its deletion no node connects.
    lone_hits = []
    ep2 = Endpoint()
    try:
        lone2 = create_check(leader, port=ep2.port)
        wait_votes(leader, lone2, 3)
        assert ep2.total() > 0
        r = leader.req("DELETE", f"/v1/healthchecks/{lone2}", timeout=10)
        assert r.status == 200, r
        cluster.wait_applied()
        time.sleep(0.5)   # a probe already connected may finish
        before = ep2.total()
        time.sleep(4 * SLACK)
        lone_hits.append(ep2.total() - before)
    finally:
        ep2.stop()
    assert lone_hits == [0], lone_hits


def test_manual_and_heartbeat(cluster):
    leader, f = cluster.leader(), cluster.followers()[0]
    r = f.post("/v1/healthchecks", {"type": "MANUAL"}, timeout=10)
    assert r.status == 201, r
    man = r.json["healthcheck"]["id"]
    failover_pair(f, "drill", man)
    wait_answer(cluster, f"drill.{ZONE}", PRIMARY, 5)
    r = f.post(f"/v1/healthchecks/{man}/manual", {"status": "UNHEALTHY"}, timeout=10)
    assert r.status == 200, r
    wait_answer(cluster, f"drill.{ZONE}", SECONDARY, 2)
    assert status(leader, man)["history"][0]["cause"] == "manual"
    r = f.post(f"/v1/healthchecks/{man}/manual", {"status": "maybe"}, timeout=10)
    assert r.status == 400 and r.json["error"]["field"] == "status", r
    r = f.post(f"/v1/healthchecks/{man}/manual", {"status": "HEALTHY"}, timeout=10)
    assert r.status == 200, r
    wait_answer(cluster, f"drill.{ZONE}", PRIMARY, 2)

    r = leader.post("/v1/healthchecks", {"type": "HEARTBEAT", "heartbeat_ttl": 3},
                    timeout=10)
    assert r.status == 201, r
    hb = r.json["healthcheck"]["id"]
    failover_pair(leader, "beat", hb)
    # Calls every second keep it healthy past several TTLs.
    end = time.monotonic() + 7
    while time.monotonic() < end:
        r = f.post(f"/v1/healthchecks/{hb}/heartbeat", None, timeout=10)
        assert r.status == 200, r
        assert answers(leader, f"beat.{ZONE}") == {PRIMARY}
        time.sleep(1)
    # Silence: unhealthy after the TTL (the leader makes the time pass).
    took = wait_answer(cluster, f"beat.{ZONE}", SECONDARY, 3 + 3)
    assert took >= 1.5, took
    r = f.post(f"/v1/healthchecks/{hb}/heartbeat", None, timeout=10)
    assert r.status == 200, r
    wait_answer(cluster, f"beat.{ZONE}", PRIMARY, 2)
    # The wrong type for each endpoint.
    assert f.post(f"/v1/healthchecks/{hb}/manual", {"status": "HEALTHY"}).status == 400
    assert f.post(f"/v1/healthchecks/{man}/heartbeat", None).status == 400


def test_votes_survive_a_leader_change(cluster, endpoint):
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port)
    failover_pair(leader, "lc", hc)
    wait_votes(leader, hc, 3)
    endpoint.mode = "500"
    wait_answer(cluster, f"lc.{ZONE}", SECONDARY, BOUND)
    before = status(leader, hc)
    leader.stop()
    new = cluster.wait_leader(exclude=(leader.id,))
    s = status(new, hc)
    assert s["status"] == "UNHEALTHY"
    assert {v["node"] for v in s["votes"]} == {v["node"] for v in before["votes"]}
    assert s["history"][: len(before["history"])] == before["history"][: len(s["history"])]
    hold_answer(cluster, f"lc.{ZONE}", SECONDARY, 2)
    endpoint.mode = "ok"
    wait_answer(cluster, f"lc.{ZONE}", PRIMARY, BOUND + 2)
    leader.start()
    cluster.wait_ready()
    assert status(leader, hc)["status"] == "HEALTHY"
    wait_answer(cluster, f"lc.{ZONE}", PRIMARY, 5)


def test_api_validation_names_fields(cluster):
    n = cluster.followers()[0]
    r = n.post("/v1/healthchecks", {"type": "HTTP", "request_interval": 0,
                                    "failure_threshold": 11, "colour": "red"})
    assert r.status == 400, r
    fields = {e["field"] for e in r.json["error"]["errors"]}
    assert {"colour"} <= fields, r
    r = n.post("/v1/healthchecks", {"type": "HTTP", "request_interval": 0,
                                    "failure_threshold": 11})
    assert r.status == 400, r
    fields = {e["field"] for e in r.json["error"]["errors"]}
    assert {"request_interval", "failure_threshold"} <= fields, r
    r = n.post("/v1/healthchecks", {"type": "PING"})
    assert r.status == 400 and r.json["error"]["field"] == "type", r
    r = n.post("/v1/healthchecks", {"type": "CALCULATED", "health_threshold": 1,
                                    "child_health_checks": ["00000000000000ff"]})
    assert r.status == 400, r
    assert r.json["error"]["field"] == "child_health_checks[0]", r
    assert n.get("/v1/healthchecks/xyz").status == 400
    assert n.get("/v1/healthchecks/00000000000000ff").status == 404
    # A record set naming a check that does not exist.
    r = n.post(f"/v1/zones/{ZONE}/changes", {"changes": [{"action": "UPSERT", "rrset": {
        "name": f"x.{ZONE}", "type": "A", "ttl": 5, "records": [PRIMARY],
        "set_identifier": "p", "failover": "PRIMARY",
        "health_check_id": "00000000000000ff"}}]}, timeout=10)
    assert r.status == 400, r
    # A create retried with its Idempotency-Key names the same check.
    body = {"type": "MANUAL"}
    first = n.post("/v1/healthchecks", body, headers={"Idempotency-Key": "hc-once"}, timeout=10)
    again = n.post("/v1/healthchecks", body, headers={"Idempotency-Key": "hc-once"}, timeout=10)
    assert first.status == 201 and again.status == 200, (first, again)
    assert first.json["healthcheck"]["id"] == again.json["healthcheck"]["id"]
    # The key with another definition is refused and makes no check, also
    # when the two race to the leader.
    cluster.wait_applied()
    before = {c["id"] for c in n.get("/v1/healthchecks").json["healthchecks"]}
    other = n.post("/v1/healthchecks", {"type": "MANUAL", "inverted": True},
                   headers={"Idempotency-Key": "hc-once"}, timeout=10)
    assert other.status == 409, other
    assert other.json["error"]["code"] == "IdempotencyKeyMismatch", other
    assert other.json["error"]["field"] == "Idempotency-Key", other
    def create(body, key):
        return lambda node: node.post("/v1/healthchecks", body,
                                      headers={"Idempotency-Key": key}, timeout=10)

    # Both at the leader before either is applied: the second is judged
    # when it is applied.
    same = race_at_leader(cluster, [create(body, "hc-race")] * 2)
    mixed = race_at_leader(cluster, [create(body, "hc-mixed"),
                                     create({"type": "MANUAL", "disabled": True}, "hc-mixed")])
    assert_key_races(same, mixed, "healthcheck")
    cluster.wait_applied()
    made = {same[0].json["healthcheck"]["id"]} | {
        r.json["healthcheck"]["id"] for r in mixed if r.status == 201}
    for node in cluster.running():
        listed = {c["id"] for c in node.get("/v1/healthchecks").json["healthchecks"]}
        assert listed - before == made, (node, listed - before, made)
    # Listing, reading, updating.
    hc = create_check(n, type="TCP", port=9, resource_path=None, search_string=None)
    cluster.wait_applied()
    listed = n.get("/v1/healthchecks").json["healthchecks"]
    assert hc in {c["id"] for c in listed}
    got = n.get(f"/v1/healthchecks/{hc}").json["healthcheck"]
    assert got["type"] == "TCP" and got["port"] == 9
    got["port"] = 10
    r = n.req("PUT", f"/v1/healthchecks/{hc}", body=got, timeout=10)
    assert r.status == 200 and r.json["healthcheck"]["port"] == 10, r
    r = n.req("PUT", f"/v1/healthchecks/{hc}", body={"type": "TCP"}, timeout=10)
    assert r.status == 400, r
    assert {"ip_address", "port"} <= {e["field"] for e in r.json["error"]["errors"]}, r


def test_quorumctl_healthcheck(cluster, endpoint):
    from cluster_util import ADMIN_TOKEN, REPO
    ctl_bin = os.environ.get("QUORUMCTL_BIN",
                             str(REPO / "build" / "tools" / "quorumctl" / "quorumctl"))
    f = cluster.followers()[0]

    def ctl(*args, check=0):
        p = subprocess.run([ctl_bin, "--token", ADMIN_TOKEN, "--server", f.api] + list(args),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p.stdout

    out = ctl("healthcheck", "create", "HTTP", "--ip", "127.0.0.1", "--port",
              str(endpoint.port), "--path", "/cli", "--interval", "1", "--threshold", "1")
    hc = out.split()[3]
    assert len(hc) == 16, out
    ctl("healthcheck", "create", "HTTP", "--interval", "0", check=1)
    cluster.wait_applied()
    assert hc in ctl("healthcheck", "list")
    assert '"request_interval": 1' in ctl("--json", "healthcheck", "show", hc)
    wait_votes(f, hc, 3)
    table = ctl("healthcheck", "status", "--watch", "--every", "0.2", "--count", "2")
    assert table.count("health checks at") == 2, table
    assert "n1" in table and "n3" in table and "HEALTHY" in table, table
    endpoint.mode = "500"
    end = time.monotonic() + BOUND * SLACK
    while "UNHEALTHY" not in ctl("healthcheck", "status", hc).splitlines()[0]:
        assert time.monotonic() < end
        time.sleep(0.2)
    one = ctl("healthcheck", "status", hc)
    assert "status 500" in one and "transitions" in one, one
    man = ctl("healthcheck", "create", "MANUAL").split()[3]
    ctl("healthcheck", "set", man, "unhealthy")
    cluster.wait_applied()   # f relayed the write: it answers reads from its replica
    assert "UNHEALTHY" in ctl("healthcheck", "status", man).splitlines()[0]
    ctl("healthcheck", "set", man, "sideways", check=2)
    ctl("healthcheck", "heartbeat", man, check=1)   # not a HEARTBEAT check
    ctl("healthcheck", "delete", hc)
    ctl("healthcheck", "delete", hc, check=1)       # gone


def manual(node, healthy=True, **fields):
    r = node.post("/v1/healthchecks", {"type": "MANUAL", **fields}, timeout=10)
    assert r.status == 201, r
    hc = r.json["healthcheck"]["id"]
    if not healthy:
        set_manual(node, hc, False)
    return hc


def set_manual(node, hc, healthy):
    r = node.post(f"/v1/healthchecks/{hc}/manual",
                  {"status": "HEALTHY" if healthy else "UNHEALTHY"}, timeout=10)
    assert r.status == 200, r


def test_calculated_inverted_disabled(cluster):
    n = cluster.leader()
    a, b = manual(n), manual(n)
    r = n.post("/v1/healthchecks", {"type": "CALCULATED", "health_threshold": 2,
                                    "child_health_checks": [a, b]}, timeout=10)
    assert r.status == 201, r
    calc = r.json["healthcheck"]["id"]
    failover_pair(n, "calc", calc)
    wait_answer(cluster, f"calc.{ZONE}", PRIMARY, 3)
    set_manual(n, a, False)                       # 1 of 2 children: below 2
    wait_answer(cluster, f"calc.{ZONE}", SECONDARY, 3)
    assert status(n, calc)["history"][0]["cause"] == "children"
    set_manual(n, a, True)
    wait_answer(cluster, f"calc.{ZONE}", PRIMARY, 3)
    r = n.req("DELETE", f"/v1/healthchecks/{a}", timeout=10)
    assert r.status == 409 and "CALCULATED" in r.json["error"]["message"], r
    # Inverted: a healthy MANUAL setting reads unhealthy; disabled: healthy.
    inv = manual(n, inverted=True)
    failover_pair(n, "inv", inv)
    wait_answer(cluster, f"inv.{ZONE}", SECONDARY, 3)
    got = n.get(f"/v1/healthchecks/{inv}").json["healthcheck"]
    got["disabled"] = True
    r = n.req("PUT", f"/v1/healthchecks/{inv}", body=got, timeout=10)
    assert r.status == 200, r
    wait_answer(cluster, f"inv.{ZONE}", PRIMARY, 3)


def test_policies_follow_health(cluster):
    n = cluster.leader()
    down, up = manual(n, healthy=False), manual(n)
    changes = [
        {"name": f"w.{ZONE}", "records": ["192.0.2.11"], "set_identifier": "a", "weight": 10,
         "health_check_id": down},
        {"name": f"w.{ZONE}", "records": ["192.0.2.12"], "set_identifier": "b", "weight": 1,
         "health_check_id": up},
    ] + [{"name": f"mv.{ZONE}", "records": [f"192.0.2.{20 + i}"], "set_identifier": f"m{i}",
          "multi_value_answer": True, "health_check_id": down if i < 2 else up}
         for i in range(4)] + [
        # An alias as the failover primary, evaluating its weighted target.
        {"name": f"al.{ZONE}", "records": [], "set_identifier": "p", "failover": "PRIMARY",
         "alias_target": {"dns_name": f"w.{ZONE}", "evaluate_target_health": True}},
        {"name": f"al.{ZONE}", "records": [SECONDARY], "set_identifier": "s",
         "failover": "SECONDARY"},
    ]
    body = {"changes": [{"action": "UPSERT",
                         "rrset": {"type": "A", "ttl": 5, **c}} for c in changes]}
    r = n.post(f"/v1/zones/{ZONE}/changes", body, timeout=10)
    assert r.status == 200, r
    wait_answer(cluster, f"w.{ZONE}", "192.0.2.12", 3)   # weight 10 is down
    for node in cluster.running():
        for _ in range(20):
            assert answers(node, f"w.{ZONE}") == {"192.0.2.12"}
            assert answers(node, f"mv.{ZONE}") == {"192.0.2.22", "192.0.2.23"}
    wait_answer(cluster, f"al.{ZONE}", "192.0.2.12", 3)  # the target has a healthy set
    set_manual(n, up, False)   # none healthy: weighted fails open, the alias is down
    wait_answer(cluster, f"al.{ZONE}", SECONDARY, 3)
    seen = set()
    for _ in range(200):
        seen |= answers(n, f"w.{ZONE}")
    assert seen == {"192.0.2.11", "192.0.2.12"}, seen
    assert len(answers(n, f"mv.{ZONE}")) == 4   # all unhealthy: up to 8 of them
    set_manual(n, down, True)
    wait_answer(cluster, f"al.{ZONE}", "192.0.2.11", 3)


def test_regions_choose_the_probing_nodes(cluster, endpoint):
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port, regions=["2"])
    failover_pair(leader, "reg", hc)
    s = wait_votes(leader, hc, 1)
    time.sleep(2)
    s = status(leader, hc)
    assert [v["node"] for v in s["votes"]] == [2], s
    assert endpoint.sources() == {node_host(2)}, endpoint.sources()
    endpoint.mode = "500"     # the one checker's view decides
    wait_answer(cluster, f"reg.{ZONE}", SECONDARY, BOUND)


def test_snapshot_keeps_checks_votes_and_history(cluster, endpoint):
    """Past raft's snapshot threshold (2048 entries), a restarted node
    restores checks, votes and history from the snapshot and the log."""
    leader = cluster.leader()
    hc = create_check(leader, port=endpoint.port)
    man = manual(leader)
    wait_votes(leader, hc, 3)
    start = leader.health()["applied_index"]
    flips = 0
    while leader.health()["applied_index"] < start + 2200:
        r = leader.post(f"/v1/healthchecks/{man}/manual",
                        {"status": "HEALTHY" if flips % 2 else "UNHEALTHY"}, timeout=10)
        if r.status == 429:   # the API's write rate limit per token
            time.sleep(1)
            continue
        assert r.status == 200, r
        flips += 1
    victim = cluster.followers()[0]
    victim.stop()
    snaps = list((victim.data_dir).rglob("snapshot-*"))
    assert snaps, list(victim.data_dir.rglob("*"))
    victim.start()
    cluster.wait_ready()
    cluster.wait_applied()
    a, b = status(leader, man), status(victim, man)
    assert a["history"] == b["history"] and len(b["history"]) == 100, (a, b)
    assert a["status"] == b["status"]
    a, b = status(leader, hc), status(victim, hc)
    assert {v["node"] for v in b["votes"]} == {1, 2, 3}, b
    assert a["history"] == b["history"]
