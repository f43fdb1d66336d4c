#!/usr/bin/env python3
"""geo_zone.py -- the data of the location-aware routing benchmark (geo_bench.sh).

One zone, one GeoIP database, one set of client subnets, served by
quorumdns, Knot (mod-geoip) and gdnsd (geoip plugin) alike.  Writes into OUT:

  clients.txt         the client subnets: /24s drawn at random (--seed) from
                      the IPv4 space that the database places in a country,
                      with the country it says ("ADDR/24 CC")
  quorumdns/example.test.zone
                      N plain names s<i> (one A) and, as ';quorumdns-rrset'
                      lines, N geolocation names g<i>: one set per country
                      of COUNTRIES and "*" (the default), each one A
  knot/example.test.zone, knot/geo.conf
                      Knot: the plain names, g<i>'s default as its plain A,
                      and the countries' answers in mod-geoip's file (geodb
                      mode keyed on country/iso_code)
  gdnsd/zones/example.test, gdnsd/config.in
                      gdnsd: the plain names and g<i> as "DYNA geoip!g<i>",
                      a map sending each country to its datacenter and
                      everything else to the default one
  <kind>.txt          query files, --queries lines "NAME A [SUBNET]" for
                      tools/bench/ecsblast.c, names and clients drawn
                      uniformly: simple (no ECS), simple-ecs (the plain
                      names with the clients' subnets), geo (geolocation
                      names with the clients' subnets)
  expect.txt          "KIND NAME SUBNET ADDRESS" for a sample of each
                      kind's queries: what every server must answer

  quorumdns/cidr.json the CIDR collection of the IP-based names: a location
                      per country of COUNTRIES holding the client /24s the
                      database places there (POST /v1/cidrcollections, then
                      its "changes"); the zone names it as @CIDR@, the id
                      the cluster gives it

  knot/nets.conf      Knot's IP-based names: mod-geoip in subnet mode, which
                      lists the subnets per name ("- net: SUBNET" and the
                      answer) -- every client /24 of the collection under
                      every name it answers
  knot/kinds          the routed kinds Knot answers (one line)

Kinds of name are entries of KINDS (below), each saying how every server
writes it; a server that has no such routing writes None and is not asked
those queries.  IP-based names c<i> (cidr): quorumdns sets with
cidr_routing_config for each country's location and "*"; gdnsd a second
map of the same /24s as "nets" (no database); Knot mod-geoip's subnet
mode, whose file lists every subnet under every name: names x blocks
entries (2,000 x 1,000 at 2,000 clients: 2,000,000 entries, ~5 s to load
and ~850 MB in Knot 3.2).  Knot gets the cidr names only when they fit in
--knot-nets entries; otherwise it is not asked them, and the kind
cidr-small, K<i>: the same IP-based names and collection, but only
--knot-nets / blocks of them (at least 1, at most N: 80 at 50,000
clients), is what every server answers -- list it in geo_bench.sh's
KINDS to compare IP-based names with Knot at many clients.

Usage: tools/bench/geo_zone.py --out OUT --mmdb DB.mmdb [--n 2000] [--clients 2000]
         [--queries 100000] [--seed 7] [--kinds "geo cidr"] [--knot-nets 2000000]
(run by geo_bench.sh; needs perl's MaxMind::DB::Reader).
"""

import argparse
import ipaddress
import json
import os
import random
import subprocess

HEAD = """$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
"""

# Countries with a set of their own; every other client gets the default.
COUNTRIES = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "AU"]
CONTINENT = {"US": "NA", "GB": "EU", "DE": "EU", "FR": "EU", "JP": "AS", "BR": "SA",
             "IN": "AS", "AU": "OC"}


def addr(i, k):
    """The answer of name i for datacenter k (k = len(COUNTRIES): the default)."""
    return f"10.{(i >> 8) & 255}.{i & 255}.{k + 1}"


def routed(obj):
    return ";quorumdns-rrset " + json.dumps(obj, separators=(",", ":")) + "\n"


