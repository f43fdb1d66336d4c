"""System tests of the API's defences against hostile clients, each
performing the attack on real quorumdns node processes (cluster mode):

- an unauthenticated body flood (many connections, each sending a large
  body slowly) while an operator keeps working: the node's RSS stays within
  64 MB of its idle figure and authenticated requests are served;
- the h2c upgrade and HTTP/2 prior knowledge on the cleartext port: refused;
- per-route body limits and connection caps (total, per source address),
  the first request head's deadline;
- a token over its write rate: 429 with Retry-After, other tokens and reads
  unaffected;
- an Idempotency-Key used for a zone creation and reused for a change batch
  on another zone: 409 IdempotencyKeyMismatch on every node, also after a
  leader change, never a silent success;
- a zone name of 252+ bytes without name servers (once an uninitialised
  read): 400 naming the field (run with QDNS_BIN pointing at build-asan/ to
  check it under ASan).

Run from tests/system:  /usr/bin/python3 -m pytest -q test_api_limits.py
"""

import socket
import threading
import time

import pytest

from cluster_util import ADMIN_TOKEN, READ_TOKEN, change

OTHER_ADMIN = "other-admin-secret-42"




def one_node(cluster_factory, *extra):
    """A single-voter cluster whose node runs with extra flags."""
    c = cluster_factory()
    c.bootstrap_ids = [1]
    c[1].start(bootstrap=c.bootstrap_str([1]), extra=list(extra))
    c.wait_ready([1])
    return c, c[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect(node, source="127.0.0.1", timeout=5.0):
    s = socket.create_connection((node.host, node.api_port), timeout=timeout,
                                 source_address=(source, 0))
    return s


def read_reply(s, timeout=5.0):
    """Bytes until the server closes (or timeout)."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def status_of(reply):
    line = reply.split(b"\r\n", 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def test_unauthenticated_body_flood_holds_no_memory_and_operators_are_served(
        cluster_factory):
    c, n = one_node(cluster_factory)
    c.create_zone("flood.test.")
    time.sleep(0.5)
    idle = rss_kb(n.proc.pid)
    stop = time.monotonic() + 8.0
    refused = [0]
    sent = [0]
    lock = threading.Lock()
    heads = [
        # no token, a 64 MiB import
        b"POST /v1/zones/flood.test/import HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 67108864\r\n\r\n",
        # a wrong token
        b"POST /v1/zones/flood.test/changes HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer not-the-token\r\nContent-Length: 67108864\r\n\r\n",
        # chunked, no token, on a public route
        b"POST /v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    ]

    def attacker(k):
        chunk = b"x" * 65536
        while time.monotonic() < stop:
            s = None
            try:
                s = connect(n, source=f"127.0.1.{k + 1}")
                s.sendall(heads[k % len(heads)])
                # the body, slowly, until the node closes the connection
                for _ in range(1024):
                    s.sendall(chunk)
                    with lock:
                        sent[0] += len(chunk)
                    time.sleep(0.01)
            except OSError:
                with lock:
                    refused[0] += 1
            finally:
                if s is not None:
                    s.close()

    threads = [threading.Thread(target=attacker, args=(k,)) for k in range(24)]
    for t in threads:
        t.start()
    peak = idle
    served = 0
    try:
        while time.monotonic() < stop:
            peak = max(peak, rss_kb(n.proc.pid))
            r = n.get("/v1/zones", timeout=5)
            assert r.status == 200, r
            r = n.post("/v1/zones/flood.test./changes",
                       {"changes": [change("UPSERT", f"w{served}.flood.test.", "A",
                                           ["192.0.2.1"])]}, timeout=5)
            assert r.status == 200, r
            served += 1
            time.sleep(0.05)
    finally:
        for t in threads:
            t.join()
    peak = max(peak, rss_kb(n.proc.pid))
    print(f"\nidle {idle} kB, peak {peak} kB during the flood, {served} operator "
          f"writes served, attackers sent {sent[0] >> 20} MiB, {refused[0]} closed")
    assert peak - idle < 64 * 1024, (idle, peak)
    assert served >= 10
    assert refused[0] >= 24  # every attacker connection was cut short
    assert n.alive()


def test_gate_answers_before_reading_the_body(cluster_factory):
    c, n = one_node(cluster_factory, "--api-body-limit", "1M",
                    "--api-small-body-limit", "16K")
    c.create_zone("gate.test.")
    cases = [
        (b"POST /v1/zones/gate.test/import HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n",
         401, b"Unauthorized"),
        (b"POST /v1/zones/gate.test/import HTTP/1.1\r\nContent-Length: 2000000\r\n"
         b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n",
         413, b"PayloadTooLarge"),
        (b"POST /v1/zones HTTP/1.1\r\nContent-Length: 20000\r\n"
         b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n",
         413, b"PayloadTooLarge"),
        (b"POST /v1/zones HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
         b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n",
         400, b"InvalidInput"),
        (b"GET /v1/health HTTP/1.1\r\nX-Pad: " + b"p" * 20000 + b"\r\n\r\n",
         431, b"too large"),
    ]
    for head, status, code in cases:
        s = connect(n)
        s.sendall(head)  # and no body at all: the answer must come anyway
        reply = read_reply(s)
        s.close()
        assert status_of(reply) == status, reply[:300]
        assert code in reply, reply[:300]
    # Within the limits, the same routes work.
    r = n.post("/v1/zones", {"name": "ok.gate.test."})
    assert r.status == 201, r


def test_h2c_upgrade_and_prior_knowledge_are_refused(cluster_factory):
    c, n = one_node(cluster_factory)
    s = connect(n)
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    reply = read_reply(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert b"101" not in reply.split(b"\r\n", 1)[0]
    s = connect(n)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    reply = read_reply(s)
    s.close()
    assert status_of(reply) == 400, reply[:200]


def test_connection_caps_and_head_deadline(cluster_factory):
    c, n = one_node(cluster_factory, "--api-max-connections", "6",
                    "--api-max-connections-per-address", "3", "--api-head-timeout", "2")
    held = [connect(n, "127.0.2.1") for _ in range(3)]
    time.sleep(0.2)
    s = connect(n, "127.0.2.1")
    reply = read_reply(s)
    s.close()
    assert status_of(reply) == 503 and b"TooManyConnections" in reply, reply
    # Another address still gets in, up to the total.
    held += [connect(n, "127.0.2.2") for _ in range(3)]
    time.sleep(0.2)
    s = connect(n, "127.0.2.3")
    reply = read_reply(s)
    s.close()
    assert status_of(reply) == 503 and b"maximum of API connections" in reply, reply
    # Idle connections without a request head are closed at the deadline...
    t0 = time.monotonic()
    for h in held:
        assert read_reply(h, timeout=10) == b""
        h.close()
    assert time.monotonic() - t0 < 8
    # ...and their slots are free again.
    r = n.get("/v1/zones")
    assert r.status == 200, r
    assert "refused a connection" in n.log()


def test_write_rate_per_token_is_429_with_retry_after(cluster_factory):
    c, n = one_node(cluster_factory, "--api-write-rate", "2", "--api-write-burst", "3",
                    "--api-token", f"admin:{OTHER_ADMIN}")
    statuses = []
    last = None
    for i in range(8):
        last = n.post("/v1/zones", {"name": f"z{i}.rate.test."})
        statuses.append(last.status)
        if last.status == 429:
            break
    assert 429 in statuses, statuses
    assert last.error["code"] == "TooManyRequests"
    import requests
    r = requests.post(n.api + "/v1/zones", json={"name": "again.rate.test."},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    assert r.status_code == 429
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 2
    # Reads, and another token, are not limited.
    assert n.get("/v1/zones").status == 200
    assert n.get("/v1/zones", token=READ_TOKEN).status == 200
    r = n.post("/v1/zones", {"name": "other.rate.test."}, token=OTHER_ADMIN)
    assert r.status == 201, r
    time.sleep(retry)
    r = n.post("/v1/zones", {"name": "later.rate.test."})
    assert r.status == 201, r


def test_idempotency_key_reused_for_another_request_is_refused(cluster_factory):
    c = cluster_factory()
    c.start(3)
    c.create_zone("other.test.")
    leader = c.leader()
    follower = c.followers()[0]
    key = {"Idempotency-Key": "key-reused-1"}
    r = leader.post("/v1/zones", {"name": "first.test."}, headers=key)
    assert r.status == 201, r
    first = r.json["change"]["id"]
    batch = {"changes": [change("CREATE", "www.other.test.", "A", ["192.0.2.7"])]}
    # The attack: the same key for a batch on another zone, on every node.
    for node in (leader, follower):
        r = node.post("/v1/zones/other.test./changes", batch, headers=key)
        assert r.status == 409, r
        assert r.error["code"] == "IdempotencyKeyMismatch", r
        assert r.error["field"] == "Idempotency-Key"
        assert first in r.error["message"]
    # Nothing was applied; the honest retry still gets the first change.
    c.wait_applied()
    for node in c.running():
        assert not node.values("www.other.test.")
    r = follower.post("/v1/zones", {"name": "first.test."}, headers=key)
    assert r.status == 200 and r.json["change"]["id"] == first, r
    # The key table is replicated: a new leader refuses the reuse too.
    assert leader.stop() == 0
    new = c.wait_leader(exclude=(leader.id,))
    r = new.post("/v1/zones/other.test./changes", batch, headers=key)
    assert r.status == 409 and r.error["code"] == "IdempotencyKeyMismatch", r
    # Same route and zone, another body: refused as well.
    r = new.post("/v1/zones", {"name": "first.test.", "ttl": 60}, headers=key)
    assert r.status == 409, r
    # Without the key, the batch goes through.
    r = new.post("/v1/zones/other.test./changes", batch)
    assert r.status == 200, r
    # A retried deletion gets its change although the zone is gone; the
    # deletion's key on another zone's deletion is refused.
    dkey = {"Idempotency-Key": "delete-1"}
    r = new.req("DELETE", "/v1/zones/first.test.", headers=dkey)
    assert r.status == 200, r
    again = new.req("DELETE", "/v1/zones/first.test.", headers=dkey)
    assert again.status == 200 and again.json["change"]["id"] == r.json["change"]["id"], again
    r = new.req("DELETE", "/v1/zones/other.test.?force=true", headers=dkey)
    assert r.status == 409 and r.error["code"] == "IdempotencyKeyMismatch", r
    # A malformed key is refused, not ignored.
    r = new.post("/v1/zones/other.test./changes", batch,
                 headers={"Idempotency-Key": "k" * 160})
    assert r.status == 400 and r.error["field"] == "Idempotency-Key", r


def test_long_zone_name_without_nameservers_is_400(cluster_factory):
    c, n = one_node(cluster_factory)
    for last in (58, 59, 60, 61):  # wire lengths 252..255
        name = ".".join(["a" * 63] * 3 + ["b" * last]) + "."
        r = n.post("/v1/zones", {"name": name})
        assert r.status == 400, r
        assert r.error["field"] == "nameservers", r
    name = ".".join(["a" * 63] * 3 + ["b" * 58]) + "."
    r = n.post("/v1/zones", {"name": name, "nameservers": ["ns.example."]})
    assert r.status == 201, r
    assert n.alive()


def test_gate_over_tls(cluster_factory, tmp_path):
    """The same gate when the API is TLS: the head is judged after the
    handshake, no HTTP/2 is offered, and a token's connection is kept alive."""
    import ssl
    import subprocess

    import requests

    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2",
                        "-subj", "/CN=quorumdns-test"], capture_output=True)
    if r.returncode != 0:
        pytest.skip("openssl cannot make a test certificate")
    c = cluster_factory(tls=(cert, key))
    c.bootstrap_ids = [1]
    n = c[1]
    n.start(bootstrap=c.bootstrap_str([1]))
    c.wait_ready([1])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    raw = connect(n)
    s = ctx.wrap_socket(raw)
    assert s.selected_alpn_protocol() in (None, "http/1.1")
    s.sendall(b"POST /v1/zones/x/import HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 67108864\r\n\r\n")
    reply = read_reply(s)
    s.close()
    assert status_of(reply) == 401, reply[:200]
    with requests.Session() as sess:
        sess.verify = False
        h = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for i in range(3):
            r = sess.get(n.api + "/v1/zones", headers=h, timeout=5, verify=False)
            assert r.status_code == 200
            assert r.headers.get("Connection", "").lower() != "close"
        r = sess.get(n.api + "/v1/health", timeout=5, verify=False)
        assert r.status_code == 200 and r.headers.get("Connection", "").lower() == "close"
