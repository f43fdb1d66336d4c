"""A restarting node serves only what it has restored (issue 13, part 2).

A node opens its DNS sockets, and /v1/health says ready, only once its
snapshot and log are applied locally.  Before, a restarting node answered
REFUSED for its own zones (and older data) while raft restored its state.

Run from this directory:
  QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_restart.py
QDNS_RESTART_SETS sets the size of the big zone (default 200000).
"""

import os
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode

from cluster_util import change, http
from test_cluster import bulk_write, post_changes

SETS = int(os.environ.get("QDNS_RESTART_SETS", "200000"))
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


def health(node):
    """(HTTP status, body) of GET /v1/health, or (None, None)."""
    try:
        r = http("GET", node.api + "/v1/health", token=None, timeout=2)
        return r.status, r.json
    except Exception:
        return None, None


def import_big_zone(c, zone, n, chunk=10000):
    """n A sets, imported in chunks (a single import of them all holds the
    leader's loop past an election timeout: issue 10), each retried with its
    Idempotency-Key until it is applied."""
    for start in range(0, n, chunk):
        lines = [f"$ORIGIN {zone}", "$TTL 300"]
        lines += [f"h{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
                  for i in range(start, min(n, start + chunk))]
        body = "\n".join(lines) + "\n"
        for _ in range(50):
            try:
                r = http("POST", c.leader().api + f"/v1/zones/{zone}/import", raw=body,
                         content_type="text/dns", timeout=60 * SLACK,
                         headers={"Idempotency-Key": f"import-{start}"})
            except Exception as e:  # a deposed leader may drop the connection
                r = e
                continue
            if r.status == 200:
                break
            assert r.status == 503, r
            time.sleep(0.2)
        assert getattr(r, "status", None) == 200, r


def set_counter(leader, value):
    for _ in range(50):
        r = post_changes(leader, "probe.test.",
                         [change("UPSERT", "v.probe.test.", "TXT", [f'"{value}"'])],
                         key=f"counter-{value}", timeout=10)
        if r.status == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"counter {value} not written: {r}")


class Prober(threading.Thread):
    """Queries one node in a loop: the counter (TXT) and a record of the big
    zone; records (time, what, rcode, value) for every answer it gets."""

    def __init__(self, node, n_sets):
        super().__init__(daemon=True)
        self.node, self.n_sets = node, n_sets
        self.answers = []
        self.stop_flag = threading.Event()

    def run(self):
        k = 0
        while not self.stop_flag.is_set():
            k += 1
            if k % 2:
                qname, qtype = "v.probe.test.", "TXT"
            else:
                qname, qtype = f"h{(k * 7919) % self.n_sets}.big.test.", "A"
            q = dns.message.make_query(qname, qtype, use_edns=False)
            try:
                r = dns.query.udp(q, self.node.host, port=self.node.dns_port, timeout=0.3)
            except (dns.exception.Timeout, OSError):
                time.sleep(0.005)
                continue
            value = None
            for rs in r.answer:
                for rd in rs:
                    value = rd.to_text().strip('"')
            self.answers.append((time.monotonic(), qtype, r.rcode(), value))

    def stop(self):
        self.stop_flag.set()
        self.join(5)


def counter_of(answers):
    return [int(v) for (_, t, rc, v) in answers if t == "TXT" and v is not None]


def check_answers(answers, floor):
    """No REFUSED (or other failure), every big-zone name found, and no
    counter below floor."""
    bad = [a for a in answers if a[2] != dns.rcode.NOERROR or a[3] is None]
    assert not bad, f"{len(bad)} failed answers, first {bad[:5]}"
    old = [v for v in counter_of(answers) if v < floor]
    assert not old, f"answers older than before the restart: {old[:5]} < {floor}"


