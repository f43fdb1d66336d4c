"""Helpers for system tests that run a quorumdns *cluster* (cluster mode,
--data-dir): real node processes on 127.0.0.11, .12, ... with one set of
ports shared by all nodes (each node has its own loopback address), an HTTP
client for the API, and DNS helpers.

A test builds a Cluster, starts nodes, and calls cluster.close() at the end
(the `cluster_factory` fixture in test_cluster.py does it), which stops every
node, asserts that no node process is left running and that no node port is
still bound, and removes the data directories.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

REPO = Path(__file__).resolve().parents[2]
QDNS_BIN = Path(os.environ.get("QDNS_BIN", REPO / "build" / "node" / "quorumdns"))

ADMIN_TOKEN = "admin-secret-0123456789"
READ_TOKEN = "read-secret-9876543210"


def wait_for(pred, timeout, what, step=0.05):
    """Polls pred() every step seconds until it is true; fails after
    timeout seconds naming what it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def race_at_leader(cluster, calls, hold=0.15):
    """Calls each of calls (functions of the leader) at once while every
    follower is stopped (SIGSTOP), so that the leader proposes them all
    before it can commit one, then lets the followers go on: the later ones
    are judged when they are applied, not before they are proposed.  hold
    stays well inside an election timeout (400 ms), so the leader keeps its
    term.  Returns the calls' results, in order."""
    leader = cluster.leader()
    followers = cluster.followers()
    results = [None] * len(calls)

    def run(i):
        results[i] = calls[i](leader)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for f in followers:
        f.proc.send_signal(signal.SIGSTOP)
    try:
        for t in threads:
            t.start()
        time.sleep(hold)
    finally:
        for f in followers:
            f.proc.send_signal(signal.SIGCONT)
    for t in threads:
        t.join()
    return results


def assert_key_races(same, mixed, kind):
    """The answers of two race_at_leader rounds of creates with one key
    each: the same body twice made one object (201, then 200 with it); two
    bodies made one and a refusal (409 IdempotencyKeyMismatch).  kind: the
    answer's object ("healthcheck", "cidr_collection")."""
    assert sorted(r.status for r in same) == [200, 201], same
    assert len({r.json[kind]["id"] for r in same}) == 1, same
    assert sorted(r.status for r in mixed) == [201, 409], mixed
    assert [r.json["error"]["code"] for r in mixed if r.status == 409] == [
        "IdempotencyKeyMismatch"], mixed


def node_host(i):
    return f"127.0.0.{10 + i}"


# --------------------------------------------------------------- ports


