"""System tests of many zones on a real 3-node cluster (issue 12): bulk zone
creation, import and deletion in one request (every problem reported, each
zone all or nothing), zone list pages over a large catalog, and writes that
cost the same with 20,000 zones as with 10.

Run from this directory with Debian's Python:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_scale.py
QDNS_SCALE_ZONES sets the catalog size of the write-rate test (default
20,000; 5,000 against an ASan build, where everything runs ~5x slower).
"""

import json
import os
import http.client
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster_util import ADMIN_TOKEN, QDNS_BIN
from conftest import start_quorumdns

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


def is_asan(binary):
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "libasan" in out


def bulk(node, body, key=None, timeout=60.0):
    headers = {"Idempotency-Key": key} if key else None
    return node.post("/v1/zones/bulk", body, headers=headers, timeout=timeout)


def bulk_done(node, body, key, attempts=5):
    """POST /v1/zones/bulk to node() until no result failed: sent again with
    its Idempotency-Key after a 503 of the request or of every failed item
    (a leader change under load); any other failure fails the test.  The
    answer's JSON."""
    for _ in range(attempts):
        r = bulk(node(), body, key=key, timeout=300)
        if r.status == 503:
            time.sleep(0.5)
            continue
        assert r.status == 200, r
        failed = [x for x in r.json["results"] if "error" in x]
        if failed and all(x["status"] == 503 for x in failed):
            time.sleep(0.5)
            continue
        assert not failed, failed[:3]
        return r.json
    raise AssertionError(f"bulk request {key} still failing after {attempts} attempts")


def by_name(resp):
    """Results by (action, name); the first one when a name repeats."""
    out = {}
    for r in resp.json["results"]:
        out.setdefault((r["action"], r["name"]), r)
    return out


