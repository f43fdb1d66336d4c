"""The fault suite's workload and its checker.

Workload: one writer thread per register (a TXT record set rK.<zone>) sends
change batches one after the other, each with a unique sequence number s
and Idempotency-Key:

    UPSERT rK  TXT "s"       (the register: its latest value)
    UPSERT mK-s TXT "s"      (a marker: this write was applied)

to a node chosen per write (round robin over the writable nodes unless the
scenario says otherwise).  Like quorumctl, a writer retries a 503, a timeout
or a connection error with the same key (for up to WRITE_DEADLINE s), then
records the write's outcome: ok (2xx), failed (4xx: definitely not applied)
or unknown.  A reader thread reads every register from every node over DNS
(UDP) and over the API, recording node, restart count, time and value.

verify() runs after the scenario healed the cluster and checks the history:
  - every node converged: same applied index, same zone serial, same record
    sets over the API, and its DNS answers the same register values;
  - no acknowledged write lost: each ok write's marker exists;
  - no failed write applied: no failed write's marker exists;
  - none applied twice: the zone serial rose by exactly the number of
    markers (each applied batch raises it by one; a batch applied twice
    raises it without a new marker);
  - registers hold the latest applied write (writes of a register are
    sequential, so its value is its highest applied sequence number);
  - monotonic reads: per node (and run of its process) and register, over
    DNS and the API alike, no read returns a value older than one read before it, and
    no read returns a value never written.
"""

import threading
import time
import urllib.parse

import dns.rcode
import requests

from cluster_util import answer_values, http

WRITE_DEADLINE = 4.0


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.writes = []  # dicts: reg seq key node t0 t1 outcome status change
        self.reads = []   # dicts: reg via node run t value
        self.events = []  # (t, text): the scenario's faults, for reports

    def event(self, text):
        with self.lock:
            self.events.append((time.monotonic(), text))

    def add_write(self, w):
        with self.lock:
            self.writes.append(w)

    def add_read(self, r):
        with self.lock:
            self.reads.append(r)


def _txt_value(values):
    """The sequence number in a register's TXT values, 0 when absent."""
    if not values:
        return 0
    v = sorted(values)[0]
    return int(v.strip('"'))


