"""Behaviour tests for the quorumdns server process.

Each test starts from a real quorumdns serving tests/data (diff.test, its
child zone child.diff.test served separately, other.test) on loopback and
checks one behaviour with exact asserts: zone selection and REFUSED, AA,
CNAME chains and loops, wildcards (RFC 4592), delegations and DS at the cut,
negative answers and their SOA TTL (RFC 2308), the additional section, ANY
(RFC 8482), case preservation, EDNS0 (RFC 6891), truncation and TCP (RFC
7766: full answers, pipelining, idle timeout), FORMERR / NOTIMP / REFUSED,
robustness against malformed packets and IPv6 listening.  The command
line, zone-file diagnostics and signals are in test_cli.py.
"""

import random
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import (TIMEOUT, assert_negative, have_ipv6, make_query, query,
                      tcp_raw, tcp_read_msg, udp_raw)

# --------------------------------------------------------------- helpers


def rrs(section):
    """A section as a set of (owner, type, ttl, rdata) text tuples; owners keep
    their case."""
    out = set()
    for rrset in section:
        for rd in rrset:
            out.add((rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype),
                     rrset.ttl, rd.to_text()))
    return out


def rrsets(section):
    return {(r.name.to_text().lower(), dns.rdatatype.to_text(r.rdtype)) for r in section}


def addresses(section):
    """{(owner lower-cased, type, address)} of A/AAAA records in a section."""
    return {(r.name.to_text().lower(), dns.rdatatype.to_text(r.rdtype), rd.address)
            for r in section if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rd in r}


def flag(r, f):
    return bool(r.flags & f)


def hdr(qid=0x1234, flags=0x0000, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name="www.diff.test.", qtype=1, qclass=1):
    return dns.name.from_text(name).to_wire() + struct.pack("!HH", qtype, qclass)


def opt(owner=b"\x00", payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"",
        rdlen=None):
    if rdlen is None:
        rdlen = len(rdata)
    return owner + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags,
                               rdlen) + rdata


