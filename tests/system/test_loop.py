"""Nothing long on the loop (issue 10 part 5), on a real 3-node cluster:
zone exports are formatted and import chunks parsed off the node's loop,
so the node keeps answering meanwhile; a commit waits for the chunks being
parsed (409), and a node stopped in the middle of exports exits cleanly.
A 300,000-record import is replicated as a staged import (several bounded
raft entries, switched in at once): no loop stalls, no election, no node
serves part of it, and a leader killed mid-import leaves nothing behind
(the retry with the same Idempotency-Key succeeds).  A loop held past
250 ms is logged, with how long.
Run like test_cluster.py (about 35 s, and about 30 s per import test)."""

import json
import os
import signal
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


def test_a_held_loop_is_logged_with_how_long(cluster):
    """A node whose loop is held past most of an election timeout (here the
    whole process, stopped for 1.2 s) says so in its log, with how long and
    its raft role: what an operator looks for after an election."""
    c = cluster.start(3)
    f = c.followers()[0]
    before = len(f.logfile.read_text(errors="replace"))
    f.proc.send_signal(signal.SIGSTOP)
    time.sleep(1.2)
    f.proc.send_signal(signal.SIGCONT)
    end = time.monotonic() + 5 * SLACK
    held, line = 0.0, ""
    while held < 1000:
        assert time.monotonic() < end, "no 1 s stall in the log:\n" + f.log()
        time.sleep(0.1)
        for ln in f.logfile.read_text(errors="replace")[before:].splitlines():
            if "the loop ran nothing else for at least " in ln:
                ms = float(ln.split("for at least ")[1].split(" ms")[0])
                if ms > held:
                    held, line = ms, ln
    assert held <= 5000, line
    # its election timer ran out while it was stopped: it may be asking
    # for (pre-)votes when the line is written
    assert any(f"(raft {role}, applied index" in line
               for role in ("follower", "candidate")), line
    assert "warn" in line, line


def health_gaps(node, action):
    """Runs action() while another thread asks node for /v1/health every
    5 ms (from 0.3 s before to 0.2 s after); returns action's result and
    the gaps between answers: (time of the answer, gap in seconds)."""
    stop = threading.Event()
    gaps = []

    def poll():
        last = time.monotonic()
        while not stop.is_set():
            node.health(timeout=5)
            now = time.monotonic()
            gaps.append((now, now - last))
            last = now
            time.sleep(0.005)

    th = threading.Thread(target=poll)
    th.start()
    try:
        time.sleep(0.3)
        result = action()
        time.sleep(0.2)
    finally:
        stop.set()
        th.join()
    return result, gaps


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

    def export_and_pages():
        t0 = time.monotonic()
        r = export(f, zone)
        took = time.monotonic() - t0
        # pages of record sets: sorted off the loop too
        t1 = time.monotonic()
        p1 = f.get(f"/v1/zones/{zone}/rrsets?limit=1000")
        page_took = time.monotonic() - t1
        p2 = f.get(f"/v1/zones/{zone}/rrsets?limit=1000&marker={p1.json['next_marker']}")
        p3 = f.get(f"/v1/zones/{zone}/rrsets?type=A&name=h77.{zone}")
        return r, took, p1, page_took, p2, p3

    (r, took, p1, page_took, p2, p3), gaps = health_gaps(f, export_and_pages)
    assert r.status_code == 200, r.text[:300]
    lines = r.text.splitlines()
    assert lines[0].startswith(f"; zone {zone} exported"), lines[0]
    assert "\tSOA\t" in lines[1], lines[1]
    assert sum(1 for x in lines if "\tA\t" in x) == RECORDS
    worst = max(g for _, g in gaps)
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


