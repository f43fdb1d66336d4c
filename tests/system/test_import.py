"""Atomic imports of any size (issue 13, part 1): a file staged on the
cluster in chunks and committed as one change — all or nothing, whatever the
chunk size; every error of the whole file as FILE:LINE before anything
changes; --replace that says what it deletes and asks first; --dry-run.

Run from this directory:
  QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_import.py
"""

import json
import os

import pytest

from cluster_util import change, http
from test_cluster import post_changes
from test_quorumctl import QUORUMCTL, ctl

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


@pytest.fixture
def c(cluster_factory):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    c = cluster_factory().start(3)
    c.create_zone("imp.test.")
    r = post_changes(c.leader(), "imp.test.",
                     [change("CREATE", "old.imp.test.", "A", ["192.0.2.1"]),
                      change("CREATE", "keep.imp.test.", "A", ["192.0.2.2"])])
    assert r.status == 200, r
    c.wait_applied()
    return c


def sets(c, zone="imp.test"):
    c.wait_applied()
    p = ctl(c, "--json", "record", "list", zone)
    assert p.returncode == 0, p
    return {(s["name"], s["type"]): s["records"] for s in json.loads(p.stdout)["rrsets"]}


def serial(c, zone="imp.test."):
    return c.leader().get(f"/v1/zones/{zone}").json["serial"]


def test_chunked_import_with_errors_changes_nothing_and_names_every_line(c, tmp_path):
    f = tmp_path / "bad.zone"
    f.write_text("$ORIGIN imp.test.\n$TTL 300\n"   # lines 1-2
                 "a A 192.0.2.10\n"                  # 3
                 "b A 192.0.2.11\n"                  # 4
                 "c A 192.0.2.12\n"                  # 5
                 "d A 192.0.2.300\n"                 # 6: bad value
                 "e A 192.0.2.14\n"                  # 7
                 "f AA 1.2.3.4\n"                    # 8: unknown type
                 "g A 192.0.2.16\n")                 # 9
    before, s0 = sets(c), serial(c)
    p = ctl(c, "zone", "import", "imp.test", str(f), "--chunk-records", "2")
    assert p.returncode == 1, p
    assert f"{f}:6: " in p.stderr, p.stderr
    assert f"{f}:8: unknown record type 'AA'" in p.stderr, p.stderr
    assert "2 errors" in p.stderr and "nothing was imported" in p.stderr, p.stderr
    assert sets(c) == before and serial(c) == s0


def test_big_import_in_many_chunks_is_one_change(c, tmp_path):
    n = 20000
    f = tmp_path / "big.zone"
    f.write_text("$ORIGIN imp.test.\n$TTL 300\n" +
                 "".join(f"h{i} A 10.0.{i >> 8 & 255}.{i & 255}\n" for i in range(n)))
    s0 = serial(c)
    p = ctl(c, "zone", "import", "imp.test", str(f), "--chunk-records", "1000",
            servers=[c.followers()[0].api])  # through a follower: relayed
    assert p.returncode == 0, p
    assert f"imported {n} records into imp.test. as one change" in p.stdout, p.stdout
    assert serial(c) == s0 + 1  # one change batch
    got = sets(c)
    assert ("h19999.imp.test.", "A") in got and ("old.imp.test.", "A") in got
    cid = p.stdout.split("change ")[1].split()[0]
    assert ctl(c, "change", "wait", cid, "--timeout", str(30 * SLACK)).returncode == 0


