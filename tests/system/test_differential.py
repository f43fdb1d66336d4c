"""Differential test: quorumdns must answer like Knot DNS.

The zones of tests/data (diff.test with its separately served child zone
child.diff.test, and other.test) are loaded into a Knot DNS and into a
quorumdns process.  A systematic set of queries -- every owner and empty
non-terminal x a list of types, non-existent names at every level, names under
wildcards and below zone cuts, names outside our zones, in mixed case, with and
without EDNS, with RD set and unset, over UDP and TCP -- goes to both servers.
For each query the rcode, the QR/AA/TC/RD/RA flags, the EDNS OPT (version,
flags, payload) and the answer and authority sections, taken as sets of
RRsets with their TTLs, must be equal.  Owners in the answer that are derived
from the question (the question name itself, wildcard synthesis) must keep the
question's case exactly; other names are compared case-insensitively (Knot
compresses them against the question and so prints them in the question's
case, which RFC 4343 allows).  The additional section is not compared here;
test_server.py checks it.  All mismatches are reported in one assertion, each
with a dig command that reproduces it.
"""

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from conftest import ZONES, TIMEOUT, make_query

TYPES = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "SRV", "PTR", "DS",
         "CAA", "NAPTR", "TLSA", "SSHFP", "SVCB", "HTTPS", "SPF", "TYPE65280",
         "TYPE1234", "ANY"]
# Types asked again for every name in the mixed-case / EDNS / RD / TCP rounds.
VARIANT_TYPES = ["A", "MX", "TXT", "NS", "DS", "SOA", "CNAME", "ANY"]

# Names outside every zone we serve (REFUSED), including names that share a
# string suffix but not a label suffix with our zones.
OUTSIDE = ["example.com.", "test.", ".", "nx.test.", "xdiff.test.",
           "diff.test.example.", "xother.test.", "outside.example.",
           "www.outside.example."]

# Names under wildcards, below cuts and inside the child zone that are not
# owners in any zone file; nx.<name> for every owner is added by names().
EXTRA = ["foo.wild.diff.test.", "a.b.c.wild.diff.test.", "x.b.wild.diff.test.",
         "foo.deep.wild.diff.test.", "a.foo.deep.wild.diff.test.",
         "foo.wcname.diff.test.", "foo.wcchain.diff.test.",
         "foo.wcout.diff.test.", "*.wild.diff.test.", "*.diff.test.",
         "x.sub.diff.test.", "a.b.sub.diff.test.", "x.sub2.diff.test.",
         "x.ns1.sub.diff.test.", "nx.child.diff.test.", "a.b.child.diff.test.",
         "x.ent.diff.test.", "www.other.test.", "nx.other.test."]


def load_zones():
    return {dns.name.from_text(o): dns.zone.from_file(str(p), o, relativize=False,
                                                      check_origin=True)
            for o, p in ZONES.items()}


def names(zones):
    """Every owner, every empty non-terminal, nx.<each of those>, EXTRA and
    OUTSIDE, as dns.name.Name, in a stable order."""
    found = []
    seen = set()

    def add(n):
        if n not in seen:
            seen.add(n)
            found.append(n)

    for origin, z in zones.items():
        for owner in sorted(z.nodes):
            n = owner
            chain = []
            while n != origin and n.is_subdomain(origin):
                chain.append(n)
                n = n.parent()
            for x in [origin] + list(reversed(chain)):
                add(x)
    for n in list(found):
        base = n.parent() if n.is_wild() else n
        add(dns.name.from_text("nx", base))
    for t in EXTRA + OUTSIDE:
        add(dns.name.from_text(t))
    return found


def mixed_case(name, salt=0):
    """The name with letters alternately upper- and lower-cased."""
    labels = []
    k = salt
    for label in name.labels:
        out = bytearray()
        for b in label:
            if 0x61 <= b <= 0x7A:
                out.append(b - 32 if k % 2 == 0 else b)
                k += 1
            else:
                out.append(b)
        labels.append(bytes(out))
    return dns.name.Name(labels)


def dig_cmd(port, qname, qtype, edns, rd, tcp):
    return (f"dig @127.0.0.1 -p {port} {'+rec' if rd else '+norec'} "
            f"{'+edns=0' if edns else '+noedns'}{' +tcp' if tcp else ''} "
            f"'{qname.to_text()}' {qtype}")