def test_stop_during_bulk_parses_exits_cleanly(cluster):
    """SIGTERM of the leader while bulk zone requests are parsed off its
    loop and more wait, some of their clients gone already: every request
    is answered (200, or 503 with nothing created) or dropped, nothing is
    left open, and the node exits 0."""
    c = cluster.start(3)
    ld = c.leader()
    records = "".join(f"h{k} 300 A 10.0.{k // 250}.{k % 250 + 1}\n" for k in range(100))
    results = []

    def one(n, timeout):
        body = {"create": [{"name": f"z{n}-{i}.bulk.test.", "zone_file": records}
                           for i in range(1000)]}
        try:
            r = requests.post(f"{ld.api}/v1/zones/bulk", json=body, timeout=timeout,
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                              verify=False)
            results.append(r.status_code)
        except requests.RequestException as e:
            results.append(type(e).__name__)

    # the first client waits for its answer, the four after it leave once
    # their bodies are sent: their parses wait in the queue behind the first
    # one's when the stop comes
    ths = [threading.Thread(target=one, args=(n, 30 if n < 1 else 0.2)) for n in range(5)]
    for t in ths:
        t.start()
        time.sleep(0.05)
    time.sleep(0.1)
    rc = ld.stop()
    for t in ths:
        t.join()
    print("bulk requests during the stop:", results)
    assert rc == 0, f"n{ld.id} exited {rc} stopping during bulk parses:\n{ld.log(3000)}"
    assert "still open at shutdown" not in ld.log(50000), ld.log(3000)
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
    answer = {}

    def send():
        answer["r"] = http("POST", ld.api + f"/v1/zones/{zone}/imports/{iid}/chunks",
                           raw=body, content_type="text/dns", timeout=120)

    def send_and_commit():
        sender = threading.Thread(target=send)
        sender.start()
        # the chunk is parsing (its upload is done well before)
        time.sleep(0.15)
        t_commit = time.monotonic()
        early = ld.post(f"/v1/zones/{zone}/imports/{iid}/commit")
        sender.join()
        return early, t_commit

    (early, t_commit), gaps = health_gaps(ld, send_and_commit)
    r = answer["r"]
    assert r.status == 200 and r.json["staged_records"] == n, r
    # When the parse won the race, the commit planned 200,000 records on the
    # leader's loop (the staged upload's plan is still made there) and
    # replicated them as a staged import: only the gaps before it was sent
    # are the parse's.
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


def test_big_bulk_body_hashed_and_parsed_off_the_loop(cluster):
    """A bulk zone request of 60 MB (a zone and a large field nothing
    reads, with an Idempotency-Key: the whole body is hashed) is hashed and
    parsed off the leader's loop: /v1/health answers throughout with no gap
    over 250 ms, and the zone is made."""
    c = cluster.start(3)
    ld = c.leader()
    body = json.dumps({"create": [{"name": "big-body.test."}],
                       "padding": ["%026d" % i for i in range(2_000_000)]}).encode()
    r, gaps = health_gaps(ld, lambda: http(
        "POST", ld.api + "/v1/zones/bulk", raw=body, content_type="application/json",
        timeout=120, headers={"Idempotency-Key": "big-body"}))
    assert r.status == 200 and r.json["succeeded"] == 1, r
    worst = max(g for _, g in gaps)
    print(f"bulk body of {len(body)} bytes answered in {r.elapsed:.2f} s; longest "
          f"/v1/health gap on the leader {worst * 1000:.0f} ms over {len(gaps)} polls")
    assert worst < 0.25 * SLACK, f"the leader stalled {worst * 1000:.0f} ms"


IMPORT_RECORDS = int(os.environ.get("QDNS_IMPORT_RECORDS", "300000"))


def import_body(zone, n, first=0):
    text = "".join(f"h{i} 300 IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n"
                   for i in range(first, first + n))
    return f"$ORIGIN {zone}\n" + text


def loop_notes(c):
    """What each node logged of its loop's stalls and of leadership: the
    diagnosis of a failed timing assertion."""
    keys = ("the loop ran nothing else", "leader", "snapshot:")
    out = []
    for x in c.running():
        lines = [ln for ln in x.log(tail=10**7).splitlines() if any(k in ln for k in keys)]
        out.append(f"n{x.id}: " + (" | ".join(lines[-8:]) or "nothing"))
    return "; ".join(out)


