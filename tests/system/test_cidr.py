"""System tests of IP-based (CIDR) routing on a real 3-node cluster.

A CIDR collection is created through a follower (relayed to the leader,
through raft) with overlapping IPv4 and IPv6 blocks: a /8, a /16 inside it,
a /32 inside that, an IPv6 /32 and a /48 inside it.  Record sets name its
locations and "*".  Every node is asked over UDP with ECS options, and each
response is compared with the other nodes' byte for byte (after the message
id) and its ECS option with the expected one: the scope is the prefix length
the answer depended on (the matched block, lengthened to where the client's
subnet leaves a longer block of the collection).  Also: an ECS /24 never
matches the /32 inside it, no match answers "*", no match without "*" is
NODATA, a set whose TCP health check fails gives way to "*" and both down
answer the match (fail open), every API error names its field or says why
(bad blocks, version mismatch, a block held by another location, a record
set naming a missing location, deleting what a record set names), quorumctl's
cidr commands and --cidr-* options, and collections surviving a restart
from a snapshot (more than 2,048 log entries) and the log after it.

Run from this directory:
  cd tests/system && QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_cidr.py
"""

import concurrent.futures
import json
import os
import socket
import subprocess
import time

import pytest

from cluster_util import assert_key_races, race_at_leader
from conftest import free_port
from test_geo import (QUORUMCTL, SLACK, V4, ask, ecs_bytes, expect, same_everywhere,
                      upsert, wait_values)

ZONE = "cidr.test."
V6 = lambda a: socket.inet_pton(socket.AF_INET6, a)  # noqa: E731

BLOCKS = {
    "a": ["10.0.0.0/8"],
    "b": ["10.1.0.0/16", "2001:db8::/32"],
    "c": ["10.1.2.3/32"],
    "e": ["2001:db8:1::/48"],
}


def rs(label, sid, value, coll, loc, **extra):
    return {"name": f"{label}.{ZONE}", "type": "A", "ttl": 60, "set_identifier": sid,
            "records": [value],
            "cidr_routing_config": {"collection_id": coll, "location_name": loc},
            **extra}


def change(cluster, node, changes):
    r = node.post(f"/v1/zones/{ZONE}/changes", {"changes": changes}, timeout=10)
    assert r.status == 200, r
    cluster.wait_change_insync(node, r.json["change"]["id"], timeout=10 * SLACK)


def put(node, coll, loc, blocks, version=None, action="PUT"):
    body = {"changes": [{"action": action, "location_name": loc, "cidr_list": blocks}]}
    if version is not None:
        body["collection_version"] = version
    return node.post(f"/v1/cidrcollections/{coll}/changes", body, timeout=30)


@pytest.fixture
def cidr(cluster_factory):
    # The restart test writes 2,100 changes as fast as raft takes them.
    c = cluster_factory().start(3, extra=["--api-write-rate", "0"])
    follower = c.followers()[0]
    r = follower.post("/v1/zones", {"name": ZONE})
    assert r.status == 201, r
    r = follower.post("/v1/cidrcollections", {"name": "offices"}, timeout=10)
    assert r.status == 201, r
    coll = r.json["cidr_collection"]["id"]
    assert r.json["cidr_collection"]["version"] == 1
    for i, (loc, blocks) in enumerate(BLOCKS.items()):
        r = put(follower, coll, loc, blocks, version=i + 1)
        assert r.status == 200, r
        assert r.json["cidr_collection"]["version"] == i + 2
    change(c, follower, [upsert(rs("www", "any", "192.0.2.9", coll, "*")),
                         upsert(rs("www", "a", "192.0.2.1", coll, "a")),
                         upsert(rs("www", "b", "192.0.2.2", coll, "b")),
                         upsert(rs("www", "c", "192.0.2.3", coll, "c")),
                         upsert(rs("www", "e", "192.0.2.5", coll, "e")),
                         upsert(rs("nodef", "a", "192.0.2.1", coll, "a"))])
    c.coll = coll
    return c


