#!/usr/bin/env python3
"""quorumdns vs. peers from one shared-bench results directory.

  report.py RESULTS_DIR [--name quorumdns]

Reads runs.jsonl / load.jsonl / env.txt written by the shared bench
(run_all.sh + run_peer.sh, quorumdns as the "custom" server) and prints

  1. ratios: quorumdns qblast QPS / gdnsd's and / Knot's (also dnsperf),
     lost queries, 1M-host zone RSS and load time vs Knot and gdnsd;
  2. every correctness problem recorded for quorumdns (verify.py failures
     with a dig command to reproduce, rcode-share warnings, lost queries,
     missing runs = crash/start-up failure);
  3. a ready-to-paste Markdown table for BENCHMARKS.md (same columns as the
     bench's BASELINE.md, plus lost queries and verification).

Medians over the kept (not "discarded") runs, like summarize.py.
Exit status 1 when quorumdns has a correctness problem (or lost queries,
unless ALLOW_LOST=1), else 0.
"""

import argparse
import json
import os
import statistics
import sys


def jsonl(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def us_per_q(r):
    done = r["dnsperf"].get("completed") or 0
    return r["server_cpu_pct"] / 100.0 * r["wall_s"] * 1e6 / done if done else None


def f(x, spec="{:,.0f}"):
    return "–" if x is None else spec.format(x)


def ratio(a, b):
    return "–" if a is None or not b else "%.2f×" % (a / b)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", metavar="RESULTS_DIR",
                    help="the shared bench's results directory (runs.jsonl, load.jsonl, "
                    "env.txt, mode.txt, run_all.log)")
    ap.add_argument("--name", default="quorumdns",
                    help="the server name quorumdns's runs are recorded under "
                    "(default: %(default)s)")
    a = ap.parse_args()
    me = a.name
    runs_all = jsonl(os.path.join(a.results, "runs.jsonl"))
    runs = [r for r in runs_all if not r.get("discarded")]
    loads = jsonl(os.path.join(a.results, "load.jsonl"))
    env = open(os.path.join(a.results, "env.txt")).read() if os.path.exists(
        os.path.join(a.results, "env.txt")) else ""
    mode = open(os.path.join(a.results, "mode.txt")).read().strip() if os.path.exists(
        os.path.join(a.results, "mode.txt")) else "?"

    order = []
    for r in runs + loads:
        if r["server"] not in order:
            order.append(r["server"])
    # the reference servers first, in BASELINE.md's order, then us
    pref = ["null", "gdnsd", "knot", "nsd", "bind", "pdns"]
    order = [s for s in pref if s in order] + [s for s in order if s not in pref and s != me] + \
            ([me] if me in order else [])

    def kind(s, k):
        return [r for r in runs if r["server"] == s and r["kind"] == k]

    def qps(s, k):
        return med([r["dnsperf"]["qps"] for r in kind(s, k)])

    def lost(s, k=None):
        rs = [r for r in runs if r["server"] == s and (k is None or r["kind"] == k)]
        return (sum(r["dnsperf"].get("lost") or 0 for r in rs),
                sum(r["dnsperf"].get("sent") or 0 for r in rs))

    def big(s):
        rs = [r for r in loads if r["server"] == s]
        if not rs:
            return None, None
        return med([r["mem_after_load"]["rss_kb"] / 1024 for r in rs]), med([r["load_s"] for r in rs])

    problems, warnings = [], []

    # ------------------------------------------------------------ 1. ratios
    out = []
    out.append("### Ratios (%s mode, results %s)" % (mode, a.results))
    out.append("")
    if me not in order:
        problems.append("no runs recorded for %s (did it start? see run_all.log)" % me)
    for k, label in (("sat", "qblast QPS (server-bound)"), ("max", "dnsperf QPS (client-bound ~120k)")):
        q = qps(me, k)
        out.append("- %s: %s %s; gdnsd %s -> %s; Knot %s -> %s; null ceiling %s" % (
            label, me, f(q), f(qps("gdnsd", k)), ratio(q, qps("gdnsd", k)),
            f(qps("knot", k)), ratio(q, qps("knot", k)), f(qps("null", k))))
    us = med([us_per_q(r) for r in kind(me, "sat")])
    ug = med([us_per_q(r) for r in kind("gdnsd", "sat")])
    uk = med([us_per_q(r) for r in kind("knot", "sat")])
    out.append("- server CPU per query (qblast; least sensitive to other load): %s %s µs; "
               "gdnsd %s (%s); Knot %s (%s)" % (me, f(us, "{:.2f}"), f(ug, "{:.2f}"), ratio(us, ug),
                                                f(uk, "{:.2f}"), ratio(us, uk)))
    for k in ("max", "lat", "sat"):
        l, s = lost(me, k)
        if s:
            out.append("- lost queries, %s (%s): %d of %d%s" % (
                k, "qblast" if k == "sat" else "dnsperf", l, s, "" if l == 0 else "  <-- LOST"))
            if l:
                (warnings if os.environ.get("ALLOW_LOST") == "1" else problems).append(
                    "%s lost %d of %d queries in the %s runs" % (me, l, s, k))
    rss, ld = big(me)
    if loads:
        for peer in ("knot", "gdnsd"):
            prss, pld = big(peer)
            out.append("- 1M-host zone vs %s: RSS %s MB vs %s MB (%s), load %s s vs %s s (%s)" % (
                peer, f(rss, "{:.0f}"), f(prss, "{:.0f}"), ratio(rss, prss),
                f(ld, "{:.2f}"), f(pld, "{:.2f}"), ratio(ld, pld)))
        if rss is None:
            problems.append("no 1M-zone load record for %s" % me)
    else:
        out.append("- 1M-host zone: not measured (BIG=0)")
    print("\n".join(out))

    # ------------------------------------------------------------ 2. correctness
    port = None
    for r in runs_all + loads:
        if r["server"] != me:
            continue
        port = r.get("port", port)
        v = r.get("verify") or {}
        if v.get("failed"):
            for fl in v.get("failures", []):
                qn, rest = fl.split(" [", 1)
                problems.append("verify (%s, run %s): %s\n      dig @127.0.0.1 -p %s +noedns +nocookie %s" % (
                    r.get("tag"), r.get("run", "load"), fl, port or 5310, qn))
        for w in v.get("warnings", []):
            warnings.append("verify warning: " + w)
        for w in r.get("warnings", []):
            if w.startswith("rcode"):
                problems.append("%s run %s: %s" % (r["kind"], r["run"], w))
            elif not w.startswith("lost"):
                warnings.append("%s run %s: %s" % (r["kind"], r["run"], w))
    log = os.path.join(a.results, "run_all.log")
    if os.path.exists(log):
        for line in open(log):
            if me in line and ("died" in line or "exited during start-up" in line
                               or "did not answer" in line or "ignored SIGTERM" in line):
                problems.append("run_all.log: " + line.strip())
            if line.startswith("non-zero exits") and me in line:
                problems.append("run_all.log: " + line.strip())
    exp_runs = None
    m = [l for l in env.splitlines() if "REPS=" in l]
    if m:
        try:
            exp_runs = int(m[0].split("REPS=")[1].split()[0])
        except ValueError:
            pass
    n_max = len(kind(me, "max"))
    if exp_runs and 0 < n_max < exp_runs or (exp_runs and me in order and n_max == 0):
        problems.append("%s has %d kept dnsperf runs, expected %d" % (me, n_max, exp_runs))

    print()
    print("### Correctness (%s)" % me)
    if not problems and not warnings:
        print("- no problems: verify.py passed, no lost queries, rcode shares as expected")
    for p in dict.fromkeys(problems):
        print("- PROBLEM: " + p)
    for w in dict.fromkeys(warnings):
        print("- warning: " + w)

    # ------------------------------------------------------------ 3. Markdown table
    date = next((l.split(": ", 1)[1] for l in env.splitlines() if l.startswith("date:")), "?")
    host = next((l.split(": ", 1)[1] for l in env.splitlines() if l.startswith("host:")), "?")
    cpu = next((l.split(": ", 1)[1] for l in env.splitlines() if l.startswith("model name")), "?")
    settings = next((l.split(": ", 1)[1] for l in env.splitlines() if l.startswith("settings:")), "")
    reps = exp_runs or "?"
    t = []
    t.append("<!-- generated by tools/bench/report.py from %s -->" % a.results)
    t.append("Measured %s (%s mode: %s), %s, %s. Medians of %s round(s); server pinned to "
             "CPU 0, load generator to CPU 1; zone n10000 (10,283 names, 16,313 RRs)." % (
                 date, mode, settings.strip(), host, cpu, reps))
    t.append("")
    t.append("| server | dnsperf QPS (client-bound) | qblast QPS (server-bound) | µs CPU per query "
             "(qblast) | latency at 30k qps (ms) | RSS 10k zone (MB) | 1M-host zone: RSS (MB) / load (s) "
             "| lost / sent | dig verify |")
    t.append("|---|---|---|---|---|---|---|---|---|")
    for s in order:
        rs = [r for r in runs if r["server"] == s]
        name = ("**%s**" % s) if s == me else s
        ver = (rs or [r for r in loads if r["server"] == s])[0]["version"]
        if s == "null":
            ver = "null reflector (no DNS work: the ceiling)"
        elif s != me:
            ver = {"knot": "Knot " + ver.split()[-1], "nsd": "NSD " + ver.split()[-1]}.get(s, ver)
        lat = med([1000 * r["dnsperf"]["lat_avg_s"] for r in kind(s, "lat")])
        rss10 = med([r["mem_after_load"]["rss_kb"] / 1024 for r in rs])
        b_rss, b_ld = big(s)
        l, sent = lost(s)
        v = rs[0].get("verify", {}) if rs else {}
        ver_s = ("–" if "skipped" in v or not v else
                 "%d/%d%s" % (v["checked"] - v["failed"], v["checked"],
                              " (warn)" if v.get("warned") else ""))
        t.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name if s == me else ver, f(qps(s, "max")), f(qps(s, "sat")),
            f(med([us_per_q(r) for r in kind(s, "sat")]), "{:.2f}"), f(lat, "{:.3f}"),
            f(rss10, "{:.1f}"), "–" if b_rss is None else "%s / %s" % (f(b_rss, "{:.0f}"), f(b_ld, "{:.1f}")),
            "%d / %d" % (l, sent) if sent else "–", ver_s))
    t.append("")
    q = qps(me, "sat")
    t.append("quorumdns / gdnsd qblast QPS: %s; / Knot: %s. dnsperf: %s / %s." % (
        ratio(q, qps("gdnsd", "sat")), ratio(q, qps("knot", "sat")),
        ratio(qps(me, "max"), qps("gdnsd", "max")), ratio(qps(me, "max"), qps("knot", "max"))))
    if loads:
        t.append("1M-host zone RSS vs Knot %s, vs gdnsd %s; load time vs Knot %s, vs gdnsd %s." % (
            ratio(rss, big("knot")[0]), ratio(rss, big("gdnsd")[0]),
            ratio(ld, big("knot")[1]), ratio(ld, big("gdnsd")[1])))
    print()
    print("### Markdown for BENCHMARKS.md (paste as is)")
    print()
    print("\n".join(t))
    if problems:
        print("\n!!! %d correctness problem(s) for %s -- see above" % (len(set(problems)), me),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
