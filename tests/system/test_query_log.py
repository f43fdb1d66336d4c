"""The query log (--query-log): one line per query, written off the query
path, reopened on SIGHUP.

- The lines of a one-node cluster's log are exactly the queries the test
  sent (names, types, rcodes, protocols, counts).
- Sampling (1 in N) and the zone filter log exactly the expected subset.
- Under a flood of UDP queries, with a small queue and the file renamed and
  SIGHUP sent several times (as logrotate does), the lines in all the files
  plus the drops the node counts (/metrics) equal the queries it received:
  no line is lost without being counted.

Run: cd tests/system && /usr/bin/python3 -m pytest -q test_query_log.py
"""

import collections
import os
import re
import signal
import socket
import time

import dns.message
import dns.rcode

from cluster_util import metric

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))
LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z node=(\d+) client=([0-9a-f.:]+)#(\d+) "
    r"ecs=- zone=(\S+) name=(\S+) type=(\S+) class=(\S+) rcode=(\S+) flags=(\S+) "
    r"proto=(udp|tcp) size=(\d+) time_us=(\d+) policy=-$")


def start_node(cluster_factory, tmp_path, *flags):
    log = tmp_path / "query.log"
    c = cluster_factory()
    c.start(1, extra=("--query-log", str(log), *flags))
    n = c.nodes[1]
    c.create_zone("log.test")
    r = n.post("/v1/zones/log.test/changes",
               {"changes": [{"action": "UPSERT", "rrset": {
                   "name": "www.log.test", "type": "A", "ttl": 60,
                   "records": ["192.0.2.7"]}}]})
    assert r.status == 200, r
    c.create_zone("other.test")
    end = time.monotonic() + 10 * SLACK
    while n.values("www.log.test", "A") != {"192.0.2.7"}:
        assert time.monotonic() < end, n.log()
        time.sleep(0.05)
    return c, n, log


def read_lines(*paths):
    out = []
    for p in paths:
        if os.path.exists(p):
            with open(p) as f:
                out += f.read().splitlines()
    return out


def settled(node, path):
    """The log's lines once the writer has written what the node counted."""
    end = time.monotonic() + 10 * SLACK
    while True:
        time.sleep(0.1)
        lines = read_lines(path)
        if len(lines) == metric(node, "quorumdns_query_log_lines_total"):
            return lines
        assert time.monotonic() < end, "the query log never caught up"


def wait_lines(path, count, timeout=10.0):
    end = time.monotonic() + timeout * SLACK
    lines = []
    while time.monotonic() < end:
        lines = read_lines(path)
        if len(lines) >= count:
            time.sleep(0.1)  # anything more would be a wrong line
            return read_lines(path)
        time.sleep(0.05)
    return lines


def test_query_log_lines_are_exactly_the_queries_sent(cluster_factory, tmp_path):
    c, n, log = start_node(cluster_factory, tmp_path)
    before = len(settled(n, log))  # the readiness queries
    sent = collections.Counter()
    for _ in range(5):
        assert n.q("www.log.test", "A").rcode() == dns.rcode.NOERROR
        sent[("www.log.test.", "A", "NOERROR", "udp", "log.test.")] += 1
    for _ in range(3):
        assert n.q("nope.log.test", "AAAA").rcode() == dns.rcode.NXDOMAIN
        sent[("nope.log.test.", "AAAA", "NXDOMAIN", "udp", "log.test.")] += 1
    for _ in range(2):
        assert n.q("www.log.test", "A", tcp=True).rcode() == dns.rcode.NOERROR
        sent[("www.log.test.", "A", "NOERROR", "tcp", "log.test.")] += 1
    assert n.q("www.example.net", "MX").rcode() == dns.rcode.REFUSED
    sent[("www.example.net.", "MX", "REFUSED", "udp", "-")] += 1
    # A name with a space and a quote stays on one line, escaped.
    assert n.q('a\\032b\\".log.test', "TXT").rcode() == dns.rcode.NXDOMAIN
    sent[('a\\032b\\".log.test.', "TXT", "NXDOMAIN", "udp", "log.test.")] += 1
    total = before + sum(sent.values())
    lines = wait_lines(log, total)
    assert len(lines) == total, lines[-20:]
    got = collections.Counter()
    for line in lines[before:]:
        m = LINE.match(line)
        assert m, line
        node, client, port, zone, name, qtype, qclass, rcode, flags, proto = m.groups()[:10]
        assert node == "1" and client == "127.0.0.1" and qclass == "IN", line
        assert "qr" in flags.split(","), line
        got[(name, qtype, rcode, proto, zone)] += 1
    assert got == sent
    assert metric(n, "quorumdns_query_log_lines_total") == total
    assert metric(n, "quorumdns_query_log_dropped_total") == 0