CASES = [
    # (client subnet) -> values, echoed option (family, source, scope, address)
    # In the /8 and the /16; told apart from the /32 at bit 21.
    (("10.1.5.0", 24), ["192.0.2.2"], ecs_bytes(1, 24, 22, V4("10.1.5.0")[:3])),
    # Only the /8: told apart from the /16 at bit 14.
    (("10.2.0.0", 24), ["192.0.2.1"], ecs_bytes(1, 24, 15, V4("10.2.0.0")[:3])),
    # The /32 lies inside the client's /24: never matched, scope 24.
    (("10.1.2.0", 24), ["192.0.2.2"], ecs_bytes(1, 24, 24, V4("10.1.2.0")[:3])),
    # A /32 source is cut to /24 first (the node's ECS maximum).
    (("10.1.2.3", 32), ["192.0.2.2"], ecs_bytes(1, 32, 24, V4("10.1.2.3"))),
    # IPv6: the /48 inside the /32, and the /32 alone.
    (("2001:db8:1::", 56), ["192.0.2.5"], ecs_bytes(2, 56, 48, V6("2001:db8:1::")[:7])),
    (("2001:db8:2::", 56), ["192.0.2.2"], ecs_bytes(2, 56, 47, V6("2001:db8:2::")[:7])),
    # Nothing holds the client: the default.
    (("198.51.100.0", 24), ["192.0.2.9"], ecs_bytes(1, 24, 1, V4("198.51.100.0")[:3])),
    (("2001:db9::", 48), ["192.0.2.9"], ecs_bytes(2, 48, 32, V6("2001:db9::")[:6])),
]


def test_every_node_answers_by_the_longest_prefix_with_the_deciding_scope(cidr):
    for ecs, values, option in CASES:
        same_everywhere(cidr, f"www.{ZONE}", ecs, values, option)
    # No match and no "*": NODATA, still with the scope it depended on.
    same_everywhere(cidr, f"nodef.{ZONE}", ("198.51.100.0", 24), [],
                    ecs_bytes(1, 24, 1, V4("198.51.100.0")[:3]))
    same_everywhere(cidr, f"nodef.{ZONE}", ("10.9.0.0", 24), ["192.0.2.1"],
                    ecs_bytes(1, 24, 13, V4("10.9.0.0")[:3]))
    # Without ECS the source (127.0.0.1) decides: the default, nothing echoed.
    for node in cidr.running():
        data, msg = ask(node, f"www.{ZONE}")
        expect(data, msg, ["192.0.2.9"], None)


def test_changes_move_answers_and_versions_guard_them(cidr):
    leader = cidr.leader()
    coll = cidr.coll
    r = leader.get(f"/v1/cidrcollections/{coll}")
    assert r.status == 200, r
    got = r.json["cidr_collection"]
    assert got["version"] == 5 and got["cidr_count"] == 5, got
    assert [(l["location_name"], l["cidr_count"]) for l in got["locations"]] == [
        ("a", 1), ("b", 2), ("c", 1), ("e", 1)]
    # A stale version: 409, nothing changes.
    r = put(leader, coll, "a", ["198.51.100.0/22"], version=4)
    assert r.status == 409, r
    assert r.json["error"]["code"] == "CidrCollectionVersionMismatch", r
    # The right version: clients of 198.51.100.0/22 move from "*" to a.
    r = put(leader, coll, "a", ["198.51.100.0/22"], version=5)
    assert r.status == 200 and r.json["cidr_collection"]["version"] == 6, r
    wait_values(cidr, f"www.{ZONE}", ("198.51.100.0", 24), ["192.0.2.1"])
    same_everywhere(cidr, f"www.{ZONE}", ("198.51.100.0", 24), ["192.0.2.1"],
                    ecs_bytes(1, 24, 22, V4("198.51.100.0")[:3]))
    # Move the /16 from b to a in one change: DELETE then PUT.
    body = {"changes": [
        {"action": "DELETE_IF_EXISTS", "location_name": "b", "cidr_list": ["10.1.0.0/16"]},
        {"action": "PUT", "location_name": "a", "cidr_list": ["10.1.0.0/16"]}]}
    r = leader.post(f"/v1/cidrcollections/{coll}/changes", body, timeout=10)
    assert r.status == 200, r
    wait_values(cidr, f"www.{ZONE}", ("10.1.5.0", 24), ["192.0.2.1"])
    r = leader.get(f"/v1/cidrcollections/{coll}/locations/a")
    assert r.status == 200, r
    assert r.json["cidr_list"] == ["10.0.0.0/8", "10.1.0.0/16", "198.51.100.0/22"], r
    r = leader.get(f"/v1/cidrcollections/{coll}/locations/a?max_results=1")
    assert r.json["cidr_list"] == ["10.0.0.0/8"] and "next_token" in r.json, r
    token = r.json["next_token"]
    r = leader.get(f"/v1/cidrcollections/{coll}/locations/a?max_results=5&next_token={token}")
    assert r.json["cidr_list"] == ["10.1.0.0/16", "198.51.100.0/22"], r
    assert "next_token" not in r.json, r