def rrset_key(rrset, qname):
    # The owner derived from the question must keep its case; any other
    # owner is compared lower-cased.
    if rrset.name == qname:
        owner = rrset.name.to_text()
    else:
        owner = rrset.name.to_text().lower()
    rdatas = frozenset(rd.to_digestable(dns.name.root) for rd in rrset)
    return (owner, rrset.rdclass, rrset.rdtype, rrset.ttl, rdatas)


def section_keys(section, qname):
    # Two RRsets with the same owner/type are merged by dnspython already.
    return frozenset(rrset_key(r, qname) for r in section)


FLAGS = [("QR", dns.flags.QR), ("AA", dns.flags.AA), ("TC", dns.flags.TC),
         ("RD", dns.flags.RD), ("RA", dns.flags.RA)]


def summary(r):
    flags = " ".join(n for n, f in FLAGS if r.flags & f)
    opt = (f"edns v{r.edns} payload {r.payload} flags {r.ednsflags:#x}"
           if r.edns >= 0 else "no edns")
    lines = [f"    {dns.rcode.to_text(r.rcode())} [{flags}] {opt}"]
    for title, sec in (("ans", r.answer), ("auth", r.authority)):
        for rrset in sec:
            for line in rrset.to_text().splitlines():
                lines.append(f"    {title}: {line}")
    return "\n".join(lines)


def zone_rrsets(zones, qname):
    """Keys of the RRsets that exist at qname (or the wildcard that matches
    it), with qname as owner: what an ANY answer may be drawn from."""
    origin = max((o for o in zones if qname.is_subdomain(o)),
                 key=lambda o: len(o), default=None)
    if origin is None:
        return frozenset()
    z = zones[origin]
    node = z.get_node(qname)
    if node is None:
        n = qname
        while n != origin:
            n = n.parent()
            if z.get_node(dns.name.from_text("*", n)) is not None:
                node = z.get_node(dns.name.from_text("*", n))
                break
            if z.get_node(n) is not None or any(o.is_subdomain(n) and o != n
                                                for o in z.nodes):
                break
    if node is None:
        return frozenset()
    keys = set()
    for rds in node.rdatasets:
        rrset = dns.rrset.from_rdata_list(qname, rds.ttl, list(rds))
        keys.add(rrset_key(rrset, qname))
    return frozenset(keys)


def ask(server, q, tcp, timeout=TIMEOUT):
    if tcp:
        return dns.query.tcp(q, server.host, port=server.port, timeout=timeout)
    return dns.query.udp(q, server.host, port=server.port, timeout=timeout)


def build_queries(zones):
    """(qname, qtype, edns, rd, tcp) tuples."""
    qs = []
    all_names = names(zones)
    for n in all_names:
        for t in TYPES:
            qs.append((n, t, True, False, False))
    combos = [(False, True), (True, True), (False, False), (True, False)]
    for i, n in enumerate(all_names):
        for j, t in enumerate(VARIANT_TYPES):
            edns, rd = combos[(i + j) % 4]
            qs.append((mixed_case(n, i + j), t, edns, rd, False))
        # Over TCP: mixed case, no EDNS, so that big answers come whole.
        for t in ("A", "TXT"):
            qs.append((mixed_case(n, i + 1), t, False, i % 2 == 0, True))
    return qs


NO_ANSWER = "no valid answer from quorumdns"
QDNS_TIMEOUT = 1.0
# Stop asking after this many unanswered queries so that a hung server does
# not blow the suite's time budget; the report says so.
MAX_NO_ANSWER = 20


