"""Errors that say what to do, and behaviour the docs promise (issue 13,
"Errors that could say more", "Docs that disagree with behaviour",
"Cosmetic"): each line of the issue that is behaviour is performed here.

Run from this directory:
  QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_first_hour.py
"""

import os
import subprocess
import time

import pytest

from cluster_util import ADMIN_TOKEN, QDNS_BIN, REPO, change, http
from test_cluster import post_changes
from test_quorumctl import QUORUMCTL


@pytest.fixture
def one(cluster_factory):
    c = cluster_factory().start(1)
    c.create_zone("hour.test.")
    return c


def ctl(c, *args):
    cmd = [str(QUORUMCTL), "--token", ADMIN_TOKEN, "--server", c[1].api]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                          env={**os.environ, "QUORUMDNS_RETRY_MS": "1000"})


def messages(resp):
    err = resp.json["error"]
    return [err["message"]] + [e["message"] for e in err.get("errors", [])]


def test_unknown_type_is_echoed(one):
    r = post_changes(one[1], "hour.test.", [change("CREATE", "x.hour.test.", "AA", ["1.2.3.4"])])
    assert r.status == 400, r
    assert any("'AA' is not a record type" in m for m in messages(r)), r


def test_delete_with_other_values_shows_the_current_ones(one):
    r = post_changes(one[1], "hour.test.",
                     [change("CREATE", "d.hour.test.", "A", ["192.0.2.1", "192.0.2.3"], ttl=60)])
    assert r.status == 200, r
    r = post_changes(one[1], "hour.test.",
                     [change("DELETE", "d.hour.test.", "A", ["192.0.2.1"], ttl=60)])
    assert r.status == 400, r
    assert any("it holds TTL 60: 192.0.2.1, 192.0.2.3" in m for m in messages(r)), r
    r = post_changes(one[1], "hour.test.",
                     [change("DELETE", "d.hour.test.", "A", ["192.0.2.1", "192.0.2.3"], ttl=300)])
    assert r.status == 400, r
    assert any("TTL 300 does not match" in m and "it holds TTL 60" in m for m in messages(r)), r


def test_zone_file_unknown_type_is_named(one):
    body = "$ORIGIN hour.test.\nok 300 IN A 192.0.2.1\nx 300 IN AA 1.2.3.4\n  IN BOGUS 1\n"
    r = http("POST", one[1].api + "/v1/zones/hour.test./import", raw=body,
             content_type="text/dns")
    assert r.status == 400, r
    errs = {e["line"]: e["message"] for e in r.json["error"]["errors"]}
    assert errs[3].startswith("unknown record type 'AA'"), errs
    assert errs[4].startswith("unknown record type 'BOGUS'"), errs
    # and a bad value of a known type still says so
    r = http("POST", one[1].api + "/v1/zones/hour.test./import",
             raw="$ORIGIN hour.test.\nx 300 IN A 1.2.3\n", content_type="text/dns")
    assert r.status == 400 and "unknown record type" not in r.text, r


def test_missing_and_wrong_token_say_different_things(one):
    missing = http("GET", one[1].api + "/v1/zones", token=None)
    wrong = http("GET", one[1].api + "/v1/zones", token="not-the-token-123")
    assert missing.status == wrong.status == 401
    assert "no token" in missing.json["error"]["message"], missing
    assert "not one of this node's" in wrong.json["error"]["message"], wrong


def test_zone_not_empty_names_force_and_counts_right(one):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    r = post_changes(one[1], "hour.test.", [change("CREATE", "a.hour.test.", "A", ["192.0.2.1"])])
    assert r.status == 200, r
    p = ctl(one, "zone", "delete", "hour.test")
    assert p.returncode == 1, p
    assert "holds 1 record set besides" in p.stderr and "--force" in p.stderr, p.stderr


def test_invalid_zone_name_printed_once(one):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    p = ctl(one, "zone", "create", "bad..zone")
    assert p.returncode == 1, p
    assert p.stderr.count("is not a valid domain name") == 1, p.stderr


def test_record_delete_needs_no_ttl_and_names_ending_in_the_zone_are_absolute(one):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    assert ctl(one, "record", "upsert", "hour.test", "t", "A", "--ttl", "60",
               "192.0.2.9").returncode == 0
    p = ctl(one, "record", "show", "hour.test", "t.hour.test", "A")
    assert p.returncode == 0 and "192.0.2.9" in p.stdout, p
    p = ctl(one, "record", "delete", "hour.test", "t", "A", "192.0.2.9")
    assert p.returncode == 0, p


def test_cluster_health_shows_a_node_that_is_not_ready(cluster_factory):
    if not QUORUMCTL.exists():
        pytest.skip("quorumctl not built")
    c = cluster_factory().start(3)
    ld = c.leader()
    for n in c.followers():
        n.stop()
    p = subprocess.run([str(QUORUMCTL), "--server", ld.api, "cluster", "health"],
                       capture_output=True, text=True, timeout=30)
    # no quorum: the old leader steps down and has no leader after 1.2 s
    end = time.monotonic() + 10
    while "not ready" not in p.stdout and time.monotonic() < end:
        time.sleep(0.3)
        p = subprocess.run([str(QUORUMCTL), "--server", ld.api, "cluster", "health"],
                           capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, p
    assert "status" in p.stdout and "not ready" in p.stdout and "no leader" in p.stdout, p


def test_node_help_and_check_output():
    p = subprocess.run([str(QDNS_BIN), "--help"], capture_output=True, text=True)
    assert "SIGHUP reloads the zone files of a\nstandalone node" in p.stdout, p.stdout
    assert "--restore-wait" in p.stdout and "--insync-rule" in p.stdout
    zone = REPO / "tools" / "demo" / "demo.quorumdns.test.zone"
    p = subprocess.run([str(QDNS_BIN), "--check", "-z", str(zone)], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stdout.startswith("ok: 1 zone, "), p.stdout
    # the demo zone's header names a query that really hits the wildcard
    assert "anything.apps.demo.quorumdns.test A (wildcard *.apps)" in zone.read_text()


@pytest.mark.parametrize("flag,value,message", [
    ("--restore-wait", "soon", "restore-wait: 'soon' is not 0..86400 seconds"),
    ("--ready-max-lag", "-1", "ready-max-lag: '-1' is not 0..1000000000 entries"),
    ("--insync-rule", "most", "insync-rule: 'most' is not all or reachable"),
])
def test_new_settings_reject_bad_values(tmp_path, flag, value, message):
    p = subprocess.run([str(QDNS_BIN), "--data-dir", str(tmp_path), "--node-id", "1",
                        "--raft-listen", "127.0.0.1:1", flag, value],
                       capture_output=True, text=True)
    assert p.returncode == 2 and message in p.stderr, p
