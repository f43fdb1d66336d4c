"""UDP answers over IPv4 leave with DF set and IP ID 0 (dns/server_udp.c).

The server sets IP_PMTUDISC_PROBE on its IPv4 UDP sockets: answers are
never fragmented (RFC 9715), the kernel does not draw an IP ID for each of
them, and an answer longer than the outgoing interface's MTU is sent as the
empty TC=1 response so that the client asks again over TCP.  The first test
reads the answer's IP header off the loopback interface (an AF_PACKET
socket); the second runs the server in a network namespace of its own whose
loopback has a 600-byte MTU and asks for a 1,100-byte answer.
"""

import ctypes
import os
import select
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.rdatatype
import pytest

from conftest import (QDNS_BIN, TIMEOUT, Server, make_query, qdns_cmd)

ETH_P_IP = 0x0800
CLONE_NEWNET = 0x40000000
SO_ATTACH_FILTER = 26


def only_udp_from(sock, port):
    """Attach a classic BPF filter: IPv4 UDP datagrams from `port` only (lo
    carries other tests' and benchmarks' traffic too)."""
    prog = [  # (code, jt, jf, k) over the IP header (SOCK_DGRAM packet socket)
        (0x30, 0, 0, 9),            # ldb [9]: protocol
        (0x15, 0, 6, 17),           # jeq UDP, else drop
        (0x28, 0, 0, 6),            # ldh [6]: flags and fragment offset
        (0x45, 4, 0, 0x1fff),       # jset offset: a later fragment, drop
        (0xb1, 0, 0, 0),            # ldxb 4*([0]&0xf): header length
        (0x48, 0, 0, 0),            # ldh [x+0]: source port
        (0x15, 0, 1, port),         # jeq port, else drop
        (0x06, 0, 0, 0xffff),       # ret: keep
        (0x06, 0, 0, 0),            # ret: drop
    ]
    insns = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return insns  # keep alive while attached


def test_ipv4_answer_has_df_and_no_ip_id(qdns_factory):
    srv = qdns_factory(ipv6=False)
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    with cap, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        keep = only_udp_from(cap, srv.port)
        cap.bind(("lo", 0))
        s.bind(("127.0.0.1", 0))
        myport = s.getsockname()[1]
        s.sendto(make_query("www.diff.test.", "A").to_wire(), (srv.host, srv.port))
        s.settimeout(TIMEOUT)
        reply = dns.message.from_wire(s.recv(65535))
        assert reply.rcode() == 0 and reply.answer
        end = time.monotonic() + TIMEOUT
        header = None
        while header is None and time.monotonic() < end:
            if not select.select([cap], [], [], 0.2)[0]:
                continue
            pkt = cap.recv(65535)
            ihl = (pkt[0] & 0xf) * 4
            if pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_UDP:
                continue
            sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
            if sport == srv.port and dport == myport:
                header = pkt[:ihl]
        assert header is not None, "the answer was not seen on lo"
        del keep
        ident, frag = struct.unpack("!HH", header[4:8])
        assert frag & 0x4000, "DF not set"
        assert frag & 0x3fff == 0 and ident == 0


def netns_socket(name):
    """A UDP socket of network namespace `name` (setns in a thread of its
    own: a namespace switch applies to the calling thread only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def enter():
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["error"] = OSError(ctypes.get_errno(), "setns")
                return
            out["sock"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        finally:
            os.close(fd)

    t = threading.Thread(target=enter)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


ZONE = """\
$ORIGIN big.test.
$TTL 300
@ SOA ns.big.test. admin.big.test. 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.1
txt TXT {strings}
small TXT "fits"
"""


def test_answer_longer_than_the_mtu_is_truncated(tmp_path):
    if not QDNS_BIN.exists():
        pytest.skip(f"quorumdns binary not built: {QDNS_BIN}")
    ns = f"qdns-df-{os.getpid()}"
    zone = tmp_path / "big.test.zone"
    zone.write_text(ZONE.format(strings=" ".join(['"' + "x" * 250 + '"'] * 4)))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    srv = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "mtu", "600", "up"],
                       check=True)
        cmd = ["ip", "netns", "exec", ns] + qdns_cmd({"big.test.": zone},
                                                     ["127.0.0.1:5353"])
        with open(tmp_path / "quorumdns.log", "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        srv = Server(proc, "127.0.0.1", 5353, tmp_path / "quorumdns.log",
                     [("127.0.0.1", 5353)], tmp_path)
        with netns_socket(ns) as s:
            s.settimeout(0.2)

            def ask(qname):
                wire = make_query(qname, "TXT", payload=1232).to_wire()
                end = time.monotonic() + 10
                while time.monotonic() < end:
                    assert srv.alive(), srv.log()
                    s.sendto(wire, ("127.0.0.1", 5353))
                    try:
                        return dns.message.from_wire(s.recv(65535))
                    except (socket.timeout, ConnectionRefusedError):
                        time.sleep(0.05)
                raise AssertionError("no answer:\n" + srv.log())

            small = ask("small.big.test.")
            assert small.rcode() == 0 and not small.flags & dns.flags.TC
            assert small.answer and small.answer[0].rdtype == dns.rdatatype.TXT
            # 1,100 bytes of TXT fit the 1,232 bytes the query offers, but
            # not the interface: the empty TC=1 answer, as RFC 9715 asks.
            big = ask("txt.big.test.")
            assert big.rcode() == 0 and big.flags & dns.flags.TC and big.flags & dns.flags.AA
            assert not big.answer and big.question[0].name.to_text() == "txt.big.test."
        assert srv.stop() == 0, srv.log()
    finally:
        if srv is not None and srv.alive():
            srv.proc.kill()
            srv.proc.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)