def malformed_packets():
    """(description, bytes, must_be_silent) -- queries the server must answer
    with FORMERR or not at all (silent: not at all)."""
    rnd = random.Random(7)
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"  # 257 octets
    a_in = struct.pack("!HH", 1, 1)
    return [
        ("empty datagram", b"", True),
        ("short header (5 bytes)", hdr()[:5], True),
        ("header only, qdcount=1", hdr(), False),
        ("question cut before qtype",
         hdr() + dns.name.from_text("www.diff.test.").to_wire(), False),
        ("question cut inside qclass", hdr() + question()[:-1], False),
        ("name without terminating root label", hdr() + b"\x03www\x04diff", False),
        ("oversize label (64 octets)", hdr() + b"\x40" + b"a" * 64 + b"\x00" + a_in, False),
        ("name longer than 255 octets", hdr() + long_name + a_in, False),
        ("compression pointer to itself", hdr() + b"\xc0\x0c" + a_in, False),
        ("compression pointer loop of two",
         hdr() + b"\x01a\xc0\x0e\x01b\xc0\x0c" + a_in, False),
        ("compression pointer past the end", hdr() + b"\x03www\xc0\xff" + a_in, False),
        ("compression pointer forward",
         hdr() + b"\xc0\x12" + a_in + b"\x03www\x00", False),
        ("reserved label type 0x80", hdr() + b"\x83www\x00" + a_in, False),
        ("extended label type 0x40", hdr() + b"\x41\x00\x00" + a_in, False),
        ("qdcount=0", hdr(qd=0), False),
        ("qdcount=2", hdr(qd=2) + question() + question("mail.diff.test."), False),
        ("qdcount=65535 with one question", hdr(qd=65535) + question(), False),
        ("ancount=1 but no record", hdr(an=1) + question(), False),
        ("arcount=65535 with no records", hdr(ar=65535) + question(), False),
        ("trailing garbage after question",
         hdr() + question() + b"\xde\xad\xbe\xef", False),
        ("two OPT records", hdr(ar=2) + question() + opt() + opt(), False),
        ("OPT rdlength past the end", hdr(ar=1) + question() + opt(rdlen=40), False),
        ("OPT option length overruns rdata", hdr(ar=1) + question()
         + opt(rdata=struct.pack("!HH", 10, 50) + b"\x00" * 8), False),
        ("OPT cut inside its fixed part", hdr(ar=1) + question() + opt()[:6], False),
        ("OPT in the answer section", hdr(an=1) + question() + opt(), False),
        ("QR=1 (a response)", hdr(flags=0x8000) + question(), True),
        ("QR=1 response with an answer", hdr(flags=0x8400, an=1) + question()
         + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04", True),
        ("random bytes (64)", bytes(rnd.getrandbits(8) for _ in range(64)), False),
        ("random bytes after a valid header",
         hdr() + bytes(rnd.getrandbits(8) for _ in range(40)), False),
    ]


def check_formerr_or_silent(reply, data, silent, what):
    if reply is None:
        return
    assert not silent, f"{what}: must not be answered, got {reply[:12].hex()}"
    assert len(reply) >= 12, f"{what}: reply shorter than a header"
    qid, fl = struct.unpack("!HH", reply[:4])
    assert fl & 0x8000, f"{what}: reply without QR"
    allowed = {dns.rcode.FORMERR}
    if len(data) >= 3 and (data[2] >> 3) & 0xF != 0:
        allowed.add(dns.rcode.NOTIMP)  # garbage with an opcode we lack
    assert fl & 0xF in allowed, \
        f"{what}: rcode {fl & 0xF}, expected FORMERR or no answer"
    if len(data) >= 2:
        assert qid == struct.unpack("!H", data[:2])[0], f"{what}: ID not echoed"


def assert_still_answers(srv, what):
    assert srv.alive(), f"quorumdns died after {what} (rc {srv.proc.returncode}):\n" \
                        f"{srv.log()[-3000:]}"
    r = query(srv, "www.diff.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.answer, f"no normal answer after {what}"


# --------------------------------------------------------------- zone selection


def test_refused_outside_our_zones(qdns):
    """A name in no zone we serve is REFUSED, without AA or records; zone
    matching is by whole labels (xdiff.test is not under diff.test)."""
    for name in ("example.com.", "test.", ".", "xdiff.test.", "diff.test.example."):
        r = query(qdns, name, "A")
        assert r.rcode() == dns.rcode.REFUSED, name
        assert not flag(r, dns.flags.AA), name
        assert not r.answer and not r.authority, name


def test_longest_suffix_selects_child_zone(qdns):
    """Names under child.diff.test are answered from the child zone, which is
    served separately from its parent, with AA and the child's data/TTLs."""
    r = query(qdns, "www.child.diff.test.", "A")
    assert flag(r, dns.flags.AA)
    assert rrs(r.answer) == {("www.child.diff.test.", "A", 1800, "192.0.2.212")}
    # ns1.child is glue in the parent but authoritative data in the child.
    r = query(qdns, "ns1.child.diff.test.", "A")
    assert flag(r, dns.flags.AA)
    assert rrs(r.answer) == {("ns1.child.diff.test.", "A", 1800, "192.0.2.210")}
    r = query(qdns, "child.diff.test.", "SOA")
    assert flag(r, dns.flags.AA)
    assert r.answer[0].name.to_text() == "child.diff.test."
    assert list(r.answer[0])[0].serial == 1
    r = query(qdns, "child.diff.test.", "NS")
    assert flag(r, dns.flags.AA) and r.answer, "child apex NS is an answer, not a referral"
    r = query(qdns, "www.other.test.", "CNAME")
    assert flag(r, dns.flags.AA)
    assert rrs(r.answer) == {("www.other.test.", "CNAME", 300, "www.diff.test.")}


def test_aa_on_authoritative_answer(qdns):
    """Answers from our zone data carry AA; RD is copied, RA never set."""
    for rd in (False, True):
        r = query(qdns, "www.diff.test.", "A", rd=rd)
        assert r.rcode() == dns.rcode.NOERROR
        assert flag(r, dns.flags.AA) and flag(r, dns.flags.QR)
        assert flag(r, dns.flags.RD) == rd
        assert not flag(r, dns.flags.RA)
        assert rrs(r.answer) == {("www.diff.test.", "A", 600, f"192.0.2.{i}")
                                 for i in (80, 81, 82)}


# --------------------------------------------------------------- CNAME


def test_cname_chain_followed_in_zone(qdns):
    """An in-zone CNAME chain is followed to the end, in chain order, and the
    final RRset is included."""
    r = query(qdns, "chain1.diff.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR and flag(r, dns.flags.AA)
    owners = [(x.name.to_text().lower(), dns.rdatatype.to_text(x.rdtype)) for x in r.answer]
    assert owners == [("chain1.diff.test.", "CNAME"), ("chain2.diff.test.", "CNAME"),
                      ("chain3.diff.test.", "CNAME"), ("www.diff.test.", "A")]
    assert len(r.answer[-1]) == 3
    assert not r.authority


def test_cname_query_for_cname_type_not_followed(qdns):
    """QTYPE CNAME returns the CNAME itself without following it."""
    r = query(qdns, "chain1.diff.test.", "CNAME")
    assert rrs(r.answer) == {("chain1.diff.test.", "CNAME", 3600, "chain2.diff.test.")}


def test_cname_out_of_zone_target_gives_only_cname(qdns):
    """A chain leaving our zones ends with the CNAME: NOERROR, AA, nothing
    else in answer or authority."""
    r = query(qdns, "outcname.diff.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR and flag(r, dns.flags.AA)
    assert rrs(r.answer) == {("outcname.diff.test.", "CNAME", 3600, "www.outside.example.")}
    assert not r.authority
    r = query(qdns, "chainout.diff.test.", "A")
    assert rrsets(r.answer) == {("chainout.diff.test.", "CNAME"),
                                ("outcname.diff.test.", "CNAME")}
    # A CNAME into another zone we serve is not followed either (Knot agrees).
    r = query(qdns, "www.other.test.", "A")
    assert rrsets(r.answer) == {("www.other.test.", "CNAME")}


def test_cname_to_missing_name_is_nxdomain(qdns):
    """RFC 6604: the rcode follows the last name of the chain: CNAME to a
    missing in-zone name gives NXDOMAIN with the CNAME and the SOA."""
    r = query(qdns, "dangling.diff.test.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert rrsets(r.answer) == {("dangling.diff.test.", "CNAME")}
    assert rrsets(r.authority) == {("diff.test.", "SOA")}
    assert r.authority[0].ttl == 300


@pytest.mark.parametrize("name", ["loop1.diff.test.", "selfloop.diff.test."])
def test_cname_loop_terminates(qdns, name):
    """A CNAME loop is cut off: a prompt answer, NOERROR or SERVFAIL, no
    duplicate records, and the server keeps answering."""
    for tcp in (False, True):
        r = query(qdns, name, "A", tcp=tcp)
        assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.SERVFAIL)
        if r.rcode() == dns.rcode.NOERROR:
            assert r.answer and r.answer[0].name.to_text() == name
            seen = [(x.name.to_text().lower(), rd.to_text()) for x in r.answer for rd in x]
            assert len(seen) == len(set(seen)), f"duplicate records: {seen}"
    assert_still_answers(qdns, "CNAME loop")


def test_cname_chain_into_delegation(qdns):
    """A CNAME whose target lies below a zone cut: the CNAME with AA and a
    referral (NS of the cut) in authority."""
    r = query(qdns, "tosub.diff.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert rrsets(r.answer) == {("tosub.diff.test.", "CNAME")}
    assert rrsets(r.authority) == {("sub.diff.test.", "NS")}


# --------------------------------------------------------------- wildcards


def test_wildcard_synthesis_keeps_qname(qdns):
    """*.wild answers foo.wild and multi-label a.b.c.wild with the question
    name (and its case) as owner, AA set."""
    for name in ("foo.wild.diff.test.", "a.b.c.wild.diff.test.", "FoO.WiLd.DiFf.TeSt."):
        r = query(qdns, name, "A")
        assert r.rcode() == dns.rcode.NOERROR and flag(r, dns.flags.AA)
        assert rrs(r.answer) == {(name, "A", 3600, "192.0.2.100")}


def test_wildcard_not_used_for_existing_name(qdns):
    """host.wild exists: a type it lacks is NODATA, not a wildcard answer."""
    r = query(qdns, "host.wild.diff.test.", "TXT")
    assert_negative(r, dns.rcode.NOERROR)
    r = query(qdns, "host.wild.diff.test.", "A")
    assert rrs(r.answer) == {("host.wild.diff.test.", "A", 3600, "192.0.2.101")}


def test_empty_non_terminal_blocks_wildcard(qdns):
    """b.wild is an empty non-terminal (a.b.wild exists): it is NODATA itself
    and x.b.wild is NXDOMAIN, not matched by *.wild (RFC 4592 §2.2.2)."""
    assert_negative(query(qdns, "b.wild.diff.test.", "A"), dns.rcode.NOERROR)
    assert_negative(query(qdns, "x.b.wild.diff.test.", "A"), dns.rcode.NXDOMAIN)
    assert_negative(query(qdns, "b.ent.diff.test.", "A"), dns.rcode.NOERROR)
    assert_negative(query(qdns, "ent.diff.test.", "TXT"), dns.rcode.NOERROR)
    assert_negative(query(qdns, "x.ent.diff.test.", "A"), dns.rcode.NXDOMAIN)


def test_closest_wildcard_wins(qdns):
    """Under deep.wild only *.deep.wild applies: AAAA from it, A is NODATA
    (not the A of *.wild)."""
    r = query(qdns, "x.deep.wild.diff.test.", "AAAA")
    assert rrs(r.answer) == {("x.deep.wild.diff.test.", "AAAA", 3600, "2001:db8::100")}
    assert_negative(query(qdns, "x.deep.wild.diff.test.", "A"), dns.rcode.NOERROR)


def test_wildcard_cname(qdns):
    """A wildcard CNAME is synthesized with the question owner and followed in
    zone, also to a name that itself matches a wildcard."""
    r = query(qdns, "foo.wcname.diff.test.", "A")
    assert rrs(r.answer) == {("foo.wcname.diff.test.", "CNAME", 3600, "www.diff.test.")} | \
        {("www.diff.test.", "A", 600, f"192.0.2.{i}") for i in (80, 81, 82)}
    r = query(qdns, "bar.wcchain.diff.test.", "A")
    assert rrs(r.answer) == {("bar.wcchain.diff.test.", "CNAME", 3600, "foo.wild.diff.test."),
                             ("foo.wild.diff.test.", "A", 3600, "192.0.2.100")}
    r = query(qdns, "x.wcout.diff.test.", "A")
    assert rrs(r.answer) == {("x.wcout.diff.test.", "CNAME", 3600, "target.outside.example.")}


def test_wildcard_owner_queried_literally(qdns):
    """The name *.wild asked for literally gets the wildcard's own data."""
    r = query(qdns, "*.wild.diff.test.", "TXT")
    assert rrs(r.answer) == {("*.wild.diff.test.", "TXT", 3600, '"wildcard"')}


# --------------------------------------------------------------- delegations


def test_referral_below_cut(qdns):
    """Queries at or below a zone cut get a referral: NOERROR, no AA, empty
    answer, the cut's NS in authority and in-bailiwick glue (A and AAAA) in
    additional, no glue for out-of-zone NS names."""
    for name, qtype in (("www.sub.diff.test.", "A"), ("a.b.sub.diff.test.", "MX"),
                        ("sub.diff.test.", "NS"), ("sub.diff.test.", "A"),
                        ("ns1.sub.diff.test.", "A"), ("x.sub.diff.test.", "DS")):
        r = query(qdns, name, qtype)
        assert r.rcode() == dns.rcode.NOERROR, (name, qtype)
        assert not flag(r, dns.flags.AA), (name, qtype)
        assert not r.answer, (name, qtype)
        assert rrs(r.authority) == {("sub.diff.test.", "NS", 3600, n) for n in
                                    ("ns1.sub.diff.test.", "ns2.sub.diff.test.",
                                     "ns.outside.example.")}, (name, qtype)
        assert addresses(r.additional) == {
            ("ns1.sub.diff.test.", "A", "192.0.2.201"),
            ("ns1.sub.diff.test.", "AAAA", "2001:db8::201"),
            ("ns2.sub.diff.test.", "A", "192.0.2.202")}, (name, qtype)


def test_ds_at_cut_answered_by_parent(qdns):
    """DS belongs to the parent side of the cut: answered with AA, not
    referred; a cut without DS is NODATA from the parent; the child zone's DS
    comes from the parent zone although we also serve the child."""
    r = query(qdns, "sub.diff.test.", "DS")
    assert r.rcode() == dns.rcode.NOERROR and flag(r, dns.flags.AA)
    assert rrsets(r.answer) == {("sub.diff.test.", "DS")}
    assert not r.authority
    assert_negative(query(qdns, "sub2.diff.test.", "DS"), dns.rcode.NOERROR)
    r = query(qdns, "child.diff.test.", "DS")
    assert r.rcode() == dns.rcode.NOERROR and flag(r, dns.flags.AA)
    assert rrsets(r.answer) == {("child.diff.test.", "DS")}
    assert list(r.answer[0])[0].key_tag == 54321


# --------------------------------------------------------------- negative answers


def test_nxdomain_and_nodata_carry_soa_with_min_ttl(qdns):
    """NXDOMAIN and NODATA put the zone SOA in authority with TTL
    min(SOA TTL, MINIMUM) (RFC 2308 §3), per zone."""
    assert_negative(query(qdns, "nx.diff.test.", "A"), dns.rcode.NXDOMAIN)
    assert_negative(query(qdns, "nx.nx.diff.test.", "A"), dns.rcode.NXDOMAIN)
    assert_negative(query(qdns, "www.diff.test.", "MX"), dns.rcode.NOERROR)
    assert_negative(query(qdns, "diff.test.", "SRV"), dns.rcode.NOERROR)
    # child: SOA TTL 1800, MINIMUM 600; the apex wildcard has only TXT.
    assert_negative(query(qdns, "nx.child.diff.test.", "A"), dns.rcode.NOERROR,
                    apex="child.diff.test.", ttl=600)
    # other.test: SOA TTL 300, MINIMUM 60.
    assert_negative(query(qdns, "nx.other.test.", "A"), dns.rcode.NXDOMAIN,
                    apex="other.test.", ttl=60)


# --------------------------------------------------------------- additional section


def test_additional_for_ns_mx_srv_targets(qdns):
    """A/AAAA of in-zone NS, MX and SRV targets go in additional; out-of-zone
    targets get nothing."""
    r = query(qdns, "diff.test.", "NS")
    assert addresses(r.additional) == {("ns1.diff.test.", "A", "192.0.2.53"),
                                       ("ns1.diff.test.", "AAAA", "2001:db8::53"),
                                       ("ns2.diff.test.", "A", "192.0.2.54")}
    r = query(qdns, "mx.diff.test.", "MX")
    assert addresses(r.additional) == {("mail.diff.test.", "A", "192.0.2.25"),
                                       ("mail.diff.test.", "AAAA", "2001:db8::25"),
                                       ("ns1.diff.test.", "A", "192.0.2.53"),
                                       ("ns1.diff.test.", "AAAA", "2001:db8::53")}
    r = query(qdns, "_sip._tcp.diff.test.", "SRV")
    assert addresses(r.additional) == {("sipserver.diff.test.", "A", "192.0.2.70"),
                                       ("sipserver.diff.test.", "AAAA", "2001:db8::70")}
    r = query(qdns, "foo.wild.diff.test.", "MX")
    assert addresses(r.additional) == {("mail.diff.test.", "A", "192.0.2.25"),
                                       ("mail.diff.test.", "AAAA", "2001:db8::25")}


# --------------------------------------------------------------- ANY


def test_any_over_udp_is_minimal(qdns):
    """RFC 8482: ANY over UDP gives a non-empty subset of the name's RRsets
    (or a synthesized HINFO), with AA and without truncation."""
    apex = {"SOA", "NS", "MX", "TXT", "A", "AAAA", "CAA", "SPF"}
    r = query(qdns, "diff.test.", "ANY")
    assert r.rcode() == dns.rcode.NOERROR and flag(r, dns.flags.AA)
    assert not flag(r, dns.flags.TC)
    types = {dns.rdatatype.to_text(x.rdtype) for x in r.answer}
    assert types and (types <= apex or types == {"HINFO"}), types
    assert all(x.name.to_text() == "diff.test." for x in r.answer)


def test_any_over_tcp_returns_all_rrsets(qdns):
    """Our choice (minimal ANY over UDP only): over TCP, ANY returns every
    RRset at the name."""
    r = query(qdns, "www.diff.test.", "ANY", tcp=True)
    assert {dns.rdatatype.to_text(x.rdtype) for x in r.answer} == {"A", "AAAA", "SSHFP"}


def test_any_over_tcp_keeps_additional_data_out_of_the_answer(qdns):
    """ANY at the apex over TCP returns NS and MX: the addresses of their
    in-zone targets belong in the additional section, after every answer
    RRset, never between them."""
    r = query(qdns, "diff.test.", "ANY", tcp=True)
    assert all(x.name.to_text() == "diff.test." for x in r.answer), r.answer
    types = {dns.rdatatype.to_text(x.rdtype) for x in r.answer}
    assert {"SOA", "NS", "MX"} <= types, types
    assert r.additional and all(x.name.to_text() != "diff.test." or
                                x.rdtype == dns.rdatatype.OPT for x in r.additional)


# --------------------------------------------------------------- case


def test_question_case_preserved(qdns):
    """The question is echoed byte for byte and the answer owner derived from
    it keeps its case (0x20 randomisation works)."""
    for name in ("WwW.DiFf.TeSt.", "WWW.DIFF.TEST.", "cHaIn1.dIfF.tEsT."):
        r = query(qdns, name, "A")
        assert r.question[0].name.to_text() == name
        assert r.answer[0].name.to_text() == name
    raw = make_query("MaIl.DiFf.TeSt.", "A", edns=False).to_wire()
    reply = udp_raw(qdns.host, qdns.port, raw)
    assert reply[12:12 + len(raw) - 12] == raw[12:], "question not echoed byte for byte"


# --------------------------------------------------------------- EDNS


def test_edns_opt_echoed_with_our_payload(qdns):
    """An EDNS query gets an OPT back (version 0, payload 1232); a query
    without EDNS gets none."""
    r = query(qdns, "www.diff.test.", "A", edns=True, payload=4096)
    assert r.edns == 0 and r.payload == 1232
    r = query(qdns, "www.diff.test.", "A", edns=False)
    assert r.edns == -1


def test_edns_badvers(qdns):
    """EDNS version 1 gets BADVERS (extended rcode 16) with an OPT of version
    0 and no answer (RFC 6891 §6.1.3)."""
    q = make_query("www.diff.test.", "A", version=1)
    r = dns.query.udp(q, qdns.host, port=qdns.port, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0
    assert not r.answer


def test_edns_unknown_option_ignored(qdns):
    """An unknown EDNS option does not change the answer."""
    o = dns.edns.GenericOption(65001, b"\x01\x02")
    r = query(qdns, "www.diff.test.", "A", options=[o])
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 3


def test_edns_two_opts_is_formerr(qdns):
    """More than one OPT RR is FORMERR (RFC 6891 §6.1.1)."""
    data = hdr(ar=2) + question() + opt() + opt()
    reply = udp_raw(qdns.host, qdns.port, data)
    assert reply is not None and reply[3] & 0xF == dns.rcode.FORMERR


# --------------------------------------------------------------- truncation and TCP


def test_truncation_without_edns(qdns):
    """An answer larger than 512 bytes sets TC over UDP without EDNS (reply
    within 512 bytes); with EDNS 1232 it comes whole; over TCP it is whole."""
    raw = make_query("big.diff.test.", "A", edns=False).to_wire()
    reply = udp_raw(qdns.host, qdns.port, raw)
    assert reply is not None and len(reply) <= 512
    r = dns.message.from_wire(reply)
    assert flag(r, dns.flags.TC) and r.rcode() == dns.rcode.NOERROR
    r = query(qdns, "big.diff.test.", "A", edns=True)
    assert not flag(r, dns.flags.TC) and len(r.answer[0]) == 40
    r = query(qdns, "big.diff.test.", "A", edns=False, tcp=True)
    assert not flag(r, dns.flags.TC) and len(r.answer[0]) == 40
    r = query(qdns, "bigtxt.diff.test.", "TXT", edns=False, tcp=True)
    assert not flag(r, dns.flags.TC) and len(r.answer[0]) == 15


def test_truncation_honours_edns_payload(qdns):
    """A client payload of 512 truncates the big answer; a payload below 512
    is treated as 512 (RFC 6891 §6.2.5), so small answers are not truncated."""
    raw = make_query("big.diff.test.", "A", payload=512).to_wire()
    reply = udp_raw(qdns.host, qdns.port, raw)
    assert reply is not None and len(reply) <= 512
    assert dns.message.from_wire(reply).flags & dns.flags.TC
    r = query(qdns, "www.diff.test.", "A", payload=100)
    assert not flag(r, dns.flags.TC) and len(r.answer[0]) == 3


def test_tcp_pipelining(qdns):
    """Five queries written at once on one TCP connection all get their
    answer on that connection (in any order, RFC 7766 §6.2.1.1)."""
    names = ["www.diff.test.", "mail.diff.test.", "nx.diff.test.", "big.diff.test.",
             "example.com."]
    expect = {}
    data = b""
    for i, n in enumerate(names):
        w = make_query(n, "A", qid=1000 + i, edns=False).to_wire()
        data += struct.pack("!H", len(w)) + w
        expect[1000 + i] = n
    with socket.create_connection((qdns.host, qdns.port), timeout=TIMEOUT) as s:
        s.sendall(data)
        got = {}
        for _ in names:
            m = tcp_read_msg(s)
            assert m is not None, f"connection closed after {len(got)} answers"
            r = dns.message.from_wire(m)
            got[r.id] = r
    assert set(got) == set(expect)
    for qid, n in expect.items():
        assert got[qid].question[0].name.to_text() == n
    assert len(got[1000].answer[0]) == 3
    assert got[1002].rcode() == dns.rcode.NXDOMAIN
    assert len(got[1003].answer[0]) == 40 and not got[1003].flags & dns.flags.TC
    assert got[1004].rcode() == dns.rcode.REFUSED


def test_tcp_message_split_across_segments(qdns):
    """A TCP query arriving in small pieces (length prefix split) is
    reassembled and answered."""
    w = make_query("www.diff.test.", "A").to_wire()
    data = struct.pack("!H", len(w)) + w
    with socket.create_connection((qdns.host, qdns.port), timeout=TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(data), 3):
            s.sendall(data[i:i + 3])
            time.sleep(0.01)
        r = dns.message.from_wire(tcp_read_msg(s))
    assert len(r.answer[0]) == 3


def test_idle_tcp_connection_does_not_block_others(qdns):
    """A client holding an idle (or half-sent) TCP connection does not stop
    other clients from being answered."""
    with socket.create_connection((qdns.host, qdns.port), timeout=TIMEOUT) as idle:
        idle.sendall(b"\x00\x40\x12")  # promises 64 bytes, sends 1
        r = query(qdns, "www.diff.test.", "A", tcp=True)
        assert len(r.answer[0]) == 3
        r = query(qdns, "www.diff.test.", "A")
        assert len(r.answer[0]) == 3


def test_tcp_idle_timeout_closes_connection(qdns_factory):
    """With --tcp-idle-timeout 2, a connection stays usable before the timeout
    and is closed by the server within timeout + 2 s of the last activity."""
    srv = qdns_factory(extra=["--tcp-idle-timeout", "2"])
    with socket.create_connection((srv.host, srv.port), timeout=TIMEOUT) as s:
        time.sleep(1)
        w = make_query("www.diff.test.", "A").to_wire()
        s.sendall(struct.pack("!H", len(w)) + w)
        assert tcp_read_msg(s) is not None, "closed before the idle timeout"
        last = time.monotonic()
        s.settimeout(2 + 2 + 0.5)
        try:
            closed = s.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        waited = time.monotonic() - last
        assert closed, "idle connection still open after timeout + 2 s"
        assert 1.5 <= waited <= 4.0, f"closed after {waited:.1f}s, expected ~2s"


# --------------------------------------------------------------- rcodes


@pytest.mark.parametrize("opcode", [2, 3, 6, 15])
def test_unknown_opcode_notimp(qdns, opcode):
    """Opcodes we do not implement (STATUS, unassigned) get NOTIMP with the
    ID and opcode echoed."""
    data = hdr(qid=0x4242, flags=opcode << 11) + question()
    reply = udp_raw(qdns.host, qdns.port, data)
    assert reply is not None
    qid, fl = struct.unpack("!HH", reply[:4])
    assert qid == 0x4242 and fl & 0x8000
    assert (fl >> 11) & 0xF == opcode
    assert fl & 0xF == dns.rcode.NOTIMP


@pytest.mark.parametrize("rdclass", ["CH", "HS", "NONE"])
def test_class_other_than_in_refused(qdns, rdclass):
    """Queries in classes other than IN are REFUSED."""
    q = make_query("www.diff.test.", "A", rdclass=rdclass)
    r = dns.query.udp(q, qdns.host, port=qdns.port, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.answer


def test_formerr_for_missing_question(qdns):
    """A query without a question (QDCOUNT 0, no COOKIE; RFC 7873 §5.4) is
    FORMERR with the ID echoed (Knot does the same)."""
    reply = udp_raw(qdns.host, qdns.port, hdr(qid=0x5151, qd=0))
    assert reply is not None
    qid, fl = struct.unpack("!HH", reply[:4])
    assert qid == 0x5151 and fl & 0x8000 and fl & 0xF == dns.rcode.FORMERR


def test_malformed_udp_packets_never_crash(qdns):
    """Each malformed packet gets FORMERR or no answer (responses: never an
    answer), and the server answers a normal query after each one."""
    for what, data, silent in malformed_packets():
        reply = udp_raw(qdns.host, qdns.port, data, timeout=0.15)
        check_formerr_or_silent(reply, data, silent, what)
        assert_still_answers(qdns, what)


def test_malformed_tcp_packets_never_crash(qdns):
    """The same malformed packets over TCP: FORMERR or the connection is
    closed; a zero-length message and a bogus length are survived too."""
    cases = [(w, d, s) for w, d, s in malformed_packets()]
    for what, data, silent in cases:
        reply = tcp_raw(qdns.host, qdns.port, data, timeout=0.25)
        check_formerr_or_silent(reply, data, silent, what)
        assert_still_answers(qdns, f"{what} over TCP")
    for what, raw in (("zero-length TCP message", b"\x00\x00"),
                      ("length prefix then close", b"\xff\xff"),
                      ("one byte then close", b"\x00")):
        tcp_raw(qdns.host, qdns.port, raw, timeout=0.3, prefix=False)
        assert_still_answers(qdns, what)


def test_random_fuzz_udp(qdns):
    """300 mutations of a valid query (bit flips, truncation, byte insertion),
    sent in batches of 50, never crash the server; every reply is a DNS
    response (QR set) at least a header long."""
    rnd = random.Random(1234)
    base = make_query("www.diff.test.", "A").to_wire()
    cases = []
    for i in range(300):
        b = bytearray(base)
        kind = i % 3
        if kind == 0:
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            b = b[:rnd.randrange(len(b))]
        else:
            pos = rnd.randrange(len(b))
            b[pos:pos] = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 8)))
        if len(b) > 2:
            b[2] &= 0x7F  # keep QR=0
        cases.append(bytes(b))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for start in range(0, len(cases), 50):
            batch = cases[start:start + 50]
            for b in batch:
                s.sendto(b, (qdns.host, qdns.port))
            s.settimeout(0.3)
            try:
                while True:
                    reply = s.recv(65535)
                    assert len(reply) >= 12 and reply[2] & 0x80, reply.hex()
            except socket.timeout:
                pass
            assert_still_answers(qdns, "one of the fuzz cases " + " ".join(b.hex() for b in batch))


# --------------------------------------------------------------- listening


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 on loopback")
def test_ipv6_listen(qdns):
    """The server listens on [::1] as asked, over UDP and TCP."""
    host, port = [a for a in qdns.addrs if ":" in a[0]][0]
    q = make_query("www.diff.test.", "AAAA")
    for r in (dns.query.udp(q, host, port=port, timeout=TIMEOUT),
              dns.query.tcp(q, host, port=port, timeout=TIMEOUT)):
        assert rrs(r.answer) == {("www.diff.test.", "AAAA", 3600, "2001:db8::80")}