def test_slow_restart_under_queries_serves_only_restored_state(cluster_factory):
    c = cluster_factory().start(3)
    leader = c.leader()
    c.create_zone("big.test.")
    c.create_zone("probe.test.")
    t0 = time.monotonic()
    import_big_zone(c, "big.test.", SETS)
    t_import = time.monotonic() - t0
    # past one snapshot (threshold 2048), so the restart restores a
    # snapshot holding the big zone and then replays the log after it
    bulk_write(c.leader(), "probe.test.", 2200, per_request=1, prefix="s")
    leader = c.leader()
    for v in range(1, 21):
        set_counter(leader, v)
    node = [n for n in c.running() if n.id != leader.id][0]
    c.wait_dns([node], "v.probe.test.", "TXT", {'"20"'}, timeout=10 * SLACK)

    prober = Prober(node, SETS)
    prober.start()
    stop_writes = threading.Event()
    written = [20]

    others = [n.id for n in c.running() if n.id != node.id]

    def writer():
        while not stop_writes.is_set():
            set_counter(c.leader(others), written[0] + 1)
            written[0] += 1
            time.sleep(0.02)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        time.sleep(1.0)
        assert node.stop() == 0
        before = list(prober.answers)
        floor = max(counter_of(before))
        t_down = time.monotonic()
        c.restart(node.id)
        # back: answers again, and says it is ready
        end = time.monotonic() + 60 * SLACK
        while time.monotonic() < end:
            if [a for a in prober.answers[len(before):] if a[0] > t_down]:
                break
            time.sleep(0.05)
        t_back = time.monotonic() - t_down
        end = time.monotonic() + 30 * SLACK
        while health(node)[0] != 200:
            assert time.monotonic() < end, health(node)
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        stop_writes.set()
        w.join(20)
        prober.stop()
    after = [a for a in prober.answers[len(before):]]
    print(f"\n{SETS} sets imported in {t_import:.1f} s; node answered again "
          f"{t_back:.2f} s after its restart began; {len(before)} answers before, "
          f"{len(after)} after; counter {floor} before the stop, "
          f"{written[0]} written")
    assert len(after) > 20, f"only {len(after)} answers after the restart:\n{node.log()}"
    check_answers(before, 0)
    check_answers(after, floor)
    assert "restored (" in node.log()


def test_restart_waits_for_a_leader_then_serves(cluster_factory):
    """A node whose log tail needs a leader to be confirmed stays closed (and
    not ready) while it is alone; with --restore-wait it opens after that
    long, still not ready."""
    c = cluster_factory().start(3)
    c.create_zone("probe.test.")
    leader = c.leader()
    for v in range(1, 6):
        set_counter(leader, v)
    c.wait_applied()
    c.stop_all()
    n1 = c[1]
    c.restart(1)
    end = time.monotonic() + 10 * SLACK
    st, body = health(n1)
    while st is None:
        assert time.monotonic() < end, n1.log()
        time.sleep(0.05)
        st, body = health(n1)
    time.sleep(1.5)
    st, body = health(n1)
    assert st == 503 and body["ready"] is False and body["restored"] is False, body
    assert body["reason"].startswith("restoring"), body
    assert n1.values("v.probe.test.", "TXT", timeout=0.3) is None  # DNS closed
    c.restart(2)
    c.wait_dns([n1], "v.probe.test.", "TXT", {'"5"'}, timeout=10 * SLACK)
    end = time.monotonic() + 10 * SLACK
    while health(n1)[0] != 200:
        assert time.monotonic() < end, health(n1)
        time.sleep(0.05)
    # alone with --restore-wait 1: DNS opens after a second with what is
    # applied (here only the bootstrap entry: the zone was in the log, so
    # the answer is REFUSED), and /v1/health says why it is not ready
    c.stop_all()
    n1.start(extra=["--restore-wait", "1"],
             bootstrap=c.bootstrap_str(c.bootstrap_ids))
    end = time.monotonic() + 10 * SLACK
    while True:
        try:
            r = n1.q("v.probe.test.", "TXT", timeout=0.3)
            break
        except (dns.exception.Timeout, OSError):
            assert time.monotonic() < end, n1.log()
            time.sleep(0.05)
    assert r.rcode() == dns.rcode.REFUSED
    st, body = health(n1)
    assert st == 503 and body["restored"] is True, body
    assert "unconfirmed" in body["reason"], body
    assert "no leader confirmed the log after 1 s" in n1.log()


def test_sigterm_stops_a_node_within_about_a_second(cluster_factory):
    """README, Stopping: raft closes once no log write is in flight (usually
    a few ms); idle API connections (the peers' polls among them) are closed
    at once, so a cluster node exits well within a second, every handle
    closed by its owner (tests/system/test_shutdown.py has the same under
    load)."""
    c = cluster_factory().start(3)
    c.create_zone("stop.test.")
    took = []
    for n in c.followers() + [c.leader()]:
        t0 = time.monotonic()
        assert n.stop() == 0
        took.append(time.monotonic() - t0)
    print(f"\nSIGTERM to exit: {', '.join(f'{t * 1000:.0f} ms' for t in took)}")
    assert max(took) < 1.5 * SLACK, took
    for n in c.nodes.values():
        if n.proc is None:
            continue
        log = n.log()
        assert "stopped: every handle closed by its owner" in log, log
        assert "still open at shutdown" not in log, log