def test_errors_name_their_fields(cidr):
    leader = cidr.leader()
    coll = cidr.coll
    body = {"changes": [
        {"action": "PUT", "location_name": "x", "cidr_list": ["10.0.0.1/8", "nope/8"]},
        {"action": "UPSERT", "location_name": "x", "cidr_list": ["10.0.0.0/8"]},
        {"action": "PUT", "location_name": "no spaces", "cidr_list": ["192.0.2.0/33"]}],
        "comment": "x"}
    r = leader.post(f"/v1/cidrcollections/{coll}/changes", body, timeout=10)
    assert r.status == 400, r
    fields = {e["field"] for e in r.json["error"]["errors"]}
    for f in ("changes[0].cidr_list[0]", "changes[0].cidr_list[1]", "changes[1].action",
              "changes[2].location_name", "changes[2].cidr_list[0]", "comment"):
        assert f in fields, (f, fields)
    # A block held by another location (checked by the state machine).
    r = put(leader, coll, "z", ["10.1.2.3/32"])
    assert r.status == 400, r
    assert "already in location 'c'" in r.text, r.text
    # Record sets: the location must exist; one policy per set.
    r = leader.post(f"/v1/zones/{ZONE}/changes", {"changes": [
        upsert(rs("v", "x", "192.0.2.1", coll, "paris")),
        upsert(rs("v", "y", "192.0.2.1", "no-such-collection", "a")),
        upsert(rs("v", "z", "192.0.2.1", coll, "a", weight=3))]}, timeout=10)
    assert r.status == 400, r
    fields = {e["field"] for e in r.json["error"]["errors"]}
    assert "changes[0].rrset.cidr_routing_config.location_name" in fields, fields
    assert "changes[1].rrset.cidr_routing_config.collection_id" in fields, fields
    assert "one routing policy" in r.text, r.text
    # In use: the location's last block, and the collection.
    r = put(leader, coll, "c", ["10.1.2.3/32"], action="DELETE_IF_EXISTS")
    assert r.status == 409 and r.json["error"]["code"] == "CidrBlockInUse", r
    r = leader.req("DELETE", f"/v1/cidrcollections/{coll}")
    assert r.status == 409 and r.json["error"]["code"] == "CidrCollectionInUse", r
    assert "in use by the record set" in r.text and ZONE in r.text, r.text
    r = leader.req("DELETE", "/v1/cidrcollections/nope")
    assert r.status == 404, r
    r = leader.post("/v1/cidrcollections", {"name": "offices"}, timeout=10)
    assert r.status == 409 and r.json["error"]["code"] == "CidrCollectionAlreadyExists", r
    r = leader.post("/v1/cidrcollections", {"name": "bad name"}, timeout=10)
    assert r.status == 400 and r.json["error"]["field"] == "name", r
    # Nothing of the above changed the collection.
    r = leader.get(f"/v1/cidrcollections/{coll}")
    assert r.json["cidr_collection"]["version"] == 5, r