class Workload:
    def __init__(self, cluster, zone="fault.test.", registers=3, writers=2,
                 read_nodes=None):
        self.c = cluster
        self.zone = zone
        registers = max(registers, writers + 1)
        self.regs = [f"r{k}.{zone}" for k in range(registers)]
        self.writers = writers  # registers with a writer thread; the others
        # are for the scenario's own probe writes
        self.h = History()
        self.stop_ev = threading.Event()
        self.threads = []
        self.seq = {k: 0 for k in range(registers)}
        self.targets = None  # callable (reg, seq) -> node id, or None
        self.read_nodes = read_nodes
        self.rr = 0
        self.serial0 = None
        self.started = False

    # --------------------------------------------------------- set-up

    def create_zone(self):
        ld = self.c.wait_ready()
        r = ld.post("/v1/zones", {"name": self.zone, "ns": [f"ns1.{self.zone}"]})
        assert r.status == 201, r
        self.c.wait_applied()
        self.serial0 = self.zone_serial(ld)

    def zone_serial(self, node):
        r = node.get(f"/v1/zones/{self.zone}", timeout=2.0)
        assert r.status == 200, r
        return r.json["serial"]

    # --------------------------------------------------------- threads

    def writable(self):
        return [n.id for n in self.c.nodes.values()
                if n.alive() and not n.paused and n.id not in self.c.no_write]

    def pick(self, k, s):
        if self.targets is not None:
            return self.targets(k, s)
        ids = self.writable()
        self.rr += 1
        return ids[self.rr % len(ids)] if ids else 1

    def write_once(self, k, s, node_id, key, timeout=2.0):
        body = {"comment": f"fault {key}", "changes": [
            {"action": "UPSERT", "rrset": {"name": self.regs[k], "type": "TXT", "ttl": 5,
                                           "records": [f'"{s}"']}},
            {"action": "UPSERT", "rrset": {"name": f"m{k}-{s}.{self.zone}", "type": "TXT",
                                           "ttl": 5, "records": [f'"{s}"']}}]}
        node = self.c.nodes[node_id]
        try:
            r = http("POST", f"{node.api}/v1/zones/{self.zone}/changes", body=body,
                     headers={"Idempotency-Key": key}, timeout=timeout)
            return r.status, r.json
        except requests.RequestException as e:
            return -1, str(e)

    def write(self, k, node_id=None, retry=True, timeout=2.0):
        """One logical write of register k; returns its history entry."""
        self.seq[k] += 1
        s = self.seq[k]
        key = f"w{k}-{s}-{id(self)}"
        first = node_id if node_id is not None else self.pick(k, s)
        t0 = time.monotonic()
        attempts = []
        outcome, change = "unknown", None
        nid = first
        while True:
            st, js = self.write_once(k, s, nid, key, timeout)
            attempts.append((nid, st, round(time.monotonic() - t0, 3)))
            if 200 <= st < 300:
                outcome = "ok"
                change = js["change"]["id"] if isinstance(js, dict) else None
                break
            if 400 <= st < 500:
                outcome = "failed"
                break
            if not retry or time.monotonic() - t0 > WRITE_DEADLINE or self.stop_ev.is_set():
                break
            time.sleep(0.1)
            ids = self.writable()
            if node_id is None and ids:
                nid = ids[(ids.index(nid) + 1) % len(ids)] if nid in ids else ids[0]
        w = {"reg": k, "seq": s, "key": key, "node": first, "t0": t0,
             "t1": time.monotonic(), "outcome": outcome, "change": change,
             "attempts": attempts}
        self.h.add_write(w)
        return w

    def _writer(self, k):
        while not self.stop_ev.is_set():
            if not self.writable():
                time.sleep(0.05)
                continue
            self.write(k)

    def _read(self, n, k, reg, via):
        """One read of register k from node n; kept only when the same run
        of the node's process answered it from start to end."""
        run, t = len(n.runs), time.monotonic()
        try:
            if via == "dns":
                resp = n.q(reg, "TXT", timeout=0.3)  # over TCP when truncated
                v = _txt_value(answer_values(resp, reg, "TXT"))
                rcode = dns.rcode.to_text(resp.rcode())
            else:
                r = http("GET", f"{n.api}/v1/zones/{self.zone}/rrsets/{reg}/TXT",
                         timeout=0.5)
                if r.status not in (200, 404):
                    return
                v = _txt_value(r.json.get("records")) if r.status == 200 else 0
                rcode = str(r.status)
        except Exception:  # a timeout, or a node going away
            return
        if len(n.runs) != run or not n.alive():
            return
        self.h.add_read({"reg": k, "via": via, "node": n.id, "run": run, "t": t,
                         "value": v, "rcode": rcode})

    def _reader(self):
        while not self.stop_ev.is_set():
            ids = self.read_nodes or list(self.c.nodes)
            for i in ids:
                n = self.c.nodes[i]
                if not n.alive() or n.paused:
                    continue
                for k, reg in enumerate(self.regs):
                    self._read(n, k, reg, "dns")
                    self._read(n, k, reg, "api")
            time.sleep(0.01)

    def start(self):
        if self.serial0 is None:
            self.create_zone()
        self.started = True
        for k in range(self.writers):
            t = threading.Thread(target=self._writer, args=(k,), daemon=True)
            t.start()
            self.threads.append(t)
        t = threading.Thread(target=self._reader, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(WRITE_DEADLINE + 5)
        self.threads = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --------------------------------------------------------- checks

    def summary(self):
        ws = self.h.writes
        out = {o: sum(1 for w in ws if w["outcome"] == o) for o in ("ok", "failed", "unknown")}
        out["reads"] = len(self.h.reads)
        if getattr(self, "behind_after_restart", None):
            # node: (seconds from its first to its last read older than what
            # its previous run answered, the answers' rcodes/statuses)
            out["behind_after_restart"] = self.behind_after_restart
        return out

    def list_rrsets(self, node):
        sets, marker = {}, None
        while True:
            q = "limit=1000" + (f"&marker={urllib.parse.quote(marker)}" if marker else "")
            r = node.get(f"/v1/zones/{self.zone}/rrsets?{q}", timeout=5.0)
            assert r.status == 200, r
            for rs in r.json["rrsets"]:
                sets[(rs["name"], rs["type"])] = tuple(sorted(rs["records"]))
            marker = r.json.get("next_marker")
            if not marker:
                return sets

    def wait_converged(self, timeout=15.0):
        """Every running node on the same applied index, serial and sets."""
        timeout *= max(1.0, min(SLACK_CAP, self.c_slack()))
        end = time.monotonic() + timeout
        nodes = [n for n in self.c.nodes.values() if n.alive()]
        last = None
        while True:
            try:
                self.c.wait_leader([n.id for n in nodes], timeout=max(1.0, end - time.monotonic()))
                views = {n.id: (self.zone_serial(n), self.list_rrsets(n)) for n in nodes}
                serials = {v[0] for v in views.values()}
                contents = [v[1] for v in views.values()]
                if len(serials) == 1 and all(c == contents[0] for c in contents):
                    return views[nodes[0].id]
                last = {i: (v[0], len(v[1])) for i, v in views.items()}
            except (AssertionError, requests.RequestException) as e:
                last = repr(e)[:2000]
            if time.monotonic() > end:
                raise AssertionError(f"nodes did not converge in {timeout:.0f} s: {last}\n"
                                     + self.c.node_logs())
            time.sleep(0.2)

    def c_slack(self):
        from faultcluster import SLACK
        return SLACK

    def verify(self, timeout=15.0):
        """All invariants of the module docstring; returns the summary."""
        self.stop()
        serial, sets = self.wait_converged(timeout)
        problems = []
        markers = {}
        for (name, typ), vals in sets.items():
            if typ == "TXT" and name.startswith("m"):
                k, s = name.split(".")[0][1:].split("-")
                markers[(int(k), int(s))] = vals
        ws = self.h.writes
        for w in ws:
            applied = (w["reg"], w["seq"]) in markers
            if w["outcome"] == "ok" and not applied:
                problems.append(f"acknowledged write lost: {w}")
            if w["outcome"] == "failed" and applied:
                problems.append(f"write answered 4xx was applied: {w}")
        if serial - self.serial0 != len(markers):
            problems.append(f"zone serial rose by {serial - self.serial0} for "
                            f"{len(markers)} applied writes: a batch applied twice")
        written = {}
        for w in ws:
            written.setdefault(w["reg"], set()).add(w["seq"])
        for k, reg in enumerate(self.regs):
            applied = [s for (kk, s) in markers if kk == k]
            want = (f'"{max(applied)}"',) if applied else None
            got = sets.get((reg, "TXT"))
            if got != want:
                problems.append(f"register {reg} holds {got}, latest applied write {want}")
        # DNS agrees with the API on every node
        for n in self.c.nodes.values():
            if not n.alive():
                continue
            for k, reg in enumerate(self.regs):
                try:
                    v = _txt_value(answer_values(n.q(reg, "TXT", timeout=1.0), reg, "TXT"))
                except Exception as e:
                    problems.append(f"n{n.id} does not answer {reg} over DNS: {e!r}")
                    continue
                want = sets.get((reg, "TXT"))
                if v != _txt_value(want):
                    problems.append(f"n{n.id} answers {reg} = {v} over DNS, API has {want}")
        # monotonic reads
        last = {}
        for r in sorted(self.h.reads, key=lambda r: r["t"]):
            key = (r["node"], r["run"], r["reg"])
            if r["value"] and r["value"] not in written.get(r["reg"], ()):
                problems.append(f"read of a value never written: {r}")
            prev = last.get(key)
            if prev is not None and r["value"] < prev["value"]:
                problems.append(f"non-monotonic read on n{r['node']}: {r['via']} "
                                f"{r['value']} ({r['rcode']}) {r['t'] - prev['t']:.3f} s "
                                f"after {prev['via']} {prev['value']}")
            if prev is None or r["value"] >= prev["value"]:
                last[key] = r
        # not an invariant, but what a client sees: a restarted node answering
        # older data than its previous run had answered (until it replayed)
        best, behind = {}, {}
        for r in sorted(self.h.reads, key=lambda r: r["t"]):
            key = (r["node"], r["reg"])
            b = best.get(key)
            if b is not None and r["run"] > b["run"] and r["value"] < b["value"]:
                d = behind.setdefault(r["node"], [r["t"], r["t"], set()])
                d[1] = r["t"]
                d[2].add(r["rcode"])
            if b is None or r["value"] >= b["value"]:
                best[key] = r
        self.behind_after_restart = {
            n: (round(t1 - t0, 3), sorted(rc)) for n, (t0, t1, rc) in behind.items()}
        if problems:
            raise AssertionError(f"{len(problems)} problems; summary {self.summary()}:\n"
                                 + "\n".join(problems[:30]) + "\n" + self.c.node_logs())
        return self.summary()


SLACK_CAP = 3.0