def stall_buckets(node):
    """The node's loop stall histogram (a 100 ms timer's lateness):
    {upper bound in seconds: cumulative count}."""
    out = {}
    for line in node.get("/metrics").text.splitlines():
        if line.startswith("quorumdns_loop_stall_seconds_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = int(float(line.split()[-1]))
    return out


def worst_stall_ms(before, after):
    """The bound of the highest bucket that gained a count (ms), and the
    one below it: the longest stall between the two scrapes lies between."""
    bounds = sorted(after)
    worst = 0
    for i, b in enumerate(bounds):
        own_after = after[b] - (after[bounds[i - 1]] if i else 0)
        own_before = before.get(b, 0) - (before.get(bounds[i - 1], 0) if i else 0)
        if own_after > own_before:
            worst = i
    return (bounds[worst - 1] * 1000 if worst else 0), bounds[worst] * 1000


class Watch:
    """Every node's /v1/health polled every 5 ms (the longest gap between
    answers is the longest loop stall, plus the noise of this machine) and
    its term; and its DNS sampled: h0, then the middle name, then the last
    one, each query after the previous one: the import switched in between
    two queries makes absent-then-present, and a node that served part of
    it (a name served, a later query not) is caught."""

    def __init__(self, c, zone, n, nodes):
        self.nodes, self.zone, self.n = nodes, zone, n
        self.stop = threading.Event()
        self.gaps = {x.id: [] for x in nodes}
        self.terms = {x.id: set() for x in nodes}
        self.samples = {x.id: [] for x in nodes}
        self.threads = [threading.Thread(target=self.poll, args=(x,)) for x in nodes]
        self.threads += [threading.Thread(target=self.dns, args=(x,)) for x in nodes]

    def poll(self, node):
        last = time.monotonic()
        while not self.stop.is_set():
            h = node.health(timeout=5)
            now = time.monotonic()
            if h is None:  # killed: stop counting it
                return
            self.gaps[node.id].append(now - last)
            self.terms[node.id].add(h.get("term"))
            last = now
            time.sleep(0.005)

    def dns(self, node):
        names = [f"h0.{self.zone}", f"h{self.n // 2}.{self.zone}",
                 f"h{self.n - 1}.{self.zone}"]
        while not self.stop.is_set():
            got = [node.values(q, timeout=0.5) for q in names]
            if any(v is None for v in got):  # a timeout (killed node): no sample
                time.sleep(0.01)
                continue
            self.samples[node.id].append(tuple(bool(v) for v in got))
            time.sleep(0.01)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def check_all_or_nothing(self):
        for nid, s in self.samples.items():
            # queried one after the other: a name served, then a later
            # query not served, is a node that served part of the import
            torn = [x for x in s
                    if any(x[i] and not x[j] for i in range(3) for j in range(i + 1, 3))]
            assert not torn, f"n{nid} served part of the import: {torn[:5]}"
            assert s, f"n{nid}: no DNS sample"

    def worst_ms(self, nid):
        return max(self.gaps[nid]) * 1000


def test_big_import_staged_without_stall(cluster):
    """A 300,000-record (8 MB) import through POST …/import on a 3-node
    cluster is replicated as a staged import (begin, chunks of 512 sets,
    commit): no node's loop stalls 250 ms or more (its stall histogram in
    /metrics; the figures for BENCHMARKS.md are printed: the target is
    50 ms), the term never changes (no election),
    every node serves all the old zone or all the new one over DNS
    throughout, and the answer counts every record."""
    c = cluster.start(3)
    zone = "import.test."
    c.create_zone(zone)
    ld = c.leader()
    term = ld.health()["term"]
    body = import_body(zone, IMPORT_RECORDS)
    before = {x.id: stall_buckets(x) for x in (c[1], c[2], c[3])}
    with Watch(c, zone, IMPORT_RECORDS, [c[1], c[2], c[3]]) as w:
        time.sleep(0.3)
        r = ld.req("POST", f"/v1/zones/{zone}/import", raw=body, content_type="text/dns",
                   headers={"Idempotency-Key": "big-import"}, timeout=300)
        if r.status == 503 and SLACK > 1:
            # Under the sanitizers (QDNS_TIMING_SLACK) the loops run several
            # times slower, and on a loaded machine a node may miss the
            # 400 ms election timeout: the client then does what the 503
            # tells it, and the retry with the same key at the new leader
            # must finish the import, watched as the first try was.  The
            # build without sanitizers allows no election (below).
            ld = c.wait_leader(timeout=10 * SLACK)
            now = ld.health()["term"]
            assert now != term, f"{r} without an election; {loop_notes(c)}"
            print(f"an election during the import under slack {SLACK} (term {term} -> "
                  f"{now}); " + loop_notes(c))
            r = ld.req("POST", f"/v1/zones/{zone}/import", raw=body, content_type="text/dns",
                       headers={"Idempotency-Key": "big-import"}, timeout=300)
        c.wait_applied(timeout=60 * SLACK)
        time.sleep(0.3)
    stalls = {x.id: worst_stall_ms(before[x.id], stall_buckets(x)) for x in (c[1], c[2], c[3])}
    assert r.status == 200, f"{r}; {loop_notes(c)}"
    assert r.json["records"] == IMPORT_RECORDS, r.json
    for x in (c[1], c[2], c[3]):
        assert x.values(f"h{IMPORT_RECORDS - 1}.{zone}") == {
            f"10.{((IMPORT_RECORDS - 1) >> 16) & 255}.{((IMPORT_RECORDS - 1) >> 8) & 255}."
            f"{(IMPORT_RECORDS - 1) & 255}"}
    w.check_all_or_nothing()
    worst = {nid: w.worst_ms(nid) for nid in w.gaps}
    print(f"import of {IMPORT_RECORDS} records ({len(body)} bytes) in {r.elapsed:.2f} s "
          f"through leader n{ld.id}; "
          f"longest /v1/health gap per node (ms): "
          + ", ".join(f"n{k} {v:.0f}" for k, v in sorted(worst.items()))
          + "; longest loop stall per node (metrics histogram, ms): "
          + ", ".join(f"n{k} {lo:.0f}-{hi:.0f}" for k, (lo, hi) in sorted(stalls.items()))
          + "; DNS samples per node: "
          + ", ".join(f"n{k} {len(v)} ({sum(1 for s in v if s[0])} new)"
                      for k, v in sorted(w.samples.items())))
    for nid, terms in w.terms.items():
        assert terms == {term} or SLACK > 1, (
            f"n{nid} saw terms {terms} (an election) during the import; {loop_notes(c)}")
    # The node's own measure (a timer's lateness; the /v1/health gaps above
    # add this test's client, 7 threads on a shared machine): no stall of
    # 250 ms or more.
    for nid, (lo, hi) in stalls.items():
        assert lo < 250 * SLACK, f"n{nid}'s loop stalled {lo:.0f}-{hi:.0f} ms"
    # the zone takes writes again, and a retry answers the same change
    again = ld.req("POST", f"/v1/zones/{zone}/import", raw=body, content_type="text/dns",
                   headers={"Idempotency-Key": "big-import"}, timeout=60)
    assert again.status == 200 and again.json["change"]["id"] == r.json["change"]["id"], again
    ok = ld.post(f"/v1/zones/{zone}/changes",
                 {"changes": [change("UPSERT", f"after.{zone}", "A", ["192.0.2.9"])]})
    assert ok.status == 200, ok


def test_leader_killed_mid_import(cluster):
    """The leader is killed (SIGKILL) while it stages a 300,000-record
    import: the client loses its connection; the two others elect a leader,
    which aborts the staging (no node ever serves part of the import, and
    the zone takes writes again); the import retried with the same
    Idempotency-Key at the new leader succeeds; the killed node, restarted,
    replays the aborted staging and the retry from its log and serves the
    same data."""
    c = cluster.start(3)
    zone = "killed.test."
    c.create_zone(zone)
    ld = c.leader()
    others = [x for x in (c[1], c[2], c[3]) if x.id != ld.id]
    body = import_body(zone, IMPORT_RECORDS)
    answer = {}

    def send():
        try:
            answer["r"] = ld.req("POST", f"/v1/zones/{zone}/import", raw=body,
                                 content_type="text/dns",
                                 headers={"Idempotency-Key": "killed-import"}, timeout=300)
        except requests.RequestException as e:
            answer["r"] = type(e).__name__

    with Watch(c, zone, IMPORT_RECORDS, others) as w:
        sender = threading.Thread(target=send)
        sender.start()
        end = time.monotonic() + 120 * SLACK
        while "staged import: begun" not in ld.log(20000):
            assert time.monotonic() < end, "the import never began staging:\n" + ld.log()
            assert sender.is_alive(), answer
            time.sleep(0.01)
        time.sleep(0.15)  # some chunks applied
        t_kill = time.monotonic()
        ld.kill()
        sender.join()
        nl = c.wait_leader([x.id for x in others], timeout=10 * SLACK, exclude=(ld.id,))
        # the new leader aborts the orphan staging: the zone takes writes
        end = time.monotonic() + 10 * SLACK
        while True:
            p = nl.post(f"/v1/zones/{zone}/changes",
                        {"changes": [change("UPSERT", f"probe.{zone}", "A", ["192.0.2.1"])]})
            if p.status == 200:
                writable = time.monotonic() - t_kill
                break
            assert p.status == 503 and time.monotonic() < end, p
            time.sleep(0.1)
        committed_before = all(x.values(f"h0.{zone}") for x in others)
    w.check_all_or_nothing()
    print(f"client saw {answer['r']}; staged import committed before the kill: "
          f"{committed_before}; new leader n{nl.id}; the zone took a write "
          f"{writable:.2f} s after the kill")
    if not committed_before:
        for x in others:
            assert x.values(f"h0.{zone}") == set(), f"n{x.id} serves part of the import"
            assert x.values(f"h{IMPORT_RECORDS - 1}.{zone}") == set()
    r = nl.req("POST", f"/v1/zones/{zone}/import", raw=body, content_type="text/dns",
               headers={"Idempotency-Key": "killed-import"}, timeout=300)
    assert r.status == 200, r
    c.wait_applied(others, timeout=60 * SLACK)
    for x in others:
        assert x.values(f"h{IMPORT_RECORDS - 1}.{zone}"), f"n{x.id} lacks the import"
    ld.start()  # replays the log (both stagings) before it answers again
    c.wait_leader(timeout=60 * SLACK)
    c.wait_applied(timeout=60 * SLACK)
    assert ld.values(f"h{IMPORT_RECORDS - 1}.{zone}"), "the restarted node lacks it"
    assert ld.values(f"probe.{zone}") == {"192.0.2.1"}


def test_staged_upload_commit_is_a_staged_import(cluster):
    """A staged upload (POST …/imports, chunks, commit) whose plan writes
    10,000 sets is replicated as a staged import too: the commit answers the
    change and the records, every node serves them, and the commit retried
    with the same Idempotency-Key answers the same change."""
    c = cluster.start(3)
    zone = "upload.test."
    c.create_zone(zone)
    ld = c.leader()
    r = ld.post(f"/v1/zones/{zone}/imports")
    assert r.status == 201, r
    iid = r.json["id"]
    for first in (0, 5000):
        r = http("POST", ld.api + f"/v1/zones/{zone}/imports/{iid}/chunks",
                 raw=import_body(zone, 5000, first), content_type="text/dns", timeout=60)
        assert r.status == 200, r
    key = {"Idempotency-Key": "upload-commit"}
    r = ld.post(f"/v1/zones/{zone}/imports/{iid}/commit", headers=key, timeout=120)
    assert r.status == 200 and r.json["records"] == 10000, r
    assert "staged import: committed" in ld.log(50000)
    c.wait_applied(timeout=30 * SLACK)
    for x in (c[1], c[2], c[3]):
        assert x.values(f"h9999.{zone}") == {"10.0.39.15"}, x.id
        assert x.values(f"h0.{zone}") == {"10.0.0.0"}, x.id
    again = ld.post(f"/v1/zones/{zone}/imports/{iid}/commit", headers=key, timeout=60)
    assert again.status == 200 and again.json["change"]["id"] == r.json["change"]["id"], again