def test_a_create_key_names_one_collection(cidr):
    """The collection's id follows from the create's Idempotency-Key: sent
    again, the same body answers 200 with the collection; another body is
    the key reused, 409 IdempotencyKeyMismatch, and makes nothing -- also
    when both reach the leader before either is applied."""
    leader = cidr.leader()
    f1 = cidr.followers()[0]

    def create(node, name, key):
        return node.post("/v1/cidrcollections", {"name": name},
                         headers={"Idempotency-Key": key}, timeout=10)

    first = create(leader, "retried", "cidr-once")
    again = create(f1, "retried", "cidr-once")
    assert first.status == 201 and again.status == 200, (first, again)
    assert first.json["cidr_collection"]["id"] == again.json["cidr_collection"]["id"]
    other = create(leader, "another", "cidr-once")
    assert other.status == 409, other
    assert other.json["error"]["code"] == "IdempotencyKeyMismatch", other
    assert other.json["error"]["field"] == "Idempotency-Key", other
    # Both at the leader before either is applied (the second is judged
    # when it is applied): the same body twice is one collection; two
    # bodies are one collection and a refusal.
    same = race_at_leader(cidr, [lambda n: create(n, "raced", "cidr-race")] * 2)
    mixed = race_at_leader(cidr, [lambda n: create(n, "mixed-a", "cidr-mixed"),
                                  lambda n: create(n, "mixed-b", "cidr-mixed")])
    assert_key_races(same, mixed, "cidr_collection")
    cidr.wait_applied()
    for node in cidr.running():
        names = sorted(c["name"] for c in
                       node.get("/v1/cidrcollections").json["cidr_collections"])
        assert names.count("another") == 0 and names.count("raced") == 1, names
        assert len([n for n in names if n.startswith("mixed-")]) == 1, names


def test_unhealthy_set_gives_way_to_the_default_and_all_down_fail_open(cidr):
    leader = cidr.leader()
    coll = cidr.coll
    closed = free_port()  # nothing listens: the TCP check fails
    r = leader.post("/v1/healthchecks", {"type": "TCP", "ip_address": "127.0.0.1",
                                         "port": closed, "request_interval": 1,
                                         "failure_threshold": 1}, timeout=10)
    assert r.status == 201, r
    hc = r.json["healthcheck"]["id"]
    change(cidr, leader, [upsert(rs("www", "b", "192.0.2.2", coll, "b",
                                    health_check_id=hc))])
    client = ("10.1.5.0", 24)
    option = ecs_bytes(1, 24, 22, V4("10.1.5.0")[:3])
    wait_values(cidr, f"www.{ZONE}", client, ["192.0.2.9"])
    same_everywhere(cidr, f"www.{ZONE}", client, ["192.0.2.9"], option)
    # The default down too: the match answers (fail open).
    change(cidr, leader, [upsert(rs("www", "any", "192.0.2.9", coll, "*",
                                    health_check_id=hc))])
    wait_values(cidr, f"www.{ZONE}", client, ["192.0.2.2"])
    same_everywhere(cidr, f"www.{ZONE}", client, ["192.0.2.2"], option)
    # Outside every block with the default down: it answers all the same.
    same_everywhere(cidr, f"www.{ZONE}", ("198.51.100.0", 24), ["192.0.2.9"],
                    ecs_bytes(1, 24, 1, V4("198.51.100.0")[:3]))