def test_replace_lists_deletions_asks_and_dry_run_changes_nothing(c, tmp_path):
    f = tmp_path / "new.zone"
    f.write_text("$ORIGIN imp.test.\n$TTL 300\nkeep A 192.0.2.2\nnew A 192.0.2.3\n"
                 "changed TXT \"x\"\n")
    before, s0 = sets(c), serial(c)
    p = ctl(c, "zone", "import", "imp.test", str(f), "--replace", "--dry-run")
    assert p.returncode == 0, p
    out = p.stdout
    assert "nothing was changed" in out
    assert "create: 2 record sets" in out and "new.imp.test. A" in out, out
    assert "delete: 1 record set\n  old.imp.test. A" in out, out
    assert "unchanged: 1 record set\n" in out, out
    assert sets(c) == before and serial(c) == s0
    # --replace without --yes and without a terminal: refused, nothing changed
    p = ctl(c, "zone", "import", "imp.test", str(f), "--replace")
    assert p.returncode == 2, p
    assert "old.imp.test. A" in p.stderr and "--yes" in p.stderr, p.stderr
    assert sets(c) == before and serial(c) == s0
    # without --replace nothing is deleted
    p = ctl(c, "zone", "import", "imp.test", str(f))
    assert p.returncode == 0, p
    got = sets(c)
    assert ("old.imp.test.", "A") in got and ("new.imp.test.", "A") in got
    # --replace --yes deletes what the file lacks, keeps the apex SOA and NS
    p = ctl(c, "zone", "import", "imp.test", str(f), "--replace", "--yes")
    assert p.returncode == 0, p
    got = sets(c)
    assert ("old.imp.test.", "A") not in got and ("keep.imp.test.", "A") in got
    assert ("imp.test.", "SOA") in got and ("imp.test.", "NS") in got


def staged(leader, text):
    """A staging of imp.test. on the leader holding one chunk, text (one
    record); its id."""
    r = leader.post("/v1/zones/imp.test./imports")
    assert r.status == 201, r
    iid = r.json["id"]
    r = http("POST", leader.api + f"/v1/zones/imp.test./imports/{iid}/chunks",
             raw="$ORIGIN imp.test.\n" + text, content_type="text/dns")
    assert r.status == 200 and r.json["staged_records"] == 1, r
    return iid


def test_staged_commit_keys_and_dry_run(c):
    """A staged import's commit: a dry run says whether it replaces and
    lists what it would replace; a bad Idempotency-Key is one 400 naming
    the header (the commit went on after it); a retry answers the first
    change; the key used for another request is 409, not that change."""
    leader = c.leader()
    iid = staged(leader, "keyed A 192.0.2.77\n")
    path = f"/v1/zones/imp.test./imports/{iid}/commit"
    r = leader.post(path + "?replace=true&dry_run=true")
    assert r.status == 200 and r.json["replacing"] is True, r
    assert isinstance(r.json["replace"], list) and r.json["create_count"] == 1, r.json
    r = leader.post(path + "?dry_run=true")
    assert r.status == 200 and r.json["replacing"] is False, r
    before = sets(c)
    r = leader.post(path, headers={"Idempotency-Key": "k" * 200})
    assert r.status == 400 and r.error["field"] == "Idempotency-Key", r
    assert sets(c) == before and leader.alive()
    r = leader.post(path, headers={"Idempotency-Key": "commit-once"})
    assert r.status == 200 and r.json["change"], r
    first = r.json["change"]["id"]
    r = leader.post(path, headers={"Idempotency-Key": "commit-once"})
    assert r.status == 200 and r.json["change"]["id"] == first, r
    assert leader.values("keyed.imp.test.", "A") == {"192.0.2.77"}
    r = leader.post("/v1/zones/imp.test./imports", headers={"Idempotency-Key": "commit-once"})
    assert r.status == 201, r  # creating a staging proposes nothing
    other = r.json["id"]
    r = leader.post(f"/v1/zones/imp.test./imports/{other}/commit",
                    headers={"Idempotency-Key": "commit-once"})
    assert r.status == 409 and r.error["code"] == "IdempotencyKeyMismatch", r
    assert leader.req("DELETE", f"/v1/zones/imp.test./imports/{other}").status == 200


def test_staging_is_lost_with_the_leader_and_changes_nothing(c):
    leader = c.leader()
    iid = staged(leader, "x A 192.0.2.9\n")
    before = sets(c)
    assert leader.stop() == 0
    others = [n.id for n in c.nodes.values() if n.alive()]
    new = c.wait_leader(others, timeout=10 * SLACK)
    r = new.post(f"/v1/zones/imp.test./imports/{iid}/commit")
    assert r.status == 404 and r.error["code"] == "NoSuchImport", r
    assert sets(c) == before
    # an aborted staging is gone too
    r = new.post("/v1/zones/imp.test./imports")
    iid = r.json["id"]
    assert new.req("DELETE", f"/v1/zones/imp.test./imports/{iid}").status == 200
    r = new.post(f"/v1/zones/imp.test./imports/{iid}/commit")
    assert r.status == 404, r
    c.restart(leader.id)
    c.wait_leader()
