"""dnstap (--dnstap-file, --dnstap-socket): AUTH_QUERY and AUTH_RESPONSE
frames of every query, written off the query path, decoded here by BIND's
`dnstap-read` and captured from a Unix socket by fstrm's `fstrm_capture`.

- The frames of a one-node cluster's file are exactly the queries the test
  sent, over UDP and TCP (names, types, rcodes, protocols, counts, message
  types), with the node's name as identity and the client's and the
  listener's addresses and ports; /metrics counts the same frames.
- --dnstap-messages response writes AUTH_RESPONSE frames alone; a bad list
  or both outputs at once stop the node with a clear message.
- A collector that is not there at start is connected within a second or
  two of its arrival: fstrm_capture receives exactly the frames the node
  counts as written, including the known queries; the frames sent while no
  collector listened are counted as lost.
- Under a flood of UDP queries, with a small queue and the file renamed and
  SIGHUP sent several times (as logrotate does), the frames in all the files
  plus the drops the node counts equal the queries it received: nothing is
  lost without being counted.

Run: cd tests/system && /usr/bin/python3 -m pytest -q test_dnstap.py
"""

import collections
import os
import signal
import subprocess
import time

import dns.rcode
import yaml

from cluster_util import READ_TOKEN, http
from conftest import QDNS_BIN
from test_query_log import rotate_under_flood

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


def start_node(cluster_factory, *flags):
    c = cluster_factory()
    c.start(1, extra=flags)
    n = c.nodes[1]
    c.create_zone("tap.test")
    r = n.post("/v1/zones/tap.test/changes",
               {"changes": [{"action": "UPSERT", "rrset": {
                   "name": "www.tap.test", "type": "A", "ttl": 60,
                   "records": ["192.0.2.9"]}},
                  # An answer of about 1,600 bytes: more than a queue slot
                  # holds inline (dns/dnstap.c copies it to the heap).
                  {"action": "UPSERT", "rrset": {
                   "name": "big.tap.test", "type": "TXT", "ttl": 60,
                   "records": [" ".join(f'"{c * 250}"' for c in "abcdef")]}}]})
    assert r.status == 200, r
    end = time.monotonic() + 10 * SLACK
    while n.values("www.tap.test", "A") != {"192.0.2.9"}:
        assert time.monotonic() < end, n.log()
        time.sleep(0.05)
    return c, n


def metric(node, name, label=None):
    text = http("GET", node.api + "/metrics", token=READ_TOKEN).text
    total = 0.0
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if label is None or label in line:
            total += float(line.split()[-1])
    return total


def frames_written(node):
    return metric(node, "quorumdns_dnstap_frames_total")


def settle(node):
    """Waits until the node's counters stop moving; returns (received,
    frames written, dropped, lost)."""
    end = time.monotonic() + 20 * SLACK
    last = None
    while time.monotonic() < end:
        now = (metric(node, "quorumdns_dns_queries_total"), frames_written(node),
               metric(node, "quorumdns_dnstap_dropped_total"),
               metric(node, "quorumdns_dnstap_lost_total"))
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    raise AssertionError("the node's dnstap counters never settled")