def test_bulk_creates_imports_and_deletes_reporting_every_problem(cluster_factory):
    c = cluster_factory().start(3)
    leader = c.leader()
    follower = c.followers()[0]
    c.create_zone("old.test.")
    c.create_zone("taken.test.")
    body = {
        "create": [
            {"name": "a.bulk.test.", "zone_file": "$TTL 300\nwww A 192.0.2.7\nmail MX 10 www\n"},
            {"name": "b.bulk.test.", "comment": "plain", "nameservers": ["ns.b.bulk.test."]},
            {"name": "bad..name."},
            {"name": "c.bulk.test.", "zone_file": "www A 192.0.2.1\nbroken A not-an-address\n"},
            {"name": "d.bulk.test.", "zone_file": "x CNAME a.bulk.test.\nx A 192.0.2.2\n"},
            {"name": "a.bulk.test."},
            {"name": "taken.test."},
            {"name": "e.bulk.test.", "ttl": "300"},
        ],
        "delete": ["old.test.", {"name": "missing.test."}, {"name": "taken.test.", "force": 1}],
    }
    # Through a follower: relayed to the leader like every write.
    r = bulk(follower, body, key="bulk-1")
    assert r.status == 200, r
    res = by_name(r)
    assert r.json["succeeded"] == 3 and r.json["failed"] == 8, r.json
    assert res[("create", "a.bulk.test.")]["status"] == 201
    assert res[("create", "a.bulk.test.")]["records"] == 2
    assert res[("create", "b.bulk.test.")]["status"] == 201
    assert res[("delete", "old.test.")]["status"] == 200
    # Every problem, each naming its field.
    bad = r.json["results"][2]
    assert bad["status"] == 400 and bad["error"]["field"] == "create[2].name", bad
    c_err = res[("create", "c.bulk.test.")]
    assert c_err["status"] == 400
    assert c_err["error"]["errors"][0]["field"] == "create[3].zone_file line 2", c_err
    d_err = res[("create", "d.bulk.test.")]
    assert d_err["status"] == 400 and "CNAME" in str(d_err["error"]), d_err
    dup = r.json["results"][5]
    assert dup["status"] == 400 and "earlier" in dup["error"]["message"], dup
    assert dup["error"]["field"] == "create[5].name", dup
    assert res[("create", "taken.test.")]["status"] == 409
    assert res[("create", "taken.test.")]["error"]["code"] == "ZoneAlreadyExists"
    assert res[("create", "e.bulk.test.")]["error"]["field"] == "create[7].ttl"
    assert res[("delete", "missing.test.")]["status"] == 404
    assert res[("delete", "taken.test.")]["error"]["field"] == "delete[2].force"

    # Each zone all or nothing: the ones with a bad file or records do not exist.
    for z in ("c.bulk.test.", "d.bulk.test.", "e.bulk.test.", "old.test."):
        assert leader.get(f"/v1/zones/{z}").status == 404, z
    assert leader.get("/v1/zones/taken.test.").status == 200
    c.wait_applied()
    c.wait_dns(c.running(), "www.a.bulk.test.", "A", {"192.0.2.7"}, timeout=5)
    c.wait_dns(c.running(), "mail.a.bulk.test.", "MX", {"10 www.a.bulk.test."}, timeout=5)

    # The same request again (same key): nothing is created twice, and the
    # zones made the first time are reported as made (200 and the first
    # change, as POST /v1/zones answers a retry).
    r2 = bulk(leader, body, key="bulk-1")
    assert r2.status == 200, r2
    res2 = by_name(r2)
    assert res2[("create", "a.bulk.test.")]["status"] == 200, res2
    assert res2[("create", "a.bulk.test.")]["change"]["id"] == \
        res[("create", "a.bulk.test.")]["change"]["id"]
    zones = leader.get("/v1/zones?limit=1000").json["zones"]
    assert [z["name"] for z in zones].count("a.bulk.test.") == 1
    # The key reused for another body: the items it made are refused with
    # 409 IdempotencyKeyMismatch, not answered as retries.
    other = {"create": [{"name": "a.bulk.test.", "comment": "another body"}]}
    r5 = bulk(leader, other, key="bulk-1")
    assert r5.status == 200, r5
    item = r5.json["results"][0]
    assert item["status"] == 409, item
    assert item["error"]["code"] == "IdempotencyKeyMismatch", item
    assert item["error"]["field"] == "Idempotency-Key", item
    # A zone name of 252 bytes leaves no room for the default ns1.<zone>.
    long_name = ".".join(["a" * 62] * 4)[:250] + "."
    assert len(long_name) == 251  # 252 bytes in wire form
    r6 = bulk(leader, {"create": [{"name": long_name}]})
    item = r6.json["results"][0]
    assert item["status"] == 400, item
    assert item["error"]["field"] == "create[0].nameservers", item

    # Keys of 159 bytes that share their first 158: two requests, not a
    # retry (each item's request id keeps a hash of the whole key).
    for end in "xy":
        r7 = bulk(leader, {"create": [{"name": f"long-{end}.bulk.test."}]},
                  key="k" * 158 + end)
        assert r7.json["results"][0]["status"] == 201, r7.json
    # Whole-request problems: not an object, nothing to do, too many.
    assert bulk(leader, {"create": "x"}).status == 400
    assert bulk(leader, {}).status == 400
    assert bulk(leader, {"create": [{"name": f"z{i}.test."} for i in range(1001)]}).status == 400
    # Deleting many at once, non-empty zones only with force.
    r3 = bulk(leader, {"delete": ["a.bulk.test.", {"name": "a.bulk.test.", "force": True}]})
    assert r3.json["results"][0]["status"] == 409, r3.json
    assert r3.json["results"][1]["status"] == 400  # the same zone twice
    r4 = bulk(leader, {"delete": [{"name": "a.bulk.test.", "force": True}, "b.bulk.test."]})
    assert r4.json["succeeded"] == 2, r4.json
    c.wait_applied()
    c.wait_dns(c.running(), "www.a.bulk.test.", "A", set(), timeout=5)


def upsert_rate(node, zone, seconds, clients=8):
    """Upserts of one record set per request into one zone, by `clients`
    concurrent keep-alive clients for `seconds`; returns writes/s.  Plain
    http.client: the clients must cost little next to the cluster."""
    stop = time.monotonic() + seconds
    counts = [0] * clients
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}

    def worker(w):
        conn = http.client.HTTPConnection(node.host, node.cluster.api_port, timeout=30)
        k = 0
        while time.monotonic() < stop:
            body = {"changes": [{"action": "UPSERT", "rrset": {
                "name": f"w{w}-{k % 20}.{zone}", "type": "A", "ttl": 60,
                "records": [f"192.0.2.{k % 250 + 1}"]}}]}
            conn.request("POST", f"/v1/zones/{zone}/changes", body=json.dumps(body),
                         headers=headers)
            r = conn.getresponse()
            text = r.read()
            assert r.status == 200, text
            counts[w] += 1
            k += 1
        conn.close()

    t0 = time.monotonic()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, range(clients)))
    return sum(counts) / (time.monotonic() - t0)