def place_clients(mmdb, count, seed):
    """count random /24s with a country in the database: [(subnet, cc)]."""
    rnd = random.Random(seed)
    cands = []
    while len(cands) < count * 3:
        a = rnd.randrange(1, 224) << 24 | rnd.randrange(1 << 16) << 8
        net = ipaddress.IPv4Address(a)
        if net.is_global:
            cands.append(str(net))
    script = r"""
        use MaxMind::DB::Reader;
        my $r = MaxMind::DB::Reader->new(file => shift);
        while (my $ip = <STDIN>) {
            chomp $ip;
            my $x = $r->record_for_address($ip) || {};
            my $cc = $x->{country}{iso_code} // "";
            print "$ip $cc\n";
        }
    """
    p = subprocess.run(["perl", "-e", script, mmdb], input="\n".join(cands) + "\n",
                       capture_output=True, text=True, check=True)
    placed = [ln.split() for ln in p.stdout.splitlines() if len(ln.split()) == 2]
    # Half the clients in the countries that have sets, half anywhere.
    ours = [(ip, cc) for ip, cc in placed if cc in COUNTRIES]
    rest = [(ip, cc) for ip, cc in placed if cc not in COUNTRIES]
    out = ours[:count // 2] + rest[:count - min(len(ours), count // 2)]
    return [(f"{ip}/24", cc) for ip, cc in out[:count]]


# ---- kinds of name: how each server writes name i (None: it cannot) --------------

def quorumdns_geo(i):
    sets = [{"name": f"g{i}.example.test.", "type": "A", "set_identifier": cc.lower(),
             "ttl": 300, "records": [addr(i, k)], "geo_location": {"country_code": cc}}
            for k, cc in enumerate(COUNTRIES)]
    sets.append({"name": f"g{i}.example.test.", "type": "A", "set_identifier": "any",
                 "ttl": 300, "records": [addr(i, len(COUNTRIES))],
                 "geo_location": {"country_code": "*"}})
    return "".join(routed(s) for s in sets)


def knot_geo(i):
    """(zone lines, geo.conf lines)"""
    zone = f"g{i} 300 A {addr(i, len(COUNTRIES))}\n"
    conf = f"g{i}.example.test:\n" + "".join(
        f'  - geo: "{cc}"\n    A: {addr(i, k)}\n' for k, cc in enumerate(COUNTRIES))
    return zone, conf


def gdnsd_geo(i):
    """(zone lines, resource config)"""
    dcmap = ", ".join([f"dc-{cc.lower()} => {addr(i, k)}" for k, cc in enumerate(COUNTRIES)]
                      + [f"dc-any => {addr(i, len(COUNTRIES))}"])
    return f"g{i} 300 DYNA geoip!g{i}\n", f"      g{i} => {{ map => bench, dcmap => {{ {dcmap} }} }}\n"


def answer_geo(i, cc):
    return addr(i, COUNTRIES.index(cc)) if cc in COUNTRIES else addr(i, len(COUNTRIES))


# The client /24s of each country of COUNTRIES (filled by main()): the
# blocks of the IP-based names' collection and of gdnsd's nets map.
BLOCKS = {}


def quorumdns_cidr(i, prefix="c"):
    sets = [{"name": f"{prefix}{i}.example.test.", "type": "A", "set_identifier": cc.lower(),
             "ttl": 300, "records": [addr(i, k)],
             "cidr_routing_config": {"collection_id": "@CIDR@", "location_name": cc.lower()}}
            for k, cc in enumerate(COUNTRIES) if BLOCKS.get(cc)]
    sets.append({"name": f"{prefix}{i}.example.test.", "type": "A", "set_identifier": "any",
                 "ttl": 300, "records": [addr(i, len(COUNTRIES))],
                 "cidr_routing_config": {"collection_id": "@CIDR@", "location_name": "*"}})
    return "".join(routed(s) for s in sets)


def knot_cidr(i, prefix="c"):
    """(zone lines, nets.conf lines): the default as the plain A, every
    block of the collection with its location's answer."""
    zone = f"{prefix}{i} 300 A {addr(i, len(COUNTRIES))}\n"
    conf = f"{prefix}{i}.example.test:\n" + "".join(
        f"  - net: {b}\n    A: {addr(i, k)}\n"
        for k, cc in enumerate(COUNTRIES) for b in sorted(set(BLOCKS.get(cc, []))))
    return zone, conf


def gdnsd_cidr(i, prefix="c"):
    dcmap = ", ".join([f"dc-{cc.lower()} => {addr(i, k)}" for k, cc in enumerate(COUNTRIES)]
                      + [f"dc-any => {addr(i, len(COUNTRIES))}"])
    return (f"{prefix}{i} 300 DYNA geoip!{prefix}{i}\n",
            f"      {prefix}{i} => {{ map => benchnets, dcmap => {{ {dcmap} }} }}\n")


KINDS = {
    # kind: (name prefix, quorumdns lines, knot (zone, conf file, lines), gdnsd (zone,
    #        resource), expected answer(i, client country), queries carry ECS,
    #        names (None: N; a function of N, blocks and --knot-nets))
    "geo": ("g", quorumdns_geo, knot_geo, gdnsd_geo, answer_geo, True, None),
    "cidr": ("c", quorumdns_cidr, knot_cidr, gdnsd_cidr, answer_geo, True, None),
    "cidr-small": ("k", lambda i: quorumdns_cidr(i, "k"), lambda i: knot_cidr(i, "k"),
                   lambda i: gdnsd_cidr(i, "k"), answer_geo, True,
                   lambda n, blocks, nets: max(1, min(n, nets // max(1, blocks)))),
}
# Which of Knot's files a kind's lines go to: geodb mode or subnet mode.
KNOT_FILE = {"geo": "geo.conf", "cidr": "nets.conf", "cidr-small": "nets.conf"}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True,
                    help="OUT: the directory the files are written into (created if missing)")
    ap.add_argument("--mmdb", required=True,
                    help="GeoIP2-schema City or Country database (.mmdb) that places the "
                    "clients; read with perl's MaxMind::DB::Reader")
    ap.add_argument("--n", type=int, default=2000,
                    help="N: names of each kind (s<i>, g<i>, c<i>; cidr-small's k<i> may "
                    "be fewer, see above) (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=2000,
                    help="client /24 subnets to draw: up to half in COUNTRIES, the rest "
                    "anywhere (default: %(default)s)")
    ap.add_argument("--queries", type=int, default=100000,
                    help="lines of each query file (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=7,
                    help="random seed of the clients' subnets (the query files use "
                    "seed + 1) (default: %(default)s)")
    ap.add_argument("--knot-nets", type=int, default=2000000,
                    help="the most name x subnet entries of Knot's subnet-mode file: "
                    "more cidr names than fit are not given to Knot (default: %(default)s)")
    ap.add_argument("--kinds", default="geo cidr",
                    help="the routed kinds of name to write, space-separated (of: %s) "
                    "(default: %%(default)s)" % " ".join(KINDS))
    a = ap.parse_args()
    kinds = {k: KINDS[k] for k in a.kinds.split()}
    n = a.n
    for d in ("quorumdns", "knot", "gdnsd/zones"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    clients = place_clients(a.mmdb, a.clients, a.seed)
    with open(os.path.join(a.out, "clients.txt"), "w") as f:
        f.writelines(f"{s} {cc}\n" for s, cc in clients)
    plain = [f"s{i} 300 A {addr(i, 0)}\n" for i in range(n)]
    for subnet, cc in clients:
        if cc in COUNTRIES:
            BLOCKS.setdefault(cc, []).append(subnet)
    with open(os.path.join(a.out, "quorumdns", "cidr.json"), "w") as f:
        json.dump({"name": "bench", "changes": [
            {"action": "PUT", "location_name": cc.lower(), "cidr_list": sorted(set(b))}
            for cc, b in BLOCKS.items()]}, f)

    blocks = sum(len(set(b)) for b in BLOCKS.values())
    count = {kname: (n if kind[6] is None else kind[6](n, blocks, a.knot_nets))
             for kname, kind in kinds.items()}
    # Knot: every kind but the cidr names when they do not fit.
    knot_kinds = [k for k in kinds if not (k == "cidr" and n * blocks > a.knot_nets)]

    with open(os.path.join(a.out, "quorumdns", "example.test.zone"), "w") as f:
        f.write(HEAD)
        f.writelines(plain)
        for kname, kind in kinds.items():
            for i in range(count[kname]):
                f.write(kind[1](i))
    kzone, kconf = [], {"geo.conf": [], "nets.conf": []}
    gzone, gres = [], []
    for kname, kind in kinds.items():
        for i in range(count[kname]):
            if kname in knot_kinds:
                z, c = kind[2](i)
                kzone.append(z)
                kconf[KNOT_FILE[kname]].append(c)
            z, r = kind[3](i)
            gzone.append(z)
            gres.append(r)
    with open(os.path.join(a.out, "knot", "example.test.zone"), "w") as f:
        f.write(HEAD)
        f.writelines(plain + kzone)
    for fname, lines in kconf.items():
        with open(os.path.join(a.out, "knot", fname), "w") as f:
            f.writelines(lines)
    with open(os.path.join(a.out, "knot", "kinds"), "w") as f:
        f.write(" ".join(knot_kinds) + "\n")
    with open(os.path.join(a.out, "gdnsd", "zones", "example.test"), "w") as f:
        f.write(HEAD)
        f.writelines(plain + gzone)
    with open(os.path.join(a.out, "gdnsd", "config.in"), "w") as f:
        f.write("options => {\n  listen => [ 127.0.0.1:@PORT@ ]\n  udp_threads => 1\n"
                "  tcp_threads => 1\n  run_dir => @RUN@/run\n"
                "  state_dir => @RUN@/state\n}\n")
        # Unlisted places get the datacenters in order: dc-any first.
        dcs = ["dc-any"] + [f"dc-{cc.lower()}" for cc in COUNTRIES]
        by_continent = {}
        for cc in COUNTRIES:
            by_continent.setdefault(CONTINENT[cc], []).append(cc)
        geomap = "".join(
            f"          {cont} => {{ default => [dc-any], "
            + ", ".join(f"{cc} => [dc-{cc.lower()}]" for cc in ccs) + " }\n"
            for cont, ccs in by_continent.items())
        f.write("plugins => {\n  geoip => {\n    maps => {\n      bench => {\n"
                "        geoip2_db => @MMDB@\n"
                f"        datacenters => [{', '.join(dcs)}]\n"
                "        map => {\n" + geomap + "        }\n      }\n"
                "      benchnets => {\n"
                f"        datacenters => [{', '.join(dcs)}]\n"
                "        nets => {\n" + "".join(
                    f"          {b} => [dc-{cc.lower()}]\n"
                    for cc, bs in BLOCKS.items() for b in sorted(set(bs)))
                + "        }\n      }\n    }\n"
                "    resources => {\n")
        f.writelines(gres)
        f.write("    }\n  }\n}\n")

    rnd = random.Random(a.seed + 1)
    with open(os.path.join(a.out, "simple.txt"), "w") as f:
        for _ in range(a.queries):
            f.write(f"s{rnd.randrange(n)}.example.test. A\n")
    with open(os.path.join(a.out, "simple-ecs.txt"), "w") as f:
        for _ in range(a.queries):
            f.write(f"s{rnd.randrange(n)}.example.test. A {rnd.choice(clients)[0]}\n")
    expect = []
    for kname, kind in kinds.items():
        with open(os.path.join(a.out, f"{kname}.txt"), "w") as f:
            for q in range(a.queries):
                i = rnd.randrange(count[kname])
                subnet, cc = rnd.choice(clients)
                f.write(f"{kind[0]}{i}.example.test. A {subnet}\n")
                if q < 200:
                    expect.append(f"{kname} {kind[0]}{i}.example.test. {subnet} "
                                  f"{kind[4](i, cc)}\n")
    with open(os.path.join(a.out, "expect.txt"), "w") as f:
        f.writelines(expect)


if __name__ == "__main__":
    main()