def test_collections_survive_a_restart_from_a_snapshot(cidr):
    leader = cidr.leader()
    r = leader.post("/v1/cidrcollections", {"name": "bulk"}, timeout=10)
    assert r.status == 201, r
    bulk = r.json["cidr_collection"]["id"]

    def one(i):
        return put(cidr.leader(), bulk, f"l{i % 50}",
                   [f"172.{16 + i // 256 % 16}.{i % 256}.0/24"]).status

    # More than one snapshot's worth of log entries (threshold 2,048).
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(2100)))
    assert statuses.count(200) == 2100, {s: statuses.count(s) for s in set(statuses)}
    follower = cidr.followers()[0]
    assert follower.stop() == 0
    # Written while it was down: it replays this after the snapshot.
    r = put(cidr.leader(), cidr.coll, "e", ["192.0.2.0/24"])
    assert r.status == 200, r
    cidr.restart(follower.id)
    cidr.wait_ready()
    wait_values(cidr, f"www.{ZONE}", ("192.0.2.0", 24), ["192.0.2.5"], timeout=60)
    same_everywhere(cidr, f"www.{ZONE}", ("192.0.2.0", 24), ["192.0.2.5"],
                    ecs_bytes(1, 24, 24, V4("192.0.2.0")[:3]))
    same_everywhere(cidr, f"www.{ZONE}", ("10.1.5.0", 24), ["192.0.2.2"],
                    ecs_bytes(1, 24, 22, V4("10.1.5.0")[:3]))
    # 198.51.100.0/24 now leaves 192.0.2.0/24 at bit 5.
    same_everywhere(cidr, f"www.{ZONE}", ("198.51.100.0", 24), ["192.0.2.9"],
                    ecs_bytes(1, 24, 6, V4("198.51.100.0")[:3]))
    listings = set()
    for node in cidr.running():
        r = node.get("/v1/cidrcollections")
        assert r.status == 200, r
        got = sorted((c["id"], c["version"], c["cidr_count"])
                     for c in r.json["cidr_collections"])
        listings.add(json.dumps(got))
        r = node.get(f"/v1/cidrcollections/{bulk}/locations/l7")
        assert r.status == 200 and len(r.json["cidr_list"]) == 42, r
    assert len(listings) == 1, listings


def test_quorumctl_cidr_commands(cidr):
    from cluster_util import ADMIN_TOKEN

    def ctl(*args, check=0, stdin=None):
        cmd = [QUORUMCTL, "--token", ADMIN_TOKEN]
        for n in cidr.running():
            cmd += ["--server", n.api]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                           input=stdin, env={**os.environ, "QUORUMDNS_RETRY_MS": "3000"})
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    help_text = ctl("cidr", "--help").stdout + ctl("cidr", "put", "--help").stdout
    assert "delete-blocks" in help_text and "--collection-version" in help_text, help_text
    out = ctl("cidr", "create", "cli").stdout
    assert "created CIDR collection" in out, out
    coll = out.split("created CIDR collection ")[1].split()[0]
    ctl("cidr", "put", coll, "east", "203.0.113.0/24", "2001:db8:ff::/48")
    ctl("cidr", "put", coll, "west", "@-", stdin="# comment\n198.51.100.0/24\n\n")
    def shown(key, value):
        # A change is acknowledged by the leader; the node quorumctl reads
        # from may apply it a moment later.
        end = time.monotonic() + 10 * SLACK
        while True:
            got = json.loads(ctl("--json", "cidr", "show", coll).stdout)
            if got["cidr_collection"][key] == value or time.monotonic() > end:
                return got["cidr_collection"][key]
            time.sleep(0.1)

    assert shown("cidr_count", 3) == 3
    assert ctl("cidr", "blocks", coll, "east").stdout.split() == [
        "203.0.113.0/24", "2001:db8:ff::/48"]
    assert coll in ctl("cidr", "list").stdout
    p = ctl("cidr", "put", coll, "east", "203.0.113.0/24", "--collection-version", "1",
            check=1)
    assert "CidrCollectionVersionMismatch" in p.stderr + p.stdout
    zone = ZONE.rstrip(".")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "east", "--cidr-collection",
        coll, "--cidr-location", "east", "192.0.2.60")
    ctl("record", "upsert", zone, "cli", "A", "--set-id", "any", "--cidr-collection",
        coll, "--cidr-location", "*", "192.0.2.61")
    wait_values(cidr, f"cli.{ZONE}", ("203.0.113.0", 24), ["192.0.2.60"])
    wait_values(cidr, f"cli.{ZONE}", ("198.51.100.0", 24), ["192.0.2.61"])
    assert "cidr east" in ctl("record", "list", zone).stdout
    p = ctl("record", "upsert", zone, "cli", "A", "--set-id", "x", "--cidr-collection",
            coll, "192.0.2.62", check=2)  # a usage error: no location
    assert "--cidr-location" in p.stderr
    p = ctl("cidr", "delete", coll, check=1)
    assert "CidrCollectionInUse" in p.stderr + p.stdout
    ctl("record", "delete", zone, "cli", "A", "--set-id", "east", "192.0.2.60")
    ctl("record", "delete", zone, "cli", "A", "--set-id", "any", "192.0.2.61")
    ctl("cidr", "delete-blocks", coll, "east", "203.0.113.0/24", "2001:db8:ff::/48")
    assert shown("location_count", 1) == 1
    ctl("cidr", "delete", coll)
    end = time.monotonic() + 10 * SLACK
    while coll in ctl("cidr", "list").stdout:
        assert time.monotonic() < end, "the deleted collection is still listed"
        time.sleep(0.1)


