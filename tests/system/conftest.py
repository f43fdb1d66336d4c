"""Shared helpers for the quorumdns system tests.

Everything runs on loopback with ports picked at run time.  The fixtures start
real processes -- quorumdns (path from $QDNS_BIN, default
<repo>/build/node/quorumdns) and, for the differential test, Knot DNS -- each in
its own temporary directory, wait until they answer a UDP SOA query, and stop
them afterwards, asserting that quorumdns exited 0 on SIGTERM and that no
process is left running.  The raw-packet helpers send bytes over UDP or TCP
and return the raw reply (or None on timeout), so tests can feed the server
packets that dnspython would refuse to build.
"""

import ipaddress
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from cluster_util import Cluster

REPO = Path(__file__).resolve().parents[2]
# QDNS_TEST_DATA lets a developer point the suite at a modified copy of
# tests/data (e.g. to get past one zone-loading bug and see the rest).
DATA = Path(os.environ.get("QDNS_TEST_DATA", REPO / "tests" / "data"))
QDNS_BIN = Path(os.environ.get("QDNS_BIN", REPO / "build" / "node" / "quorumdns"))
KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")

# The zones served by both servers in the differential and behaviour tests.
ZONES = {
    "diff.test.": DATA / "diff.test.zone",
    "child.diff.test.": DATA / "child.diff.test.zone",
    "other.test.": DATA / "other.test.zone",
}

TIMEOUT = 2.0


