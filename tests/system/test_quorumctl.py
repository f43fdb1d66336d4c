"""test_quorumctl.py -- the quorumctl CLI against a real 3-node cluster.

Every command an operator uses in a day: zone create/list/show/export,
record upsert/list/delete, change apply/wait, a chunked zone import, cluster
status; with --json output, exit codes scripts rely on (0 ok, 1 API error,
2 usage, 3 unreachable), and the answers checked over DNS on every node.
Runs the built binary (QUORUMCTL_BIN, default build/tools/quorumctl/quorumctl).
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from cluster_util import ADMIN_TOKEN, READ_TOKEN, REPO, Cluster

QUORUMCTL = Path(os.environ.get("QUORUMCTL_BIN",
                                REPO / "build" / "tools" / "quorumctl" / "quorumctl"))


@pytest.fixture
def cluster(tmp_path):
    if not QUORUMCTL.exists():
        pytest.skip(f"quorumctl not built: {QUORUMCTL}")
    c = Cluster(tmp_path / "cluster").start(3)
    yield c
    for n in c.nodes.values():
        if n.alive():
            assert n.stop() == 0


def ctl(cluster, *args, token=ADMIN_TOKEN, servers=None, check=None):
    servers = servers or [n.api for n in cluster.running()]
    cmd = [str(QUORUMCTL), "--token", token]
    for s in servers:
        cmd += ["--server", s]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL,  # never a terminal: no prompts
                       env={**os.environ, "QUORUMDNS_RETRY_MS": "3000"})
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
    return p


def wait_answer(cluster, qname, expected, timeout=3.0):
    for n in cluster.running():
        end = time.monotonic() + timeout
        while True:
            got = {r.to_text() for rs in n.q(qname, "A").answer for r in rs}
            if got == expected:
                break
            assert time.monotonic() < end, f"n{n.id}: {qname} -> {got}, expected {expected}"
            time.sleep(0.02)


def test_zone_record_and_change_commands(cluster, tmp_path):
    ctl(cluster, "zone", "create", "shop.test", check=0)
    out = ctl(cluster, "--json", "zone", "list", check=0).stdout
    assert [z["name"] for z in json.loads(out)["zones"]] == ["shop.test."]
    assert "shop.test." in ctl(cluster, "zone", "show", "shop.test", check=0).stdout

    ctl(cluster, "record", "upsert", "shop.test", "www", "A", "--ttl", "60",
        "192.0.2.10", "192.0.2.11", check=0)
    wait_answer(cluster, "www.shop.test.", {"192.0.2.10", "192.0.2.11"})
    listed = json.loads(ctl(cluster, "--json", "record", "list", "shop.test", "--type", "A",
                            check=0).stdout)
    assert any(r["name"] == "www.shop.test." for r in listed["rrsets"]), listed

    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"comment": "from a file", "changes": [
        {"action": "CREATE", "rrset": {"name": "api.shop.test.", "type": "A", "ttl": 300,
                                       "records": ["192.0.2.20"]}}]}))
    applied = json.loads(ctl(cluster, "--json", "change", "apply", "shop.test", str(batch),
                             check=0).stdout)
    cid = applied["change"]["id"]
    ctl(cluster, "change", "wait", cid, "--timeout", "10", check=0)
    wait_answer(cluster, "api.shop.test.", {"192.0.2.20"})

    # the same CREATE again is an API error (exit 1) naming the problem
    p = ctl(cluster, "change", "apply", "shop.test", str(batch), check=1)
    assert "exist" in (p.stderr + p.stdout)

    ctl(cluster, "record", "delete", "shop.test", "www", "A", check=0)
    wait_answer(cluster, "www.shop.test.", set())
    exported = ctl(cluster, "zone", "export", "shop.test", check=0).stdout
    assert "api.shop.test." in exported and "www.shop.test." not in exported


def test_chunked_import_and_status(cluster, tmp_path):
    ctl(cluster, "zone", "create", "big.test", check=0)
    zone = tmp_path / "big.zone"
    lines = ["$ORIGIN big.test.", "$TTL 120"]
    lines += [f"h{i} A 192.0.2.{i % 250 + 1}" for i in range(60)]
    lines += ["multi ( 300 IN TXT", '  "one" "two" )']
    zone.write_text("\n".join(lines) + "\n")
    ctl(cluster, "zone", "import", "big.test", str(zone), "--chunk-records", "7", check=0)
    wait_answer(cluster, "h59.big.test.", {"192.0.2.60"})
    listed = json.loads(ctl(cluster, "--json", "record", "list", "big.test", check=0).stdout)
    assert len(listed["rrsets"]) == 60 + 1 + 2  # hosts, TXT, apex SOA and NS
    status = json.loads(ctl(cluster, "--json", "cluster", "status", check=0).stdout)
    assert len(status["members"]) == 3 and status["leader"] in (1, 2, 3)


def test_exit_codes(cluster):
    ctl(cluster, "zone", "frobnicate", check=2)                     # usage
    ctl(cluster, "zone", "show", "absent.test", check=1)            # 404
    ctl(cluster, "zone", "create", "ro.test", token=READ_TOKEN, check=1)  # 403
    ctl(cluster, "zone", "list", servers=["http://127.0.0.1:9"], check=3)  # unreachable
    # a dead first server falls back to the next
    ctl(cluster, "zone", "list", servers=["http://127.0.0.1:9", cluster[1].api], check=0)
    # a bad QUORUMDNS_RETRY_MS is a usage error, not a silent 0
    p = subprocess.run([str(QUORUMCTL), "--server", cluster[1].api, "zone", "list"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "QUORUMDNS_RETRY_MS": "5s"})
    assert p.returncode == 2 and "QUORUMDNS_RETRY_MS" in p.stderr, (p.returncode, p.stderr)
    # a watch whose polls all fail exits as one poll would (3), not 0
    ctl(cluster, "healthcheck", "status", "--watch", "--count", "2", "--every", "0.1",
        servers=["http://127.0.0.1:9"], check=3)


def test_record_delete_with_values_and_ttl_of_a_routed_set(cluster):
    """`record delete` given the values and the TTL still sends the set's
    routing fields (a weighted set is named by them too): it was sent
    without them and refused."""
    ctl(cluster, "zone", "create", "routed.test", check=0)
    ctl(cluster, "record", "upsert", "routed.test", "w", "A", "--ttl", "60", "--weight", "10",
        "--set-id", "a", "192.0.2.1", check=0)
    ctl(cluster, "record", "upsert", "routed.test", "w", "A", "--ttl", "60", "--weight", "5",
        "--set-id", "b", "192.0.2.2", check=0)


    def set_ids():
        out = ctl(cluster, "--json", "record", "list", "routed.test", "--type", "A", check=0)
        return sorted(r.get("set_identifier") for r in json.loads(out.stdout)["rrsets"])
    assert set_ids() == ["a", "b"]
    ctl(cluster, "record", "delete", "routed.test", "w", "A", "--ttl", "60", "--set-id", "a",
        "192.0.2.1", check=0)
    assert set_ids() == ["b"]
    wait_answer(cluster, "w.routed.test.", {"192.0.2.2"}, timeout=5.0)