def read_yaml(path):
    """Every frame of a dnstap file, as dnstap-read -y decodes it."""
    out = subprocess.run(["dnstap-read", "-y", str(path)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def count_frames(path):
    """(AUTH_QUERY, AUTH_RESPONSE) frames of a dnstap file (dnstap-read's
    one line per frame)."""
    if not os.path.exists(path):
        return 0, 0
    out = subprocess.run(["dnstap-read", str(path)], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    return (sum(1 for l in out if " AQ " in l), sum(1 for l in out if " AR " in l))


def summary(frame):
    """(message type, name, type, rcode or None, protocol) of one frame."""
    m = frame["message"]
    key = "response_message_data" if m["type"] == "AUTH_RESPONSE" else "query_message_data"
    data = m[key]
    name, _cls, qtype = data["QUESTION_SECTION"][0].split()
    rcode = data["status"] if m["type"] == "AUTH_RESPONSE" else None
    return (m["type"], name, qtype, rcode, m["socket_protocol"])


def send_known(n):
    """Known queries over UDP and TCP; returns the frames they must make."""
    sent = collections.Counter()

    def both(name, qtype, rcode, proto):
        sent[("AUTH_QUERY", name, qtype, None, proto)] += 1
        sent[("AUTH_RESPONSE", name, qtype, rcode, proto)] += 1

    for _ in range(4):
        assert n.q("www.tap.test", "A").rcode() == dns.rcode.NOERROR
        both("www.tap.test.", "A", "NOERROR", "UDP")
    for _ in range(3):
        assert n.q("nope.tap.test", "AAAA").rcode() == dns.rcode.NXDOMAIN
        both("nope.tap.test.", "AAAA", "NXDOMAIN", "UDP")
    for _ in range(2):
        assert n.q("www.tap.test", "A", tcp=True).rcode() == dns.rcode.NOERROR
        both("www.tap.test.", "A", "NOERROR", "TCP")
    assert n.q("nope.tap.test", "TXT", tcp=True).rcode() == dns.rcode.NXDOMAIN
    both("nope.tap.test.", "TXT", "NXDOMAIN", "TCP")
    assert n.q("www.example.net", "MX").rcode() == dns.rcode.REFUSED
    both("www.example.net.", "MX", "REFUSED", "UDP")
    big = n.q("big.tap.test", "TXT", tcp=True)
    assert big.rcode() == dns.rcode.NOERROR and len(big.to_wire()) > 1500
    both("big.tap.test.", "TXT", "NOERROR", "TCP")
    return sent


def test_dnstap_file_frames_are_exactly_the_queries_sent(cluster_factory, tmp_path):
    tap = tmp_path / "q.tap"
    c, n = start_node(cluster_factory, "--dnstap-file", str(tap))
    _, before, _, _ = settle(n)  # the readiness queries
    sent = send_known(n)
    received, written, dropped, lost = settle(n)
    assert written == before + sum(sent.values())
    assert dropped == 0 and lost == 0
    frames = read_yaml(tap)
    assert len(frames) == written
    got = collections.Counter(summary(f) for f in frames[int(before):])
    assert got == sent
    assert metric(n, "quorumdns_dnstap_frames_total", 'type="auth_query"') == \
        sum(1 for f in frames if f["message"]["type"] == "AUTH_QUERY")
    for f in frames[int(before):]:
        m = f["message"]
        assert f["type"] == "MESSAGE" and f["identity"] == "n1", f
        assert f["version"].startswith("quorumdns "), f
        assert m["socket_family"] == "INET", f
        assert m["query_address"] == "127.0.0.1", f
        assert m["response_address"] == n.host, f
        assert m["response_port"] == n.dns_port and 0 < m["query_port"] < 65536, f
        if summary(f)[:2] == ("AUTH_RESPONSE", "big.tap.test."):
            assert len(m["response_message_data"]["ANSWER_SECTION"]) == 1, f
            assert int(m["message_size"].rstrip("b")) > 1500, f
        when = m["response_time" if m["type"] == "AUTH_RESPONSE" else "query_time"]
        assert abs(when.timestamp() - time.time()) < 120 * SLACK, f


def test_dnstap_message_selection_and_bad_settings(cluster_factory, tmp_path):
    tap = tmp_path / "r.tap"
    c, n = start_node(cluster_factory, "--dnstap-file", str(tap),
                      "--dnstap-messages", "response")
    _, before, _, _ = settle(n)
    for _ in range(3):
        assert n.q("www.tap.test", "A").rcode() == dns.rcode.NOERROR
    _, written, _, _ = settle(n)
    assert written == before + 3
    frames = read_yaml(tap)
    assert len(frames) == written
    assert all(f["message"]["type"] == "AUTH_RESPONSE" for f in frames)
    assert metric(n, "quorumdns_dnstap_frames_total", 'type="auth_query"') == 0

    def refused(*flags):
        p = subprocess.run([str(QDNS_BIN), "-l", "127.0.0.1:1", *flags],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode != 0, p
        return p.stderr + p.stdout

    assert "dnstap-messages: 'queries' is not query or response" in refused(
        "--dnstap-file", str(tmp_path / "x.tap"), "--dnstap-messages", "query,queries")
    assert "dnstap-messages" in refused("--dnstap-file", str(tmp_path / "x.tap"),
                                        "--dnstap-messages", "")
    assert "either --dnstap-file or --dnstap-socket" in refused(
        "--dnstap-file", str(tmp_path / "x.tap"), "--dnstap-socket",
        str(tmp_path / "s"))
    assert "dnstap file" in refused("--dnstap-file", str(tmp_path / "no" / "x.tap"))


def test_dnstap_socket_collector_connected_late_receives_every_frame(
        cluster_factory, tmp_path):
    sock = tmp_path / "tap.sock"
    out = tmp_path / "captured.tap"
    c, n = start_node(cluster_factory, "--dnstap-socket", str(sock))
    # No collector yet: the readiness queries' frames are lost, and counted.
    _, written0, _, lost0 = settle(n)
    assert written0 == 0 and lost0 > 0
    cap = subprocess.Popen(["fstrm_capture", "-t", "protobuf:dnstap.Dnstap",
                            "-u", str(sock), "-w", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 15 * SLACK
        while frames_written(n) == 0:  # reconnected at most a second after a frame
            assert time.monotonic() < end, n.log()
            assert n.q("www.tap.test", "A").rcode() == dns.rcode.NOERROR
            time.sleep(0.2)
        sent = send_known(n)
        received, written, dropped, lost = settle(n)
        assert dropped == 0
        assert metric(n, "quorumdns_dnstap_reopens_total") >= 1
        # Every query received made two frames, written or counted as lost.
        assert written + lost == 2 * received
        assert n.stop() == 0  # the STOP frame; the collector answers FINISH
    finally:
        cap.send_signal(signal.SIGTERM)
        log = cap.communicate(timeout=20)[0].decode(errors="replace")
    frames = read_yaml(out)
    assert len(frames) == written, log
    got = collections.Counter(summary(f) for f in frames)
    for key, count in sent.items():
        assert got[key] >= count, (key, got)
    tail = collections.Counter(summary(f) for f in frames[-sum(sent.values()):])
    assert tail == sent
    assert all(f["identity"] == "n1" for f in frames)


def test_dnstap_sighup_reopen_under_load_loses_nothing_uncounted(
        cluster_factory, tmp_path):
    tap = tmp_path / "flood.tap"
    c, n = start_node(cluster_factory, "--dnstap-file", str(tap),
                      "--dnstap-queue", "64")
    rotated, sent = rotate_under_flood(n, tap)
    k = len(rotated)
    received, written, dropped, lost = settle(n)
    assert metric(n, "quorumdns_dnstap_reopens_total") == k
    assert n.stop() == 0  # closes the last file with its STOP frame
    aq = ar = 0
    for path in rotated + [tap]:
        q, r = count_frames(path)
        aq += q
        ar += r
    assert lost == 0
    assert aq + ar == written, (aq, ar, written)
    assert aq == ar  # every query logged was answered, and its answer logged
    assert aq + dropped == received, (aq, dropped, received)
    assert received > 1000, received
    print(f"flood: {sent} sent, {received} received, {aq} queries tapped, "
          f"{dropped} dropped, {k} rotations")
