"""Nothing long on the loop (issue 10 part 5), on a real 3-node cluster:
zone exports are formatted and import chunks parsed off the node's loop,
so the node keeps answering meanwhile; a commit waits for the chunks being
parsed (409), and a node stopped in the middle of exports exits cleanly.
Run like test_cluster.py (about 35 s)."""

import os
import threading
import time

import pytest
import requests

from cluster_util import ADMIN_TOKEN, Cluster, change, http

SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))
RECORDS = 150_000


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "c")
    yield c
    c.close()


def load_zone(c, zone, n):
    for b in range(0, n, 5000):
        ch = [change("CREATE", f"h{i}.{zone}", "A",
                     [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"])
              for i in range(b, min(n, b + 5000))]
        for _ in range(20):
            r = c.leader().post(f"/v1/zones/{zone}/changes", {"changes": ch},
                                headers={"Idempotency-Key": f"load-{b}"}, timeout=60)
            if r.status == 200:
                break
            assert r.status == 503, r
            time.sleep(0.5)
        assert r.status == 200, r
    c.wait_applied(timeout=60 * SLACK)


def export(node, zone, timeout=120):
    return requests.get(f"{node.api}/v1/zones/{zone}/export",
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=timeout)


def test_big_export_keeps_the_loop_answering(cluster):
    """150,000 records exported on a follower (1 s of formatting on this
    kind of machine, which used to run on the loop): the follower answers
    /v1/health throughout, with no gap over 250 ms, and the export is the
    whole zone, SOA first."""
    c = cluster.start(3)
    zone = "big.test."
    c.create_zone(zone)
    load_zone(c, zone, RECORDS)
    f = c.followers()[0]
    stop = threading.Event()
    gaps = []

    def poll():
        last = time.monotonic()
        while not stop.is_set():
            f.health(timeout=5)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            time.sleep(0.005)

    th = threading.Thread(target=poll)
    th.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        r = export(f, zone)
        took = time.monotonic() - t0
        # pages of record sets: sorted off the loop too
        t1 = time.monotonic()
        p1 = f.get(f"/v1/zones/{zone}/rrsets?limit=1000")
        page_took = time.monotonic() - t1
        p2 = f.get(f"/v1/zones/{zone}/rrsets?limit=1000&marker={p1.json['next_marker']}")
        p3 = f.get(f"/v1/zones/{zone}/rrsets?type=A&name=h77.{zone}")
        time.sleep(0.2)
    finally:
        stop.set()
        th.join()
    assert r.status_code == 200, r.text[:300]
    lines = r.text.splitlines()
    assert lines[0].startswith(f"; zone {zone} exported"), lines[0]
    assert "\tSOA\t" in lines[1], lines[1]
    assert sum(1 for x in lines if "\tA\t" in x) == RECORDS
    worst = max(gaps)
    print(f"export of {RECORDS} records on n{f.id}: {took:.2f} s, {len(r.content)} bytes; "
          f"longest /v1/health gap {worst * 1000:.0f} ms over {len(gaps)} polls")
    assert worst < 0.25 * SLACK, f"n{f.id} stalled {worst * 1000:.0f} ms during the export"
    assert p1.status == 200 and p2.status == 200, (p1, p2)
    a, b = p1.json["rrsets"], p2.json["rrsets"]
    assert len(a) == len(b) == 1000 and p2.json["next_marker"], (len(a), len(b))
    # canonical order: the apex first, then owners by label; the pages
    # follow each other without overlap
    names = [x["name"] for x in a + b]
    assert names[0] == zone and len({(x["name"], x["type"]) for x in a + b}) == 2000
    assert names[2:6] == [f"h0.{zone}", f"h1.{zone}", f"h10.{zone}", f"h100.{zone}"], names[:6]
    assert [x["name"] for x in p3.json["rrsets"]] == [f"h77.{zone}"], p3
    print(f"first page of 1,000 of {RECORDS} sets: {page_took * 1000:.0f} ms")
    assert {c[i].health()["term"] for i in (1, 2, 3)} == {c[1].health()["term"]}


def test_stop_during_exports_exits_cleanly(cluster):
    """SIGTERM while exports are formatted and more wait: the node answers
    or drops them, frees the state only after the last one, and exits 0."""
    c = cluster.start(3)
    zone = "big.test."
    c.create_zone(zone)
    load_zone(c, zone, 60_000)
    f = c.followers()[0]
    results = []

    def one():
        try:
            results.append(export(f, zone, timeout=30).status_code)
        except requests.RequestException as e:
            results.append(type(e).__name__)

    ths = [threading.Thread(target=one) for _ in range(4)]
    for t in ths:
        t.start()
    time.sleep(0.15)
    rc = f.stop()
    for t in ths:
        t.join()
    assert rc == 0, f"n{f.id} exited {rc} stopping during exports:\n{f.log(3000)}"
    print("exports during the stop:", results)
    assert all(x in (200, 503) or isinstance(x, str) for x in results), results


def test_big_import_chunk_parsed_off_the_loop(cluster):
    """An 8 MB chunk (200,000 records) of a staged import is parsed off the
    leader's loop: the leader answers /v1/health throughout with no gap
    over 250 ms; a commit sent while the chunk is parsed is refused (409,
    nothing changes).  (Committing 200,000 records would still hold every
    node's loop for the check and the apply of one entry: not done here.)"""
    c = cluster.start(3)
    zone = "chunk.test."
    c.create_zone(zone)
    ld = c.leader()
    r = ld.post(f"/v1/zones/{zone}/imports")
    assert r.status == 201, r
    iid = r.json["id"]
    n = 200_000
    text = "".join(f"h{i} 300 IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n"
                   for i in range(n))
    body = f"$ORIGIN {zone}\n" + text
    stop = threading.Event()
    gaps = []

    def poll():
        last = time.monotonic()
        while not stop.is_set():
            ld.health(timeout=5)
            now = time.monotonic()
            gaps.append((now, now - last))
            last = now
            time.sleep(0.005)

    answer = {}

    def send():
        answer["r"] = http("POST", ld.api + f"/v1/zones/{zone}/imports/{iid}/chunks",
                           raw=body, content_type="text/dns", timeout=120)

    th = threading.Thread(target=poll)
    th.start()
    try:
        time.sleep(0.3)
        sender = threading.Thread(target=send)
        sender.start()
        # the chunk is parsing (its upload is done well before)
        time.sleep(0.15)
        t_commit = time.monotonic()
        early = ld.post(f"/v1/zones/{zone}/imports/{iid}/commit")
        sender.join()
        time.sleep(0.2)
    finally:
        stop.set()
        th.join()
    r = answer["r"]
    assert r.status == 200 and r.json["staged_records"] == n, r
    # When the parse won the race, the commit applied 200,000 records as one
    # raft entry, which still holds every loop (issue 10 part 5, open): only
    # the gaps before it was sent are the parse's.
    if early.status != 409:
        gaps = [g for g in gaps if g[0] <= t_commit]
    worst = max(g for _, g in gaps)
    print(f"chunk of {len(body)} bytes parsed in {r.elapsed:.2f} s (request); commit "
          f"meanwhile: {early.status}; longest /v1/health gap on the leader "
          f"{worst * 1000:.0f} ms over {len(gaps)} polls")
    assert worst < 0.25 * SLACK, f"the leader stalled {worst * 1000:.0f} ms"
    if early.status != 409:  # the parse won the race: nothing to check
        pytest.skip(f"the chunk was parsed before the commit arrived ({early})")
    assert early.error["code"] == "Conflict", early
    assert ld.get(f"/v1/zones/{zone}/rrsets/h0.{zone}/A").status == 404