def snapshot_figures(node):
    """(snapshots taken, zones they kept, zones they packed, bytes kept for the
    next one) from node's /metrics."""
    got = {}
    for line in node.get("/metrics", timeout=30).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            got[key] = int(float(value))
    return (got.get("quorumdns_raft_snapshots_total"),
            got.get('quorumdns_raft_snapshot_zones_total{how="kept"}'),
            got.get('quorumdns_raft_snapshot_zones_total{how="packed"}'),
            got.get("quorumdns_raft_snapshot_kept_bytes"))


def test_no_node_serves_a_bulk_zone_before_it_holds_its_records(cluster_factory):
    """A zone of a bulk request and its zone file are one command: while
    300 such zones are created, every node asked over and over for their
    www names answers REFUSED (no zone yet) or the record, never an empty
    zone (NXDOMAIN, or NOERROR without it) that a resolver would cache."""
    import dns.exception
    import dns.rcode
    c = cluster_factory().start(3)
    names = [f"n{k}.served.test." for k in range(300)]
    body = {"create": [{"name": n, "zone_file": f"$TTL 60\nwww A 192.0.2.{k % 250 + 1}\n"}
                       for k, n in enumerate(names)]}
    seen, wrong = {}, []
    done = []

    def ask(node):
        while not done:
            for k, n in enumerate(names):
                try:
                    resp = node.q(f"www.{n}", "A", timeout=0.5)
                except dns.exception.Timeout:  # a lost datagram: ask again later
                    continue
                rcode = resp.rcode()
                seen[rcode] = seen.get(rcode, 0) + 1
                if rcode == dns.rcode.REFUSED:
                    continue
                values = {r.to_text() for rs in resp.answer for r in rs}
                if values != {f"192.0.2.{k % 250 + 1}"}:
                    wrong.append((node.id, n, dns.rcode.to_text(rcode), values))

    with ThreadPoolExecutor(3) as ex:
        askers = [ex.submit(ask, node) for node in c.running()]
        try:
            r = bulk(c.leader(), body, timeout=120)
        finally:
            done.append(True)
        for a in askers:
            a.result()
    assert r.status == 200 and r.json["succeeded"] == 300, r
    print("answers while the zones were made:", {dns.rcode.to_text(k): v for k, v in seen.items()})
    assert not wrong, wrong[:5]
    assert seen.get(dns.rcode.NOERROR, 0) > 0 and seen.get(dns.rcode.REFUSED, 0) > 0, seen


def best_rate(node, zone, rounds=4, seconds=2.5):
    """Best of a few short windows: the machine is shared, and a window
    slowed by someone else's work says nothing about ours."""
    return max(upsert_rate(node, zone, seconds) for _ in range(rounds))


def create_many(node, count, per_request=1000, parallel=2):
    """Creates count zones in bulk requests.  A request whose items failed
    with 503 (a leader change under load, e.g. with ASan) is sent again with
    the same Idempotency-Key, as docs/API.md says to: zones made the first
    time are reported as made, the others are made now."""
    def one(start):
        # Every 2nd zone with a master file: created with its records in one
        # command.
        body = {"create": [{"name": f"z{k}.s{k % 89}.scale.test."} if k % 2 else
                           {"name": f"z{k}.s{k % 89}.scale.test.",
                            "zone_file": f"$TTL 600\n@ SOA ns1 host 1 3600 600 86400 60\n"
                                         f"@ NS ns1\nns1 A 192.0.2.1\n"
                                         f"www 60 A 192.0.2.{k % 250 + 1}\n"}
                           for k in range(start, min(start + per_request, count))]}
        return bulk_done(node, body, f"scale-{start}")["succeeded"]

    with ThreadPoolExecutor(parallel) as ex:
        return sum(ex.map(one, range(0, count, per_request)))