# --------------------------------------------------------------- networking


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host (racy but fine on loopback)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(fam, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            with socket.socket(fam, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _family(host):
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def udp_raw(host, port, data, timeout=TIMEOUT):
    """Send one datagram, return the first reply's bytes or None on timeout."""
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, (host, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_read_msg(sock):
    """Read one length-prefixed DNS message; None if the peer closed."""
    hdr = recv_exact(sock, 2)
    if hdr is None:
        return None
    (n,) = struct.unpack("!H", hdr)
    return recv_exact(sock, n)


def tcp_raw(host, port, data, timeout=TIMEOUT, prefix=True):
    """Send data over a fresh TCP connection (length-prefixed unless prefix is
    False, for sending deliberately broken framing) and return the first reply
    message, or None on timeout / close."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(data)) + data if prefix else data)
        try:
            return tcp_read_msg(s)
        except (socket.timeout, ConnectionResetError):
            return None


def make_query(qname, qtype="A", *, edns=True, payload=1232, rd=False, dnssec=False,
               qid=None, version=0, options=None, rdclass="IN"):
    """A query with RD clear unless rd; EDNS version `version` unless edns is
    False."""
    q = dns.message.make_query(qname, qtype, rdclass=rdclass, use_edns=False)
    if edns:
        q.use_edns(edns=version, payload=payload, options=options or [],
                   ednsflags=dns.flags.DO if dnssec else 0)
    if not rd:
        q.flags &= ~dns.flags.RD
    else:
        q.flags |= dns.flags.RD
    if qid is not None:
        q.id = qid
    return q


def query(server, qname, qtype="A", *, tcp=False, **kw):
    """Send a query built by make_query to a Server; return the response."""
    q = make_query(qname, qtype, **kw)
    if tcp:
        return dns.query.tcp(q, server.host, port=server.port, timeout=TIMEOUT)
    return dns.query.udp(q, server.host, port=server.port, timeout=TIMEOUT,
                         ignore_trailing=False)


def wait_answers(host, port, zone, proc=None, deadline=10.0, log=None):
    """Poll with a UDP SOA query until the server answers NOERROR for zone."""
    q = make_query(zone, "SOA", edns=False)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering:\n"
                               + (log() if log else ""))
        try:
            r = dns.query.udp(q, host, port=port, timeout=0.2)
            if r.rcode() == 0 and r.answer:
                return
        except (dns.exception.Timeout, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on {host}:{port} never answered SOA {zone}:\n"
                       + (log() if log else ""))


# --------------------------------------------------------------- processes


class Server:
    """A running DNS server process: host/port (first listen address), other
    addresses, its stderr log file and the Popen object."""

    def __init__(self, proc, host, port, logfile, addrs, workdir):
        self.proc = proc
        self.host = host
        self.port = port
        self.logfile = logfile
        self.addrs = addrs
        self.workdir = workdir

    def log(self):
        try:
            return Path(self.logfile).read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the process and wait; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.proc.args[0]} did not exit {timeout}s after {sig!r}")
        return self.proc.returncode


def qdns_cmd(zones, listens, extra=()):
    cmd = [str(QDNS_BIN)]
    for l in listens:
        cmd += ["--listen", l]
    for origin, path in zones.items():
        cmd += ["--zone", f"{origin}={path}" if origin else str(path)]
    cmd += list(extra)
    return cmd


def fmt_listen(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_quorumdns(tmp_path, zones=None, extra=(), ipv6=None, probe_zone="diff.test."):
    """Start quorumdns serving zones ({origin: path}) on a free port of
    127.0.0.1 and, if available (or ipv6=True), [::1]; wait until it answers."""
    if not QDNS_BIN.exists():
        pytest.skip(f"quorumdns binary not built: {QDNS_BIN}")
    zones = ZONES if zones is None else zones
    if ipv6 is None:
        ipv6 = have_ipv6()
    port = free_port("127.0.0.1")
    addrs = [("127.0.0.1", port)]
    if ipv6:
        addrs.append(("::1", free_port("::1")))
    workdir = Path(tmp_path)
    workdir.mkdir(parents=True, exist_ok=True)
    logfile = workdir / "quorumdns.log"
    cmd = qdns_cmd(zones, [fmt_listen(h, p) for h, p in addrs],
                   ["--log-level", "debug", *extra])
    with open(logfile, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    srv = Server(proc, "127.0.0.1", port, logfile, addrs, workdir)
    try:
        wait_answers("127.0.0.1", port, probe_zone, proc, log=srv.log)
    except Exception:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return srv


KNOT_CONF = """\
server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

control:
    listen: "{dir}/knot.sock"

log:
  - target: stderr
    any: info

database:
    storage: "{dir}"

template:
  - id: default
    storage: "{dir}"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
    semantic-checks: on

zone:
{zones}
"""


def start_knot(tmp_path, zones=None, probe_zone="diff.test."):
    """Start knotd in the foreground with zones ({origin: path}); wait until it
    answers.  The zones are loaded with semantic checks on; the caller can look
    at srv.log() for warnings."""
    if not Path(KNOTD).exists():
        pytest.skip("knotd not installed")
    zones = ZONES if zones is None else zones
    workdir = Path(tmp_path)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    zl = "".join(f'  - domain: "{o}"\n    file: "{p}"\n' for o, p in zones.items())
    conf = workdir / "knot.conf"
    conf.write_text(KNOT_CONF.format(dir=workdir, port=port, zones=zl))
    logfile = workdir / "knotd.log"
    with open(logfile, "wb") as log:
        proc = subprocess.Popen([KNOTD, "-c", str(conf)], cwd=workdir,
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    srv = Server(proc, "127.0.0.1", port, logfile, [("127.0.0.1", port)], workdir)
    try:
        for origin in zones:
            wait_answers("127.0.0.1", port, origin, proc, log=srv.log)
    except Exception:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return srv


def assert_negative(r, rcode, apex="diff.test.", ttl=300):
    """NXDOMAIN/NODATA: rcode, AA, empty answer, the zone's SOA in authority
    with TTL min(SOA TTL, MINIMUM)."""
    assert r.rcode() == rcode, dns.rcode.to_text(r.rcode())
    assert r.flags & dns.flags.AA
    assert not r.answer
    assert len(r.authority) == 1
    soa = r.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name.to_text().lower() == apex
    assert soa.ttl == ttl


def assert_nothing_left(srv):
    assert srv.proc.poll() is not None, "process still running"
    # Nothing may still hold the ports: binding them again must succeed.
    for host, port in srv.addrs:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(_family(host), kind) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((host, port))
                except OSError as e:
                    raise AssertionError(f"{host}:{port} still bound after exit: {e}")


# --------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def qdns(tmp_path_factory):
    """quorumdns serving ZONES; checks a clean SIGTERM exit at teardown."""
    srv = start_quorumdns(tmp_path_factory.mktemp("qdns"))
    yield srv
    alive = srv.alive()
    rc = srv.stop()
    assert alive, f"quorumdns died during the tests (rc {rc}):\n{srv.log()[-4000:]}"
    assert rc == 0, f"quorumdns exited {rc} on SIGTERM:\n{srv.log()[-4000:]}"
    assert_nothing_left(srv)


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    """knotd serving ZONES."""
    srv = start_knot(tmp_path_factory.mktemp("knot"))
    yield srv
    srv.stop()
    assert_nothing_left(srv)


@pytest.fixture
def qdns_factory(tmp_path):
    """Start extra quorumdns instances inside a test; all stopped afterwards."""
    started = []

    def factory(**kw):
        srv = start_quorumdns(tmp_path / f"q{len(started)}", **kw)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        if srv.alive():
            srv.stop()
        assert srv.proc.poll() is not None


# ------------------------------------------------------------ clusters

@pytest.fixture
def cluster_factory(tmp_path):
    """cluster_factory() -> a new, not yet started Cluster.  At teardown every
    node is stopped (SIGTERM must give exit 0), nothing may be left running or
    bound, and the data directories are removed."""
    made = []

    def make(**kw):
        c = Cluster(tmp_path / f"cluster{len(made)}", **kw)
        made.append(c)
        return c

    yield make
    errors = []
    for c in made:
        try:
            c.close()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
    for c in made:
        assert not c.root.exists()