def test_a_large_collection_is_built_off_the_loop_and_answers(cidr):
    """25,000 blocks (over the 20,000 from which nodes build the trie on a
    worker thread): every node answers from the new trie, and a later change
    replaces it."""
    leader = cidr.leader()
    r = leader.post("/v1/cidrcollections", {"name": "large"}, timeout=10)
    assert r.status == 201, r
    large = r.json["cidr_collection"]["id"]
    blocks = [f"100.{i // 256}.{i % 256}.0/24" for i in range(25000)]
    r = leader.post(f"/v1/cidrcollections/{large}/changes", {"changes": [
        {"action": "PUT", "location_name": "even", "cidr_list": blocks[0::2]},
        {"action": "PUT", "location_name": "odd", "cidr_list": blocks[1::2]}]},
        timeout=60)
    assert r.status == 200 and r.json["cidr_collection"]["cidr_count"] == 25000, r
    change(cidr, leader, [upsert(rs("big", "even", "192.0.2.40", large, "even")),
                          upsert(rs("big", "odd", "192.0.2.41", large, "odd")),
                          upsert(rs("big", "any", "192.0.2.49", large, "*"))])
    # 100.97.166.0/24 is block 24,998 (even), 100.97.167.0/24 the last (odd).
    wait_values(cidr, f"big.{ZONE}", ("100.97.166.0", 24), ["192.0.2.40"], timeout=60)
    same_everywhere(cidr, f"big.{ZONE}", ("100.97.167.0", 24), ["192.0.2.41"],
                    ecs_bytes(1, 24, 24, V4("100.97.167.0")[:3]))
    r = put(leader, large, "odd", ["100.97.167.0/24"], action="DELETE_IF_EXISTS")
    assert r.status == 200, r
    wait_values(cidr, f"big.{ZONE}", ("100.97.167.0", 24), ["192.0.2.49"], timeout=60)


def test_explain_names_the_block_that_decided(cidr):
    """Every node's explain of an IP-based answer: the policy, the scope the
    decision depended on, the set whose location holds the client with the
    matched block's length, and the "*" set told apart."""
    node = cidr.running()[0]
    r = node.get(f"/v1/zones/{ZONE}/explain?name=www.{ZONE}&type=A&client=10.1.5.0/24",
                 timeout=10 * SLACK)
    assert r.status == 200, r
    assert r.json["consistent"] is True, r.json
    assert len(r.json["nodes"]) == 3, r.json
    for n in r.json["nodes"]:
        d = n["explain"]["decisions"][0]
        assert d["policy"] == "ip-based", d
        assert d["depends_on_location"] is True and d["scope"] == 22, d
        cands = {c["set_identifier"]: c for c in d["candidates"]}
        assert cands["b"]["chosen"] is True and cands["b"]["matched_prefix"] == 16, d
        assert cands["a"]["chosen"] is False and cands["a"]["matched_prefix"] is None, d
        assert cands["any"]["cidr_default"] is True, d