def compare(zones, knot, qdns, qname, qtype, edns, rd, tcp):
    """None if the two servers agree, else a mismatch report."""
    q = make_query(qname, qtype, edns=edns, rd=rd)
    try:
        rk = ask(knot, q, tcp)
    except Exception as e:  # Knot must always answer these.
        return f"knot failed: {e!r}"
    try:
        rq = ask(qdns, q, tcp, timeout=QDNS_TIMEOUT)
    except Exception as e:
        return f"{NO_ANSWER} ({e!r}); knot:\n{summary(rk)}"

    problems = []
    if rq.rcode() != rk.rcode():
        problems.append("rcode")
    for name, f in FLAGS:
        if (rq.flags & f) != (rk.flags & f):
            problems.append(f"flag {name}")
    if (rq.edns, rq.payload if rq.edns >= 0 else None, rq.ednsflags) != \
            (rk.edns, rk.payload if rk.edns >= 0 else None, rk.ednsflags):
        problems.append("EDNS OPT")
    if rq.question != rk.question or rq.question[0].name.to_text() != qname.to_text():
        problems.append("question section (case or content)")

    truncated = (rq.flags | rk.flags) & dns.flags.TC
    if not truncated:
        ak, aq = section_keys(rk.answer, qname), section_keys(rq.answer, qname)
        if qtype == "ANY" and tcp and (ak or aq):
            # RFC 8482 lets a server answer ANY with any non-empty subset of
            # the RRsets at the name (Knot 3.2 gives one RRset, over UDP and
            # TCP alike) or a synthesized HINFO; over TCP quorumdns gives
            # them all, so only that is compared.  Over UDP both give the
            # same single RRset: compared exactly, below.
            allowed = zone_rrsets(zones, qname)
            for who, a in (("quorumdns", aq), ("knot", ak)):
                hinfo = all(k[2] == dns.rdatatype.HINFO for k in a)
                if not a or not (a <= allowed or hinfo):
                    problems.append(f"ANY answer of {who} not a non-empty subset "
                                    f"of the RRsets at the name")
        elif ak != aq:
            problems.append("answer section")
        if section_keys(rk.authority, qname) != section_keys(rq.authority, qname):
            problems.append("authority section")
    if not problems:
        return None
    return (f"{', '.join(problems)} differ\n  knot:\n{summary(rk)}\n"
            f"  quorumdns:\n{summary(rq)}")


def test_knot_loads_zones_cleanly(knot):
    """The shared zones are valid: Knot loads them with semantic checks and
    logs no warning or error about them."""
    log = knot.log()
    bad = [l for l in log.splitlines() if " warning: " in l or " error: " in l]
    assert not bad, "\n".join(bad)
    for origin in ZONES:
        assert f"[{origin}] loaded" in log


def test_same_answers_as_knot(knot, qdns, tmp_path):
    """quorumdns answers every query of the systematic set exactly like Knot:
    same rcode, flags, EDNS, and answer and authority RRsets (with TTLs).
    The full report is also written to mismatches.txt in the test's tmp dir."""
    zones = load_zones()
    queries = build_queries(zones)
    assert len(queries) > 300
    mismatches = []
    unanswered = {False: 0, True: 0}  # per transport: tcp?
    for qname, qtype, edns, rd, tcp in queries:
        if unanswered[tcp] >= MAX_NO_ANSWER:
            continue
        diff = compare(zones, knot, qdns, qname, qtype, edns, rd, tcp)
        if diff:
            mismatches.append(f"{dig_cmd(qdns.port, qname, qtype, edns, rd, tcp)}\n"
                              f"  {diff}")
            unanswered[tcp] += diff.startswith(NO_ANSWER)
            if unanswered[tcp] == MAX_NO_ANSWER:
                mismatches.append(f"{MAX_NO_ANSWER} queries over "
                                  f"{'TCP' if tcp else 'UDP'} unanswered: skipping "
                                  f"the rest of that transport")
        if not qdns.alive():
            mismatches.append(f"quorumdns died after the query above "
                              f"(rc {qdns.proc.returncode})")
            break
    report = (f"{len(mismatches)} of {len(queries)} queries differ "
              f"(knot port {knot.port}):\n\n" + "\n\n".join(mismatches))
    (tmp_path / "mismatches.txt").write_text(report)
    assert not mismatches, report


def test_query_generator_against_knot(knot):
    """The query set itself is sound: Knot answers every query (so a failure of
    test_same_answers_as_knot is about quorumdns), and it covers NXDOMAIN,
    NODATA, referrals, REFUSED, wildcard answers and truncation."""
    zones = load_zones()
    seen = set()
    for qname, qtype, edns, rd, tcp in build_queries(zones):
        r = ask(knot, make_query(qname, qtype, edns=edns, rd=rd), tcp)
        rc = r.rcode()
        if rc == dns.rcode.NOERROR and not r.answer:
            kind = "referral" if not r.flags & dns.flags.AA else "nodata"
        else:
            kind = dns.rcode.to_text(rc)
        seen.add(kind)
        if r.flags & dns.flags.TC:
            seen.add("tc")
    assert {"NOERROR", "NXDOMAIN", "REFUSED", "nodata", "referral", "tc"} <= seen, seen
