"""GET /metrics scraped by a real Prometheus server.

A 3-node cluster serves a zone and a zone whose name holds a double quote,
a backslash and a newline byte.  After the zones are served everywhere the
test sends each node a known number of queries (node i: 2*i A over UDP,
i NXDOMAIN over UDP, i A over TCP, 3 SOA of the odd zone), starts Prometheus
(Debian's package) on loopback with a temporary configuration and storage
directory, lets it scrape the three nodes with the read token, and asks its
HTTP API for the series: their values must be the counts sent.  Each node's
exposition must also pass `promtool check metrics` (the strict parser and
its naming lint), and /metrics needs a token unless --metrics-access open.

Run: cd tests/system && /usr/bin/python3 -m pytest -q test_metrics.py
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest
import requests

from cluster_util import READ_TOKEN, REPO, http

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
QUORUMCTL = os.environ.get("QUORUMCTL_BIN",
                           str(REPO / "build" / "tools" / "quorumctl" / "quorumctl"))
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))

ZONE = "metrics.test"
# '"', '\\' and a newline byte in one label: presentation form escapes.
ODD = 'q\\"t\\\\b\\010n.test'
ODD_TEXT = 'q\\"t\\\\b\\010n.test.'  # as dns_name_to_text writes it
PROBE = "probe.test"

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="prometheus/promtool not installed (tools/setup.sh installs the Debian "
    "package 'prometheus')")


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def add_a(node, zone, name, ip):
    r = node.post(f"/v1/zones/{zone}/changes",
                  {"changes": [{"action": "UPSERT",
                                "rrset": {"name": name, "type": "A", "ttl": 60,
                                          "records": [ip]}}]})
    assert r.status == 200, r


def start_cluster(cluster_factory, extra=()):
    c = cluster_factory()
    c.start(3, extra=extra)
    ld = c.leader()
    c.create_zone(ZONE, via=ld)
    add_a(ld, ZONE, f"www.{ZONE}", "192.0.2.1")
    c.create_zone(ODD, via=ld)
    # Created last: a node answering for it has applied the others too.
    c.create_zone(PROBE, via=ld)
    for n in c.nodes.values():
        if not n.alive():
            continue
        end = time.monotonic() + 10 * SLACK
        while True:
            try:
                if n.q(PROBE, "SOA").rcode() == dns.rcode.NOERROR:
                    break
            except Exception:
                pass
            assert time.monotonic() < end, f"n{n.id} never served {PROBE}"
            time.sleep(0.05)
    return c


def send_known(c):
    """The queries each node gets; returns what they should count."""
    sent = {}
    for n in c.running():
        i = n.id
        for _ in range(2 * i):
            assert n.q(f"www.{ZONE}", "A").rcode() == dns.rcode.NOERROR
        for _ in range(i):
            assert n.q(f"nope.{ZONE}", "A").rcode() == dns.rcode.NXDOMAIN
        for _ in range(i):
            assert n.q(f"www.{ZONE}", "A", tcp=True).rcode() == dns.rcode.NOERROR
        for _ in range(3):
            assert n.q(ODD, "SOA").rcode() == dns.rcode.NOERROR
        sent[i] = {"udp_ok": 2 * i, "nx": i, "tcp": i, "odd": 3}
    return sent


def quorumctl_stats(node, *extra):
    return subprocess.run([QUORUMCTL, "--server", node.api, "--token", READ_TOKEN,
                           "--timeout", "5", *extra, "stats"],
                          capture_output=True, text=True, timeout=60)


def scrape(node, token=READ_TOKEN):
    return http("GET", node.api + "/metrics", token=token)


class Prometheus:
    """A Prometheus server on loopback scraping targets every second; the
    process is killed and its directory removed by close()."""

    def __init__(self, targets, token):
        self.dir = tempfile.mkdtemp(prefix="qdns-prom-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: quorumdns\n"
                    "    authorization:\n      type: Bearer\n"
                    f"      credentials: {token}\n"
                    "    static_configs:\n      - targets: ["
                    + ", ".join(f"'{t}'" for t in targets) + "]\n")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def query(self, expr):
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def text(self):
        self.log.flush()
        with open(os.path.join(self.dir, "log")) as f:
            return f.read()[-4000:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def check_dashboard(prom, exposition):
    """Every query of the Grafana dashboard is valid PromQL for this
    Prometheus and names only families the nodes export."""
    with open(REPO / "docs" / "grafana-dashboard.json") as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) > 20
    # The health-check row: per-check status, the aggregate, probe latency,
    # failures by reason, votes proposed.
    for fam in ("quorumdns_health_check_status", "quorumdns_health_checks",
                "quorumdns_health_check_local_status", "quorumdns_health_probe_seconds_bucket",
                "quorumdns_health_probe_failures_total", "quorumdns_health_votes_proposed_total"):
        assert any(re.search(fam + r"\b", e) for e in exprs), f"no panel queries {fam}"
    exported = {l.split("{")[0].split(" ")[0] for l in exposition.splitlines()
                if l and not l.startswith("#")}
    for expr in exprs:
        q = (expr.replace("$job", ".*").replace("$instance", ".*")
             .replace("$__rate_interval", "5s").replace("$__range", "1m"))
        r = requests.get(prom.url + "/api/v1/query", params={"query": q}, timeout=5)
        assert r.status_code == 200 and r.json()["status"] == "success", (expr, r.text)
        for name in re.findall(r"quorumdns_[a-z_]+", expr):
            if not name.startswith("quorumdns_query_log_"):  # only with --query-log
                assert name in exported, (name, expr)


def by_instance(result):
    return {s["metric"]["instance"]: float(s["value"][1]) for s in result}


def wait_series(prom, expr, want, timeout=30.0):
    """Until Prometheus answers expr with exactly `want` ({instance: value})."""
    end = time.monotonic() + timeout * SLACK
    got = None
    while time.monotonic() < end:
        assert prom.proc.poll() is None, f"prometheus exited:\n{prom.text()}"
        try:
            got = by_instance(prom.query(expr))
        except requests.RequestException:
            got = None
        if got == want:
            return
        time.sleep(0.5)
    raise AssertionError(f"{expr}: Prometheus has {got}, expected {want}\n{prom.text()}")


def create_checks(c):
    """Two TCP health checks probed by every node each second: one on the
    leader's API port (healthy), one on a port bound but not listening
    (connection refused).  Returns (good id, bad id, the socket to close)."""
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))  # bound, not listening: RST to every SYN
    ld = c.leader()
    ids = []
    for ip, port in ((ld.host, ld.api_port), ("127.0.0.1", hold.getsockname()[1])):
        r = ld.post("/v1/healthchecks", {"type": "TCP", "ip_address": ip, "port": port,
                                         "request_interval": 1, "failure_threshold": 1},
                    timeout=10)
        assert r.status == 201, r
        ids.append(r.json["healthcheck"]["id"])
    return ids[0], ids[1], hold


def check_health_series(prom, inst, good, bad):
    """The health-check families, as Prometheus stores them, agree with what
    the checks are: the good one healthy and the bad one unhealthy on every
    node (published status and each node's own verdict), refusals counted,
    one latency sample per probe, votes sent and applied by every node."""
    every = {i: 1 for i in inst.values()}
    wait_series(prom, f'quorumdns_health_check_status{{check="{good}",type="TCP"}}', every)
    wait_series(prom, f'quorumdns_health_check_status{{check="{bad}",type="TCP"}}',
                {i: 0 for i in inst.values()})
    wait_series(prom, 'quorumdns_health_checks{status="unhealthy"}', every)
    wait_series(prom, 'quorumdns_health_checks{status="healthy"}', every)
    wait_series(prom, f'quorumdns_health_check_local_status{{check="{good}"}}', every)
    wait_series(prom, f'quorumdns_health_check_local_status{{check="{bad}"}}',
                {i: 0 for i in inst.values()})
    # Every probe of the bad check is refused, every one of the good one
    # succeeds: the refusals are at least one and at most the probes.
    wait_series(prom, 'quorumdns_health_probe_failures_total{reason="connect_refused"} > bool 0',
                every)
    wait_series(prom, 'quorumdns_health_probe_failures_total{reason="connect_refused"} '
                '<= bool ignoring(reason) quorumdns_health_probes_total', every)
    wait_series(prom, 'sum by (instance) (quorumdns_health_probe_failures_total'
                '{reason!="connect_refused"})', {i: 0 for i in inst.values()})
    # Same scrape: one latency sample per probe, each within 5 s.
    wait_series(prom, "quorumdns_health_probe_seconds_count == bool "
                "quorumdns_health_probes_total", every)
    wait_series(prom, 'quorumdns_health_probe_seconds_bucket{le="+Inf"} == bool ignoring(le) '
                'quorumdns_health_probe_seconds_bucket{le="5"}', every)
    wait_series(prom, "quorumdns_health_votes_proposed_total >= bool 2", every)
    wait_series(prom, 'quorumdns_health_vote_rounds_total{outcome="applied"} > bool 0', every)


@needs_prometheus
def test_metrics_scraped_by_prometheus_match_the_queries_sent(cluster_factory):
    c = start_cluster(cluster_factory)
    nodes = c.running()
    sent = send_known(c)
    good, bad, hold = create_checks(c)
    prom = Prometheus([f"{n.host}:{n.api_port}" for n in nodes], READ_TOKEN)
    try:
        inst = {n.id: f"{n.host}:{n.api_port}" for n in nodes}
        z = f'zone="{ZONE}."'
        wait_series(prom, f'quorumdns_dns_zone_queries_total{{{z},qtype="A"}}',
                    {inst[i]: s["udp_ok"] + s["tcp"] + s["nx"] for i, s in sent.items()})
        wait_series(prom, f'quorumdns_dns_zone_responses_total{{{z},protocol="udp",'
                    'rcode="NXDOMAIN"}', {inst[i]: s["nx"] for i, s in sent.items()})
        wait_series(prom, f'quorumdns_dns_zone_responses_total{{{z},protocol="tcp",'
                    'rcode="NOERROR"}', {inst[i]: s["tcp"] for i, s in sent.items()})
        wait_series(prom, f'quorumdns_dns_zone_responses_total{{{z},protocol="udp",'
                    'rcode="NOERROR"}', {inst[i]: s["udp_ok"] for i, s in sent.items()})
        # The odd zone's label comes back from Prometheus as the zone's text.
        odd = prom.query('quorumdns_dns_zone_queries_total{qtype="SOA",zone=~"q.*"}')
        assert {s["metric"]["zone"] for s in odd} == {ODD_TEXT}, odd
        assert by_instance(odd) == {inst[i]: 3 for i in sent}, odd
        # Whole-node series: the TCP histogram counts every TCP message,
        # and the processing-time histogram at least the queries sent.
        wait_series(prom, 'quorumdns_dns_response_size_bytes_count{protocol="tcp"}',
                    {inst[i]: s["tcp"] for i, s in sent.items()})
        for i, s in sent.items():
            r = by_instance(prom.query(
                f'quorumdns_dns_processing_seconds_count{{protocol="udp",'
                f'instance="{inst[i]}"}}'))
            assert r[inst[i]] >= s["udp_ok"] + s["nx"] + s["odd"], r
        wait_series(prom, 'sum(quorumdns_raft_state{state="leader"}) by (instance) > 0',
                    {inst[c.leader().id]: 1})
        wait_series(prom, "quorumdns_zones", {inst[i]: 3 for i in sent})
        zones = nodes[0].get("/v1/zones").json["zones"]
        sets = sum(zn["record_set_count"] for zn in zones)
        wait_series(prom, "quorumdns_record_sets", {inst[i]: sets for i in sent})
        acc = by_instance(prom.query(
            'quorumdns_api_change_batches_total{outcome="accepted"}'))
        assert acc[inst[c.leader().id]] >= 1, acc
        commits = by_instance(prom.query("quorumdns_api_change_batch_commit_seconds_count"))
        assert commits[inst[c.leader().id]] == acc[inst[c.leader().id]], commits
        up = by_instance(prom.query("up"))
        assert up == {inst[i]: 1 for i in sent}, up
        check_health_series(prom, inst, good, bad)
        check_dashboard(prom, scrape(nodes[0]).text)
    finally:
        prom.close()
        hold.close()
    assert not os.path.exists(prom.dir)

    # The exposition passes the strict parser and its lint.
    for n in nodes:
        r = scrape(n)
        assert r.status == 200, r
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=r.text.encode(),
                           capture_output=True, timeout=30)
        assert p.returncode == 0, (p.stdout + p.stderr).decode()[-3000:]
        # README's Metrics section documents every family a node exports.
        readme = (REPO / "README.md").read_text()
        for fam in re.findall(r"^# TYPE (\S+) ", r.text, re.M):
            assert re.search("`" + re.escape(fam) + "[`{]", readme), \
                f"README does not document {fam}"
        # The escaped label as it is on the wire.
        assert 'zone="q\\\\\\"t\\\\\\\\b\\\\010n.test."' in r.text, \
            [l for l in r.text.splitlines() if "zone=\"q" in l][:3]

    # quorumctl stats: one row per node with the same figures.
    stats = quorumctl_stats(nodes[0], "--json")
    assert stats.returncode == 0, stats.stderr
    rows = {row["id"]: row for row in json.loads(stats.stdout)}
    assert set(rows) == set(sent), rows
    for i, s in sent.items():
        assert rows[i]["nxdomain"] == s["nx"], rows[i]
        assert rows[i]["queries"] >= s["udp_ok"] + s["nx"] + s["tcp"] + s["odd"], rows[i]
        assert rows[i]["zones"] == 3 and rows[i]["record_sets"] == sets, rows[i]
    assert sorted(r["role"] for r in rows.values()) == ["follower", "follower", "leader"]
    table = quorumctl_stats(nodes[0])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "ROLE"], table.stdout
    assert len(lines) == 4, table.stdout
    # A member that does not answer: its row says so, exit 3.
    down = [n for n in nodes if n.id != c.leader().id][0]
    down.kill()
    table = quorumctl_stats(c.leader())
    assert table.returncode == 3, (table.stdout, table.stderr)
    row = [l for l in table.stdout.splitlines() if l.split()[0] == str(down.id)][0]
    assert "unreachable" in row and f"node {down.id}:" in table.stderr, table
    # Alone, the last node knows no leader: its staleness grows, not ready.
    last = [n for n in nodes if n.id != down.id and n.id != c.leader().id][0]
    m = parse_exposition(scrape(last).text)
    assert m[("quorumdns_served_staleness_seconds", frozenset())] == 0
    assert m[("quorumdns_ready", frozenset())] == 1
    c.leader().kill()
    time.sleep(2.5 * SLACK)
    m = parse_exposition(scrape(last).text)
    assert m[("quorumdns_served_staleness_seconds", frozenset())] >= 1.5, m
    assert m[("quorumdns_ready", frozenset())] == 0


def test_metrics_needs_a_token_unless_open(cluster_factory):
    c = cluster_factory()
    c.start(1)
    n = c.nodes[1]
    r = scrape(n, token=None)
    assert r.status == 401 and "metrics-access" in r.text, r
    assert scrape(n, token="not-a-token-at-all").status == 401
    r = scrape(n)
    assert r.status == 200 and "quorumdns_raft_term" in r.text, r
    n.stop()
    port = free_port()
    n.start(bootstrap=c.bootstrap_str([1]),
            extra=("--metrics-access", "open", "--metrics-listen", f"{n.host}:{port}"))
    c.wait_leader([1])
    r = scrape(n, token=None)
    assert r.status == 200 and "quorumdns_raft_term" in r.text, r
    # The separate listener serves /metrics and nothing else.
    r = http("GET", f"http://{n.host}:{port}/metrics", token=None)
    assert r.status == 200 and "quorumdns_raft_term" in r.text, r
    assert http("GET", f"http://{n.host}:{port}/v1/zones", token=READ_TOKEN).status == 404


def parse_exposition(text):
    """{(name, frozenset(labels)): value} of a /metrics answer."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_:]+)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def test_rate_limited_and_cookie_counts_match_health(cluster_factory):
    """RRL drops and slips, cookie outcomes and TCP connections reach
    /metrics with the same values /v1/health reports; dropped responses are
    the UDP messages left unanswered."""
    c = cluster_factory()
    c.start(1, extra=("--rrl-exempt", "none", "--rrl-rate", "1", "--rrl-slip", "2"))
    n = c.nodes[1]
    c.create_zone("rrl.test")
    q = dns.message.make_query("rrl.test", "SOA")
    # Queries with a client cookie alone (RFC 7873), which RRL still charges.
    qc = dns.message.make_query("rrl.test", "SOA", use_edns=0,
                                options=[dns.edns.GenericOption(10, b"\x01" * 8)])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(40):
        s.sendto(q.to_wire(), (n.host, n.dns_port))
    for _ in range(3):
        s.sendto(qc.to_wire(), (n.host, n.dns_port))
    s.close()
    dns.query.tcp(q, n.host, port=n.dns_port, timeout=2)
    end = time.monotonic() + 5 * SLACK
    while True:
        m = parse_exposition(scrape(n).text)
        h = n.health()["dns"]
        dropped = m[("quorumdns_dns_rrl_responses_total", frozenset({("action", "dropped")}))]
        slipped = m[("quorumdns_dns_rrl_responses_total", frozenset({("action", "slipped")}))]
        cookies = m[("quorumdns_dns_cookies_total", frozenset({("outcome", "client_only")}))]
        if (dropped + slipped >= 30 and cookies >= 3) or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert dropped == h["rrl"]["dropped"] and slipped == h["rrl"]["slipped"], (m, h)
    assert dropped >= 10 and slipped >= 10, (dropped, slipped)
    unanswered = m[("quorumdns_dns_unanswered_total", frozenset({("protocol", "udp")}))]
    assert unanswered == dropped
    trunc = m[("quorumdns_dns_truncated_total", frozenset({("protocol", "udp")}))]
    assert trunc >= slipped
    assert m[("quorumdns_dns_tcp_connections_accepted_total", frozenset())] == \
        h["tcp"]["accepted"] >= 1
    assert m[("quorumdns_dns_cookies_total", frozenset({("outcome", "client_only")}))] == \
        h["cookies"]["client_only"] == 3