def test_query_log_sampling_and_zone_filter(cluster_factory, tmp_path):
    c, n, log = start_node(cluster_factory, tmp_path, "--query-log-sample", "4",
                           "--query-log-zones", "LOG.test")
    base = len(settled(n, log))  # readiness queries of log.test, sampled
    for i in range(40):
        assert n.q(f"q{i}.log.test", "A").rcode() == dns.rcode.NXDOMAIN
    for i in range(10):
        n.q("other.test", "SOA")
    time.sleep(0.5 * SLACK)
    lines = read_lines(log)[base:]
    assert len(lines) == 10, lines  # 40 / 4; none of other.test
    assert all(" zone=log.test. " in l for l in lines), lines


def flood(host, port, seconds):
    """Fire-and-forget UDP queries from one socket; returns how many were sent."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    wires = [dns.message.make_query(f"f{i}.log.test", "A").to_wire() for i in range(64)]
    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end:
        for w in wires:
            try:
                s.sendto(w, (host, port))
                sent += 1
            except BlockingIOError:
                pass
        time.sleep(0.0005)
    s.close()
    return sent


def rotate_under_flood(node, path, seconds=3.0):
    """Floods the node with UDP queries for `seconds` while renaming path to
    path.1, path.2, ... and sending SIGHUP after each rename, as logrotate
    does; returns (the rotated paths, queries sent)."""
    import threading
    done = threading.Event()
    result = {}

    def run():
        result["sent"] = flood(node.host, node.dns_port, seconds)
        done.set()

    t = threading.Thread(target=run)
    t.start()
    rotated = []
    while not done.is_set():
        time.sleep(0.4)
        dest = path.with_name(f"{path.name}.{len(rotated) + 1}")
        os.rename(path, dest)  # logrotate: rename, then tell the node
        rotated.append(dest)
        node.proc.send_signal(signal.SIGHUP)
    t.join()
    assert len(rotated) >= 3
    return rotated, result["sent"]


def test_query_log_sighup_reopen_under_load_loses_no_uncounted_line(
        cluster_factory, tmp_path):
    c, n, log = start_node(cluster_factory, tmp_path, "--query-log-queue", "64")
    rotated, sent = rotate_under_flood(n, log)
    k = len(rotated)
    # Wait until the node has answered everything and the writer is idle.
    end = time.monotonic() + 20 * SLACK
    last = None
    while time.monotonic() < end:
        now = (metric(n, "quorumdns_dns_queries_total"),
               metric(n, "quorumdns_query_log_lines_total"),
               metric(n, "quorumdns_query_log_dropped_total"))
        if now == last:
            break
        last = now
        time.sleep(0.5)
    received, written, dropped = last
    lines = read_lines(*rotated, log)
    assert len(lines) == written, (len(lines), written)
    assert all(LINE.match(l) for l in lines)
    assert written + dropped == received, (written, dropped, received)
    assert metric(n, "quorumdns_query_log_reopens_total") == k
    assert received > 1000, received
    print(f"flood: {sent} sent, {received} received, {written} logged, "
          f"{dropped} dropped, {k} rotations")