def _bindable(host, port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


_taken = set()
_taken_lock = threading.Lock()


def pick_ports(hosts, n=3):
    """n distinct ports free (TCP and UDP) on every host in hosts.  Random in
    a range away from the ephemeral range so parallel runs rarely clash;
    ports handed out by this process are never handed out again."""
    ports = []
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    with _taken_lock:
        for _ in range(5000):
            p = rnd.randrange(20000, 32000)
            if p in _taken or p in ports:
                continue
            if all(_bindable(h, p) for h in hosts):
                ports.append(p)
                _taken.add(p)
                if len(ports) == n:
                    return ports
    raise RuntimeError("no free ports")


# --------------------------------------------------------------- API client


class Resp:
    """A small wrapper around an HTTP reply: status, parsed JSON (or None),
    text, elapsed seconds."""

    def __init__(self, status, body, text, elapsed):
        self.status = status
        self.json = body
        self.text = text
        self.elapsed = elapsed

    @property
    def error(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"]
        return None

    def __repr__(self):
        return f"<Resp {self.status} {self.text[:300]!r}>"


def http(method, url, *, body=None, raw=None, token=ADMIN_TOKEN, headers=None,
         timeout=5.0, content_type=None):
    """One HTTP request; returns Resp.  Raises requests exceptions on
    connection errors / timeouts."""
    h = {}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if headers:
        h.update(headers)
    data = None
    if raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        h.setdefault("Content-Type", content_type or "application/json")
    elif body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    t0 = time.monotonic()
    # Test clusters use a self-signed certificate: no verification here.
    r = requests.request(method, url, data=data, headers=h, timeout=timeout,
                         verify=False)
    el = time.monotonic() - t0
    try:
        js = r.json()
    except ValueError:
        js = None
    return Resp(r.status_code, js, r.text, el)


def rrset(name, rtype, records, ttl=300, set_identifier=None):
    rs = {"name": name, "type": rtype, "ttl": ttl, "records": list(records)}
    if set_identifier is not None:
        rs["set_identifier"] = set_identifier
    return rs


def metric(node, name):
    """The sum of a metric's samples (all label sets) in node's /metrics."""
    text = http("GET", node.api + "/metrics", token=READ_TOKEN).text
    return sum(float(l.split()[-1]) for l in text.splitlines()
               if l.startswith(name + "{") or l.startswith(name + " "))


def change(action, name, rtype, records, ttl=300):
    return {"action": action, "rrset": rrset(name, rtype, records, ttl)}


# --------------------------------------------------------------- DNS


def dns_query(host, port, qname, qtype="A", timeout=1.0, tcp=False):
    q = dns.message.make_query(qname, qtype, use_edns=False)
    q.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(q, host, port=port, timeout=timeout)
    return dns.query.udp(q, host, port=port, timeout=timeout)


def answer_values(resp, qname, qtype):
    """The set of RDATA strings of the (qname, qtype) RRset in the answer."""
    name = dns.name.from_text(qname)
    rdt = dns.rdatatype.from_text(qtype)
    out = set()
    for rs in resp.answer:
        if rs.name == name and rs.rdtype == rdt:
            out |= {r.to_text() for r in rs}
    return out


# --------------------------------------------------------------- nodes


class Node:
    def __init__(self, cluster, nid):
        self.cluster = cluster
        self.id = nid
        self.host = node_host(nid)
        self.dns_port = cluster.dns_port
        self.raft_port = cluster.raft_port
        self.api_port = cluster.api_port
        self.data_dir = cluster.root / f"n{nid}" / "data"
        self.logfile = cluster.root / f"n{nid}" / "node.log"
        self.proc = None
        self.admin_token = ADMIN_TOKEN  # this node's own (nodes need not share it)
        self.runs = []          # every Popen ever started for this node
        self.expected_exit = None

    # addresses
    @property
    def raft(self):
        return f"{self.host}:{self.raft_port}"

    @property
    def api(self):
        scheme = "https" if self.cluster.tls else "http"
        return f"{scheme}://{self.host}:{self.api_port}"

    @property
    def dns_addr(self):
        return f"{self.host}:{self.dns_port}"

    def member_json(self, role="voter"):
        return {"id": self.id, "name": f"n{self.id}", "raft": self.raft,
                "dns": self.dns_addr, "api": f"{self.host}:{self.api_port}",
                "role": role}

    def cmd(self, bootstrap=None, join=None, join_role=None, extra=()):
        c = [str(QDNS_BIN), "--data-dir", str(self.data_dir), "--node-id", str(self.id),
             "--raft-listen", self.raft, "--api-listen", f"{self.host}:{self.api_port}",
             "-l", self.dns_addr, "--api-token", f"admin:{self.admin_token}",
             "--api-token", f"read:{READ_TOKEN}", "--log-level", os.environ.get("QDNS_LOG_LEVEL", "info")]
        if self.cluster.tls:
            c += ["--api-tls-cert", str(self.cluster.tls[0]),
                  "--api-tls-key", str(self.cluster.tls[1])]
        if self.cluster.raft_transport == "plaintext":
            c += ["--raft-transport", "plaintext"]
        else:
            cert, key = self.cluster.node_cert(self.id)
            c += ["--node-ca", str(self.cluster.pki / "ca.crt"),
                  "--node-cert", str(cert), "--node-key", str(key)]
        if bootstrap:
            c += ["--bootstrap", bootstrap]
        if join:
            c += ["--join", join]
        if join_role:
            c += ["--join-role", join_role]
        return c + list(extra)

    def start(self, bootstrap=None, join=None, join_role=None, extra=()):
        assert self.proc is None or self.proc.poll() is not None, f"n{self.id} already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.logfile, "ab")
        log.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.cmd(bootstrap, join, join_role, extra),
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        self.runs.append(self.proc)
        self.expected_exit = None
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail=6000):
        try:
            return self.logfile.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal and wait; returns the exit code (negative for a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"n{self.id} did not exit {timeout}s after {sig!r}:\n"
                                     + self.log())
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    # API
    def req(self, method, path, **kw):
        kw.setdefault("token", self.admin_token)
        return http(method, self.api + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body=body, **kw)

    def health(self, timeout=1.0):
        try:
            r = http("GET", self.api + "/v1/health", token=None, timeout=timeout)
            # 503: alive but not ready (restoring, no leader, lagging)
            return r.json if r.status in (200, 503) else None
        except requests.RequestException:
            return None

    # DNS
    def q(self, qname, qtype="A", timeout=1.0, tcp=False):
        return dns_query(self.host, self.dns_port, qname, qtype, timeout, tcp)

    def values(self, qname, qtype="A", timeout=1.0):
        """RDATA strings answered for qname/qtype, or None on timeout/error."""
        try:
            r = self.q(qname, qtype, timeout)
        except (dns.exception.Timeout, OSError):
            return None
        return answer_values(r, qname, qtype)


def make_ca(directory):
    """A cluster CA in directory (ca.key, ca.crt), made by `quorumdns ca init`."""
    subprocess.run([str(QDNS_BIN), "ca", "init", str(directory)], check=True,
                   stdout=subprocess.DEVNULL)
    return Path(directory)


def issue_cert(ca_dir, node_id, out, ips=()):
    """A node certificate naming node_id (out.crt, out.key), from ca_dir's CA."""
    cmd = [str(QDNS_BIN), "ca", "issue", str(ca_dir), "--node-id", str(node_id),
           "--out", str(out), "--force"]
    for ip in ips:
        cmd += ["--ip", ip]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return Path(f"{out}.crt"), Path(f"{out}.key")


class Cluster:
    def __init__(self, root, max_nodes=5, tls=None,
                 raft_transport=os.environ.get("QDNS_TEST_RAFT_TRANSPORT", "tls")):
        self.tls = tls  # (certificate file, key file): the API over TLS
        # "tls" (the default): node certificates from a CA made here;
        # "plaintext": raft_uv_tcp, unauthenticated.
        self.raft_transport = raft_transport
        if not QDNS_BIN.exists():
            pytest.skip(f"quorumdns binary not built: {QDNS_BIN}")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.pki = self.root / "pki"
        self._certs = {}
        if raft_transport == "tls":
            make_ca(self.pki)
        self.max_nodes = max_nodes
        hosts = [node_host(i) for i in range(1, max_nodes + 1)]
        self.dns_port, self.raft_port, self.api_port = pick_ports(hosts, 3)
        self.nodes = {i: Node(self, i) for i in range(1, max_nodes + 1)}
        self.bootstrap_ids = []

    def __getitem__(self, i):
        return self.nodes[i]

    def node_cert(self, i):
        """Node i's certificate and key files (issued on first use)."""
        if i not in self._certs:
            self._certs[i] = issue_cert(self.pki, i, self.pki / f"node-{i}",
                                        ips=[node_host(i)])
        return self._certs[i]

    def bootstrap_str(self, ids):
        return ",".join(f"{i}@{self.nodes[i].raft}" for i in ids)

    def start(self, n=3, wait=True, extra=()):
        """Bootstrap nodes 1..n (extra: more flags for each) and wait for a
        leader that all of them see."""
        self.bootstrap_ids = list(range(1, n + 1))
        bs = self.bootstrap_str(self.bootstrap_ids)
        for i in self.bootstrap_ids:
            self.nodes[i].start(bootstrap=bs, extra=extra)
        if wait:
            self.wait_ready(self.bootstrap_ids)
        return self

    def restart(self, i, **kw):
        """Start node i again with its original command line (bootstrap list)."""
        node = self.nodes[i]
        if i in self.bootstrap_ids:
            return node.start(bootstrap=self.bootstrap_str(self.bootstrap_ids), **kw)
        return node.start(**kw)

    def running(self):
        return [n for n in self.nodes.values() if n.alive()]

    def check_alive(self, ids=None):
        nodes = [self.nodes[i] for i in ids] if ids else [n for n in self.nodes.values() if n.proc]
        for n in nodes:
            if n.expected_exit is None and not n.alive():
                raise AssertionError(f"n{n.id} died (rc {n.proc.returncode}):\n{n.log()}")

    def wait_leader(self, ids=None, timeout=10.0, exclude=()):
        """Wait until every node in ids reports the same leader in /v1/health
        (not one of exclude); return the leader Node."""
        ids = ids or [n.id for n in self.running()]
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            self.check_alive(ids)
            hs = {i: self.nodes[i].health() for i in ids}
            last = hs
            leaders = {h.get("leader") if h else None for h in hs.values()}
            if len(leaders) == 1:
                lid = leaders.pop()
                # The leader itself must say so: right after a leader stops,
                # the others still name it until their election timeout.
                h = hs[lid] if lid in hs else (
                    self.nodes[lid].health() if lid in self.nodes and self.nodes[lid].alive()
                    else None)
                if lid and lid not in exclude and h and h.get("role") == "leader":
                    return self.nodes[lid]
            time.sleep(0.05)
        raise AssertionError(f"no common leader among {ids} after {timeout}s: {last}\n"
                             + "\n".join(f"--- n{i}\n{self.nodes[i].log(2000)}" for i in ids))

    def wait_healthy(self, ids, timeout=10.0):
        """Wait until every node in ids answers GET /v1/health with 200 and
        "ready": true (restored, a leader known, not lagging)."""
        end = time.monotonic() + timeout
        while True:
            self.check_alive(ids)
            hs = {i: self.nodes[i].health() for i in ids}
            if all(h and h.get("ready") for h in hs.values()):
                return
            if time.monotonic() > end:
                raise AssertionError(f"not ready after {timeout} s: {hs}\n" + "\n".join(
                    f"--- n{i}\n{self.nodes[i].log(2000)}" for i in ids))
            time.sleep(0.05)

    def wait_ready(self, ids=None, timeout=10.0):
        """wait_leader, then until the leader's member table holds the API
        address of every node in ids (nodes announce their addresses through
        the log after the first election; until then a follower cannot
        forward writes)."""
        ids = ids or [n.id for n in self.running()]
        ld = self.wait_leader(ids, timeout)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ok = True
            for i in ids:
                r = self.nodes[i].get("/v1/cluster", timeout=1.0)
                if r.status != 200:
                    ok = False
                    break
                apis = {m["id"]: m.get("api") for m in r.json.get("members", [])}
                if not all(apis.get(j) for j in ids):
                    ok = False
                    break
            if ok:
                return ld
            time.sleep(0.05)
        raise AssertionError(f"member addresses never known on all of {ids}: "
                             f"{self.nodes[ld.id].get('/v1/cluster').text}")

    def leader(self, ids=None):
        return self.wait_leader(ids)

    def followers(self, ids=None):
        ld = self.leader(ids)
        ids = ids or [n.id for n in self.running()]
        return [self.nodes[i] for i in ids if i != ld.id]

    def stop_all(self, sig=signal.SIGTERM):
        rcs = {}
        for n in self.nodes.values():
            if n.alive():
                n.proc.send_signal(sig)
        for n in self.nodes.values():
            if n.proc is not None:
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait()
                    raise AssertionError(f"n{n.id} did not exit 10s after {sig!r}:\n"
                                         + n.log())
                rcs[n.id] = n.proc.returncode
        return rcs

    def close(self, check_rc=True):
        """Stop everything, assert nothing is left, remove the data dirs."""
        problems = []
        for n in self.nodes.values():      # signal all first: stops in parallel
            if n.proc is not None and n.alive():
                n.proc.send_signal(signal.SIGTERM)
        for n in self.nodes.values():
            if n.proc is not None and n.alive():
                try:
                    rc = n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait()
                    problems.append(f"n{n.id} did not exit 10 s after SIGTERM:\n{n.log()}")
                    continue
                if check_rc and rc != 0:
                    problems.append(f"n{n.id} exited {rc} on SIGTERM:\n{n.log()}")
            elif n.proc is not None and check_rc and n.expected_exit is None \
                    and n.proc.returncode not in (0, -signal.SIGKILL):
                problems.append(f"n{n.id} had exited {n.proc.returncode}:\n{n.log()}")
        for n in self.nodes.values():
            for p in n.runs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                    problems.append(f"n{n.id} process {p.pid} still running")
            # README, Stopping: a handle no module closed is a bug the node
            # logs; every stop, of every run, must be without one.
            if n.runs and "still open at shutdown" in n.log(tail=10**7):
                problems.append(f"n{n.id} left a handle for the safety net:\n{n.log()}")
        for n in self.nodes.values():
            if not n.runs:
                continue
            for port in (self.dns_port, self.raft_port, self.api_port):
                if not _bindable(n.host, port):
                    # a TIME_WAIT never blocks a SO_REUSEADDR bind; give the
                    # kernel a moment anyway
                    time.sleep(0.2)
                    if not _bindable(n.host, port):
                        problems.append(f"{n.host}:{port} still bound after exit")
        shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))

    # convenience ----------------------------------------------------------

    def create_zone(self, zone, via=None, **extra):
        via = via or self.nodes[self.bootstrap_ids[0]]
        r = via.post("/v1/zones", {"name": zone, **extra})
        assert r.status == 201, r
        return r.json

    def wait_applied(self, nodes=None, timeout=5.0):
        """Wait until every node has applied the leader's commit index."""
        nodes = nodes or self.running()
        target = self.leader().get("/v1/cluster").json["commit_index"]
        end = time.monotonic() + timeout
        for n in nodes:
            while (n.health() or {}).get("applied_index", -1) < target:
                assert time.monotonic() < end, f"n{n.id} did not apply index {target}"
                time.sleep(0.02)

    def wait_change_insync(self, node, cid, timeout=5.0):
        end = time.monotonic() + timeout
        st = None
        while time.monotonic() < end:
            r = node.get(f"/v1/changes/{cid}")
            assert r.status == 200, r
            st = r.json.get("status")
            if st == "INSYNC":
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"change {cid} still {st} after {timeout}s")

    def wait_dns(self, nodes, qname, qtype, expected, timeout=2.0):
        """Wait until every node answers qname/qtype with exactly the set
        expected (a set of RDATA strings; empty set: no answer).  Returns the
        seconds it took."""
        t0 = time.monotonic()
        end = t0 + timeout
        pending = list(nodes)
        last = {}
        while True:
            still = []
            for n in pending:
                v = n.values(qname, qtype, timeout=0.5)
                last[n.id] = v
                if v != set(expected):
                    still.append(n)
            pending = still
            if not pending:
                return time.monotonic() - t0
            if time.monotonic() > end:
                raise AssertionError(
                    f"{qname} {qtype}: nodes {[n.id for n in pending]} answer "
                    f"{ {n.id: last[n.id] for n in pending} } instead of {set(expected)} "
                    f"after {timeout}s")
            time.sleep(0.02)
