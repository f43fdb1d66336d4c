#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets (tests/fuzz/corpus/).

fuzz_answer gets real query packets built with dnspython (COOKIE and ECS
options among them); fuzz_zonefile gets small zone files; fuzz_limits gets cookie
secrets files and network lists.  The seeds of the node/ and consensus/ targets
are kept as files: fuzz_http_response (relay answers: Content-Length,
chunked with extensions and trailers, close-delimited, a huge chunk),
fuzz_http_head (request heads: token, import, chunked, ambiguous lengths,
h2c), fuzz_api_body (byte 0: zone creation, byte 1: change batch, JSON of
every record type and a routing set), fuzz_node_config (config files with
every setting), and fuzz_raft_command / fuzz_raft_snapshot: what
cs_command_encode and cs_snapshot_encode give for a zone creation (also one
with its records, and one whose records are refused), a batch
of seven record sets, deletions, members and synced marks, health-check
commands (create, update, CALCULATED, delete, votes, MANUAL, HEARTBEAT), CIDR
collection commands (create, changes that apply, conflict, are stale or
would empty a location in use, deletion in use; fuzz_raft_command's state
holds collection "cfuzz") and the snapshots of the states between them (one
with checks, votes and history, one with two collections), and two of
them as LZ4 frames (`lz4 --content-size`; `lz4 --content-size -BX
--no-frame-crc`, independent blocks with a checksum each and none of the
whole content, as the FSM writes snapshots; and `lz4`'s default, without
the size, which is refused).  Run it from outside the repository root (our dns/
folder would shadow the dnspython package), e.g.:
    cd /tmp && /usr/bin/python3 /path/to/tests/fuzz/make_corpus.py
"""
import os
import struct

import dns.edns
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype

HERE = os.path.dirname(os.path.abspath(__file__))


def queries():
    def q(name, rdtype, **kw):
        m = dns.message.make_query(name, rdtype, **kw)
        m.id = 0x1234
        return m.to_wire()

    yield "a_www", q("www.example.com.", "A")
    yield "a_case", q("WwW.ExAmPlE.CoM.", "A")
    yield "mx_apex", q("example.com.", "MX", use_edns=0, payload=4096)
    yield "ns_apex_do", q("example.com.", "NS", want_dnssec=True)
    yield "any_apex", q("example.com.", "ANY")
    yield "ds_cut", q("sub.example.com.", "DS", use_edns=0)
    yield "referral", q("host.sub.example.com.", "AAAA")
    yield "wildcard", q("x.y.wild.example.com.", "TXT")
    yield "nxdomain", q("nope.example.com.", "A", use_edns=0, payload=512)
    yield "cname_loop", q("l1.example.com.", "A")
    yield "big_txt", q("big.example.com.", "TXT", use_edns=0, payload=1232)
    yield "srv", q("_sip._tcp.example.com.", "SRV")
    yield "edns_v1", q("www.example.com.", "A", use_edns=1)
    yield "class_ch", q("version.bind.", "TXT", rdclass=dns.rdataclass.CH)
    m = dns.message.make_query("example.com.", "SOA")
    m.set_opcode(dns.opcode.NOTIFY)
    yield "notify", m.to_wire()
    opt = dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    yield "cookie", q("web.example.com.", "A", use_edns=0, options=[opt])
    # Client and RFC 9018 server cookie (version 1, a timestamp, a hash).
    full = bytes(range(8)) + b"\x01\x00\x00\x00\x5c\xf7\x9f\x11" + bytes(8)
    yield "cookie_full", q("www.example.com.", "A", use_edns=0,
                           options=[dns.edns.GenericOption(10, full)])
    yield "cookie_any", q("example.com.", "ANY", use_edns=0,
                          options=[dns.edns.GenericOption(10, full)])
    yield "cookie_nx", q("nope.example.com.", "TXT", use_edns=0, payload=512,
                         options=[dns.edns.GenericOption(10, full[:20])])
    yield "cookie_bad_len", q("www.example.com.", "A", use_edns=0,
                              options=[dns.edns.GenericOption(10, bytes(10))])
    yield "cookie_twice", q("www.example.com.", "A", use_edns=0,
                            options=[opt, dns.edns.GenericOption(10, bytes(8))])
    # EDNS Client Subnet (RFC 7871): IPv4, a /32 cut to /24, IPv6, /0, with
    # a COOKIE beside it.
    for name, (addr, src) in (("ecs_v4_24", ("81.2.69.0", 24)),
                              ("ecs_v4_32", ("192.0.2.77", 32)),
                              ("ecs_v6_56", ("2001:db8:1:200::", 56)),
                              ("ecs_zero", ("0.0.0.0", 0))):
        yield name, q("www.example.com.", "A", use_edns=0,
                      options=[dns.edns.ECSOption(addr, src)])
    yield "ecs_with_cookie", q("www.example.com.", "A", use_edns=0,
                               options=[dns.edns.ECSOption("81.2.69.0", 24),
                                        dns.edns.GenericOption(10, b"\x01" * 8)])
    # RFC 7873 §5.4: no question, only a COOKIE.
    optrr = b"\x00" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0, 12) + \
        struct.pack("!HH", 10, 8) + bytes(range(8))
    yield "cookie_only", struct.pack("!HHHHHH", 0x1234, 0, 0, 0, 0, 1) + optrr


LIMITS = {
    "secrets": "# cluster cookie secrets\ne5e973e5a6b2a43f48e7dc849e37bfcf\n"
               "  445536BCD2513298075A5D379663C962  # previous\r\n\n",
    "secrets_bad": "e5e973e5a6b2a43f48e7dc849e37bfc\nzz\n",
    "networks": "127.0.0.0/8\n::1/128\n192.0.2.0/24,2001:db8::/33\n10.1.2.3\n",
    "networks_bad": "192.0.2.0/33\n2001:db8::/129\n/24\n1.2.3.4/\nhost\n",
}


ZONES = {
    "basic.zone": """$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1 hostmaster ( 1 7200 3600
        1209600 300 ) ; comment
@ NS ns1
ns1 A 192.0.2.53
www CNAME web
web A 192.0.2.80
    AAAA 2001:db8::80
*.wild TXT "a;b" "c\\"d"
mail MX 10 mail
""",
    "types.zone": """$ORIGIN example.com.
@ 300 IN SOA ns1 hm 1 2 3 4 5
_sip._tcp SRV 0 5 5060 sip
c CAA 0 issue "ca.example.net"
n NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .
s SSHFP 2 1 123456789abcdef67890123456789abcdef67890
h HTTPS 1 . alpn=h2
v SVCB 1 v.example.net. alpn=h3
g TYPE65280 \\# 2 abcd
sub NS ns.sub
sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
""",
    "errors.zone": """$ORIGIN example.com.
$TTL 1h
$INCLUDE zone sub
$FOO bar
www A 192.0.2.1
www CNAME x
out.example.net. A 1.2.3.4
bad A 300.1.1.1
d DNAME x
p ( TXT "x"
""",
}


def main():
    out = os.path.join(HERE, "corpus", "fuzz_answer")
    os.makedirs(out, exist_ok=True)
    for name, wire in queries():
        with open(os.path.join(out, name), "wb") as f:
            f.write(wire)
    out = os.path.join(HERE, "corpus", "fuzz_limits")
    os.makedirs(out, exist_ok=True)
    for name, text in LIMITS.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
    out = os.path.join(HERE, "corpus", "fuzz_zonefile")
    os.makedirs(out, exist_ok=True)
    for name, text in ZONES.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