def test_slow_writes_cost_the_same_with_20000_zones(cluster_factory):
    default = 5000 if is_asan(QDNS_BIN) else 20000
    count = int(os.environ.get("QDNS_SCALE_ZONES", default))
    # Measures the write path: no per-token write rate limit in the way.
    c = cluster_factory().start(3, extra=["--api-write-rate", "0"])
    leader = c.leader()
    for i in range(10):
        c.create_zone(f"small{i}.test.")
    small = best_rate(leader, "small0.test.")

    t0 = time.monotonic()
    assert create_many(lambda: c.leader(), count) == count
    took = time.monotonic() - t0
    print(f"{count} zones created in {took:.1f} s ({count / took:.0f}/s)")
    big = best_rate(c.leader(), "small0.test.")
    print(f"upserts/s: {small:.0f} with 10 zones, {big:.0f} with {count + 10}")
    # Within the noise of a shared machine; with a walk over the catalog per
    # commit (issue 12) the rate fell by half at 20,000 zones.
    assert big >= small * 0.75 / SLACK, (small, big)

    # Snapshots taken while only small0.test. changes keep the other zones
    # as the snapshot before packed them (consensus/segments.h): written on,
    # until every node has taken two more, the last of them keeps nearly all.
    base = {n.id: snapshot_figures(n) for n in c.running()}
    deadline = time.monotonic() + 180 * SLACK
    while any(snapshot_figures(n)[0] < base[n.id][0] + 2 for n in c.running()):
        assert time.monotonic() < deadline, "no two snapshots after the creations"
        try:
            upsert_rate(c.leader(), "small0.test.", 1.0)
        except (AssertionError, OSError, http.client.HTTPException):  # a leader change
            time.sleep(0.2)
    for n in c.running():
        taken, kept, packed, kept_bytes = snapshot_figures(n)
        kept, packed = kept - base[n.id][1], packed - base[n.id][2]
        print(f"node {n.id}: {taken - base[n.id][0]} snapshots, zones kept {kept} packed "
              f"{packed}, {kept_bytes} bytes kept ({kept_bytes / count:.0f} per zone)")
        assert kept >= count * 0.9 and packed <= count * 0.2, (n.id, kept, packed)
        assert 0 < kept_bytes < count * 200, (n.id, kept_bytes)

    # Every node counts the zones and record sets without walking them (the
    # totals are kept by each change), and the same after a restart from its
    # snapshot and log: 10 small zones (SOA, NS) and the 8 x 20 upserted
    # sets, odd bulk zones SOA + NS, even ones 2 more from their file.
    c.wait_applied(timeout=60)
    sets = 10 * 2 + 8 * 20 + (count // 2) * 2 + (count - count // 2) * 4

    def totals(n):
        text = n.get("/metrics", timeout=30).text
        got = {}
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key in ("quorumdns_zones", "quorumdns_record_sets"):
                got[key] = int(float(value))
        return got.get("quorumdns_zones"), got.get("quorumdns_record_sets")

    for n in c.running():
        assert totals(n) == (count + 10, sets), n.id
    again = c.followers()[0]
    again.stop()
    c.restart(again.id)
    c.wait_applied(timeout=120)
    assert totals(again) == (count + 10, sets)
    # Applied is not yet serving: DNS opens once the restored state is
    # published (in slices, seconds under ASan).
    c.wait_healthy([again.id], timeout=60 * SLACK)

    # Every node serves zones from all over the catalog.
    for k in (0, count // 3, count - 1):
        name = f"z{k}.s{k % 89}.scale.test."
        for n in c.running():
            assert n.values(name, "SOA", timeout=2.0), (n.id, name)
    c.wait_dns(c.running(), f"www.z{count - 4}.s{(count - 4) % 89}.scale.test.", "A",
               {f"192.0.2.{(count - 4) % 250 + 1}"}, timeout=10)

    # Pages of the zone list: complete, sorted, each fetched quickly.
    names, marker, slowest = [], None, 0.0
    while True:
        path = "/v1/zones?limit=1000" + (f"&marker={marker}" if marker else "")
        a = time.monotonic()
        r = c[2].get(path, timeout=30)
        slowest = max(slowest, time.monotonic() - a)
        assert r.status == 200, r
        names += [z["name"] for z in r.json["zones"]]
        marker = r.json["next_marker"]
        if marker is None:
            break
    assert len(names) == count + 10
    assert names == sorted(names) and len(set(names)) == len(names)
    print(f"slowest page of 1000 zones: {slowest * 1000:.0f} ms")
    # And the name lookup of one zone.
    assert c[3].get(f"/v1/zones/z{count // 2}.s{count // 2 % 89}.scale.test.").status == 200
    # A page size that is not a whole number from 1 up is refused, naming
    # the field; a larger one than 1000 gives 1000.
    zone = f"z{count // 2}.s{count // 2 % 89}.scale.test."
    for path in ("/v1/zones", f"/v1/zones/{zone}/rrsets"):
        for bad in ("0", "-5", "ten", "10x", ""):
            r = c[1].get(f"{path}?limit={bad}")
            assert r.status == 400 and r.json["error"]["field"] == "limit", (path, bad, r)
    assert len(c[1].get("/v1/zones?limit=99999999999999999999").json["zones"]) == 1000


QUORUMCTL = os.environ.get("QUORUMCTL_BIN",
                           str(QDNS_BIN.parents[1] / "tools" / "quorumctl" / "quorumctl"))


def ctl(c, *args):
    cmd = [QUORUMCTL, "--token", ADMIN_TOKEN]
    for n in c.running():
        cmd += ["--server", n.api]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300)


def test_import_many_from_a_directory_and_from_named_conf(cluster_factory, tmp_path):
    if not os.path.exists(QUORUMCTL):
        import pytest
        pytest.skip(f"quorumctl not built: {QUORUMCTL}")
    c = cluster_factory().start(3)
    zones = tmp_path / "zones"
    zones.mkdir()
    for k in range(250):
        (zones / f"m{k}.migrate.test.zone").write_text(
            f"$TTL 600\n@ SOA ns1.m{k}.migrate.test. host.m{k}.migrate.test. 7 3600 600 86400 60\n"
            f"@ NS ns1.m{k}.migrate.test.\nns1 A 192.0.2.1\nwww A 198.51.100.{k % 250 + 1}\n")
    (zones / "db.broken.migrate.test").write_text("www A 192.0.2.1\nbad AAAA not-v6\n")
    (zones / ".hidden").write_text("ignored")
    (zones / "sub.dir").mkdir()  # not a file: not a zone
    # A link to nothing is a zone that cannot be read: a failure, not lost.
    (zones / "dangling.migrate.test").symlink_to(tmp_path / "nowhere")
    p = ctl(c, "zone", "import-many", str(zones), "--batch", "40")
    # Two zones failed: exit 1, the line named, the others all created.
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "created 250 zones (1000 records), 2 failed" in p.stdout, p.stdout
    assert "broken.migrate.test.: 400" in p.stderr and "zone_file line 2" in p.stderr, p.stderr
    assert "dangling.migrate.test" in p.stderr, p.stderr
    assert "250/252 zones" in p.stderr or "252/252 zones" in p.stderr, p.stderr
    (zones / "dangling.migrate.test").unlink()
    c.wait_applied(timeout=30)
    c.wait_dns(c.running(), "www.m17.migrate.test.", "A", {"198.51.100.18"}, timeout=5)
    assert c.leader().get("/v1/zones/broken.migrate.test.").status == 404

    # Run again: everything exists; --skip-existing resumes without failures
    # except the broken file.
    p = ctl(c, "zone", "import-many", str(zones), "--skip-existing")
    assert "created 0 zones (0 records), 1 failed, 250 existed" in p.stdout, p.stdout
    # Only ZoneAlreadyExists counts as existed: a key reused with other
    # zone files (409 IdempotencyKeyMismatch) is a failure, --skip-existing
    # or not.
    few = tmp_path / "few"
    few.mkdir()
    (few / "k1.migrate.test").write_text("www A 192.0.2.1\n")
    p = ctl(c, "--idempotency-key", "many-1", "zone", "import-many", str(few))
    assert p.returncode == 0, (p.stdout, p.stderr)
    (few / "k1.migrate.test").write_text("www A 192.0.2.2\n")
    p = ctl(c, "--idempotency-key", "many-1", "zone", "import-many", str(few),
            "--skip-existing")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "created 0 zones (0 records), 1 failed, 0 existed" in p.stdout, p.stdout
    assert "IdempotencyKeyMismatch" in p.stderr or "409" in p.stderr, p.stderr

    # From BIND: primary zones only, files relative to options { directory }.
    bind = tmp_path / "bind"
    (bind / "master").mkdir(parents=True)
    for name in ("one.bind.test", "two.bind.test"):
        (bind / "master" / f"db.{name}").write_text("$TTL 300\nwww A 203.0.113.9\n")
    (bind / "named.conf").write_text(
        'options { directory "master"; recursion no; };\n'
        '// comment\nzone "one.bind.test" { type master; file "db.one.bind.test"; };\n'
        'view "v" { zone "two.bind.test" IN { type primary; file "db.two.bind.test"; }; };\n'
        'zone "sec.bind.test" { type slave; masters { 192.0.2.1; }; file "x"; };\n')
    p = ctl(c, "--json", "zone", "import-many", "--from-bind", str(bind / "named.conf"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    out = json.loads(p.stdout)
    assert out["created"] == 2 and out["failed"] == 0 and out["records"] == 2, out
    assert "1 zone(s) skipped" in p.stderr
    c.wait_dns(c.running(), "www.two.bind.test.", "A", {"203.0.113.9"}, timeout=5)
    # A broken named.conf: its line, exit 1 (a syntax error in an input
    # file), nothing sent; one that cannot be read: exit 2.
    (bind / "bad.conf").write_text('zone "x" {\n type master;\n file "unterminated;\n')
    p = ctl(c, "zone", "import-many", "--from-bind", str(bind / "bad.conf"))
    assert p.returncode == 1 and "bad.conf:3: string not closed" in p.stderr, p.stderr
    p = ctl(c, "zone", "import-many", "--from-bind", str(bind / "missing.conf"))
    assert p.returncode == 2 and "missing.conf" in p.stderr, p.stderr
    # A ';' lost after "type master" would swallow the file statement: the
    # named.conf is refused whole, with its line, and nothing is sent.
    (bind / "lost.conf").write_text('zone "three.bind.test" { type master; file "x"; };\n'
                                    'zone "four.bind.test" { type master file "x"; };\n')
    p = ctl(c, "zone", "import-many", "--from-bind", str(bind / "lost.conf"))
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "lost.conf:2: ';' expected after type master" in p.stderr, p.stderr
    assert c.leader().get("/v1/zones/three.bind.test.").status == 404
    # An included file (Debian's named.conf.local) has no options block:
    # --bind-directory says where its relative file names are.
    (bind / "etc").mkdir()
    (bind / "master" / "db.local.bind.test").write_text("$TTL 300\nwww A 203.0.113.7\n")
    (bind / "etc" / "named.conf.local").write_text(
        'ZONE "local.bind.test" { TYPE MASTER; FILE "db.local.bind.test"; };\n')
    p = ctl(c, "zone", "import-many", "--from-bind", str(bind / "etc" / "named.conf.local"),
            "--bind-directory", str(bind / "master"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "created 1 zones (1 records), 0 failed" in p.stdout, p.stdout
    p = ctl(c, "zone", "import-many", str(zones), "--bind-directory", "x")
    assert p.returncode == 2 and "--bind-directory goes with --from-bind" in p.stderr, p.stderr


def test_import_many_counts_the_zones_a_failed_request_left_unconfirmed(
        cluster_factory, tmp_path):
    """A bulk request that fails as a whole (here 413: a zone file larger
    than the nodes' body limit) ends the run with its exit code; the zones
    of no answer are reported as unconfirmed, not as created or failed, and
    the run made again with --skip-existing (and a limit that fits) takes
    them without failing on the ones already made."""
    if not os.path.exists(QUORUMCTL):
        pytest.skip(f"quorumctl not built: {QUORUMCTL}")
    c = cluster_factory().start(3, extra=["--api-body-limit", "64K"])
    zones = tmp_path / "zones"
    zones.mkdir()
    for name in ("a1", "a2", "a3"):
        (zones / f"{name}.big.test").write_text("www A 192.0.2.1\n")
    big = "".join(f"h{k} A 192.0.2.{k % 250 + 1}\n" for k in range(6000))  # ~100 KB
    (zones / "b4.big.test").write_text(big)
    p = ctl(c, "zone", "import-many", str(zones), "--batch", "2")
    # 413 (exit 1), or, when the node's close after its 413 cuts the upload
    # short, a send error on every server (exit 3): either way the request
    # failed as a whole.
    assert p.returncode in (1, 3), (p.stdout, p.stderr)
    assert "created 2 zones (2 records), 0 failed, 2 unconfirmed" in p.stdout, p.stdout
    (zones / "b4.big.test").write_text("www A 192.0.2.4\n")
    p = ctl(c, "zone", "import-many", str(zones), "--batch", "2", "--skip-existing")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "created 2 zones (2 records), 0 failed, 2 existed" in p.stdout, p.stdout


def mapping_flags(pid, want):
    """The VmFlags of each of the process's mappings whose name (None for an
    anonymous one) want(name) accepts."""
    flags, name = [], None
    for line in open(f"/proc/{pid}/smaps"):
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
            name = line.split()[5] if len(line.split()) > 5 else None
        elif line.startswith("VmFlags:") and want(name):
            flags.append(line.split()[1:])
    return flags


def heap_flags(pid):
    """The VmFlags of each of the process's [heap] mappings (glibc's)."""
    return mapping_flags(pid, lambda name: name == "[heap]")


def anon_flags(pid):
    """The VmFlags of each anonymous mapping (jemalloc's extents among them)."""
    return mapping_flags(pid, lambda name: name is None)


@pytest.mark.parametrize("given", [None, "glibc.malloc.arena_max=2", "glibc.malloc.hugetlb=0"])
def test_the_heap_is_jemalloc_or_glibc_on_huge_pages(tmp_path, monkeypatch, given):
    """At a million zones glibc's malloc made every creation cost more as the
    catalog grew, jemalloc did not (BENCHMARKS.md): a normal build's node runs
    on jemalloc with its own thp:always (its heap on transparent huge pages,
    mappings marked "hg"), says so in its log, and does not execute itself
    again (no GLIBC_TUNABLES of its own).  A build on glibc's malloc (the ASan
    build, or -DQDNS_JEMALLOC=OFF) re-executes itself with glibc's heap on
    huge pages, also when other tunables are set; an operator's
    glibc.malloc.hugetlb is left as it is.  Either way the node runs as the
    process that was started (same pid, binary and name)."""
    thp = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    if "[never]" in thp:
        pytest.skip("transparent huge pages are off on this machine")
    # The allocators mark their mappings ("hg", MADV_HUGEPAGE) only where the
    # kernel gives huge pages when asked; in "always" mode it needs no asking.
    madvise = "[madvise]" in thp
    monkeypatch.delenv("MALLOC_CONF", raising=False)
    if given is None:
        monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    else:
        monkeypatch.setenv("GLIBC_TUNABLES", given)
    srv = start_quorumdns(tmp_path)
    try:
        pid = srv.proc.pid
        assert os.readlink(f"/proc/{pid}/exe") == str(QDNS_BIN.resolve())
        # ps, pgrep and tools/cluster.sh know the node by its name
        assert open(f"/proc/{pid}/comm").read().strip() == QDNS_BIN.name[:15]
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        tunables = [e for e in environ if e.startswith(b"GLIBC_TUNABLES=")]
        if "heap: jemalloc" in srv.log():
            assert "heap: jemalloc 5." in srv.log() and ", thp:always" in srv.log(), srv.log()
            assert "libjemalloc.so" in open(f"/proc/{pid}/maps").read()
            if given is None:
                assert tunables == [], tunables
            if madvise:  # where THP is "always", nothing needs the mark
                huge = [f for f in anon_flags(pid) if "hg" in f]
                assert huge, "no anonymous mapping of jemalloc's is marked for huge pages"
        else:
            assert "heap: glibc malloc" in srv.log(), srv.log()
            if given is None:
                assert tunables == [b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1"], tunables
            if madvise and not is_asan(QDNS_BIN):  # ASan's allocator has no glibc [heap]
                huge = any("hg" in f for f in heap_flags(pid))
                assert huge == (given != "glibc.malloc.hugetlb=0"), heap_flags(pid)
    finally:
        assert srv.stop() == 0
