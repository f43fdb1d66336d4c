"""Network namespaces for the fault suite: one namespace per node, joined by
veth pairs to a bridge in a namespace of its own, plus one veth from the
bridge to the test process (root namespace) so the test reaches every node's
DNS and API directly.  Cuts between nodes are nftables rules inside the
nodes' namespaces (a table of our own, `qfx`); the test's own link is never
cut, so the checker sees every node throughout.

    root ns:  qfx<pid>t 10.213.K.1/24 --veth-- bridge ns: br0
    node i :  eth0 10.213.K.(10+i)/24 --veth-- bridge ns: br0

Every name carries the prefix qfx<pid> (namespaces qfx<pid>-n1,
qfx<pid>-br; links qfx<pid>t).  FaultNet.close() removes all of it;
cleanup_leftovers() removes what a killed run (a pid no longer alive) left
behind: processes in its namespaces, its namespaces, its links and tmpfs
mounts under its temporary directories.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

PREFIX = "qfx"
TMP_ROOT = Path(os.environ.get("TMPDIR", "/tmp"))


def sh(*args, check=True, input=None):
    r = subprocess.run(list(args), input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def netns_list():
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid):
    """True for a running process; false for none or a zombie (a killed run
    whose parent never reaped it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_netns_pids(ns):
    pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
    for p in pids:
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    for p in pids:  # a stopped process dies once SIGKILLed; wait for it
        for _ in range(100):
            if not _pid_alive(int(p)):
                break
            time.sleep(0.01)


def _umount_under(path_prefix):
    mounts = Path("/proc/mounts").read_text().splitlines()
    for line in mounts:
        mnt = line.split()[1]
        if mnt.startswith(path_prefix):
            sh("umount", "-l", mnt, check=False)


def cleanup_run(tag):
    """Removes everything named after run tag (qfx<pid>)."""
    for ns in netns_list():
        if ns.startswith(tag + "-"):
            _kill_netns_pids(ns)
            sh("ip", "netns", "del", ns, check=False)
    links = sh("ip", "-o", "link", "show", check=False).stdout
    if re.search(r"^\d+: " + re.escape(tag) + r"t[@:]", links, re.M):
        sh("ip", "link", "del", tag + "t", check=False)
    _umount_under(str(TMP_ROOT / tag) + "-")


def cleanup_leftovers():
    """Removes what runs that are no longer alive left behind."""
    tags = set()
    for ns in netns_list():
        m = re.match(PREFIX + r"(\d+)-", ns)
        if m:
            tags.add(int(m.group(1)))
    links = sh("ip", "-o", "link", "show", check=False).stdout
    for m in re.finditer(r"^\d+: " + PREFIX + r"(\d+)t[@:]", links, re.M):
        tags.add(int(m.group(1)))
    for p in TMP_ROOT.glob(PREFIX + "*-*"):
        m = re.match(PREFIX + r"(\d+)-", p.name)
        if m:
            tags.add(int(m.group(1)))
    for pid in tags:
        if pid != os.getpid() and not _pid_alive(pid):
            tag = f"{PREFIX}{pid}"
            cleanup_run(tag)
            for p in TMP_ROOT.glob(tag + "-*"):
                sh("rm", "-rf", str(p), check=False)


class FaultNet:
    """The namespaces and links of one test; close() removes them."""

    def __init__(self, n_nodes):
        self.tag = f"{PREFIX}{os.getpid()}"
        self.k = 20 + os.getpid() % 200  # third octet: runs of other pids differ
        self.subnet = f"10.213.{self.k}"
        self.n = n_nodes
        self.bridge_ns = f"{self.tag}-br"
        self.cuts = set()  # (a, b): a drops packets to and from b
        self.closed = False
        cleanup_run(self.tag)  # a previous test of this run that failed badly
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ns(self, i):
        return f"{self.tag}-n{i}"

    def host(self, i):
        return f"{self.subnet}.{10 + i}"

    def _build(self):
        b = self.bridge_ns
        sh("ip", "netns", "add", b)
        sh("ip", "-n", b, "link", "set", "lo", "up")
        sh("ip", "-n", b, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", b, "link", "set", "br0", "up")
        # the test's own link
        t = f"{self.tag}t"
        sh("ip", "link", "add", t, "type", "veth", "peer", "name", "tp", "netns", b)
        sh("ip", "addr", "add", f"{self.subnet}.1/24", "dev", t)
        sh("ip", "link", "set", t, "up")
        sh("ip", "-n", b, "link", "set", "tp", "master", "br0")
        sh("ip", "-n", b, "link", "set", "tp", "up")
        for i in range(1, self.n + 1):
            ns = self.ns(i)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name",
               f"p{i}", "netns", b)
            sh("ip", "-n", ns, "addr", "add", f"{self.host(i)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", b, "link", "set", f"p{i}", "master", "br0")
            sh("ip", "-n", b, "link", "set", f"p{i}", "up")
            # the node's nftables table, with empty sets filled by cut()
            sh("ip", "netns", "exec", ns, "nft", "-f", "-", input="""
table inet qfx {
  set peers { type ipv4_addr; }
  chain input { type filter hook input priority 0; policy accept;
    ip saddr @peers drop; }
  chain output { type filter hook output priority 0; policy accept;
    ip daddr @peers drop; }
}
""")

    # ------------------------------------------------------------- cuts

    def _apply(self, i):
        peers = sorted(b for (a, b) in self.cuts if a == i)
        elems = ", ".join(self.host(p) for p in peers)
        script = "flush set inet qfx peers\n"
        if elems:
            script += f"add element inet qfx peers {{ {elems} }}\n"
        sh("ip", "netns", "exec", self.ns(i), "nft", "-f", "-", input=script)

    def cut(self, a, b, both=True):
        """a stops exchanging packets with b (both=True: b with a too)."""
        self.cuts.add((a, b))
        if both:
            self.cuts.add((b, a))
        self._apply(a)
        if both:
            self._apply(b)

    def isolate(self, i):
        """Node i cut from every other node (the test still reaches it)."""
        for j in range(1, self.n + 1):
            if j != i:
                self.cuts.add((i, j))
                self.cuts.add((j, i))
        for j in range(1, self.n + 1):
            self._apply(j)

    def heal(self):
        touched = {a for (a, _) in self.cuts}
        self.cuts.clear()
        for i in touched:
            self._apply(i)

    # ------------------------------------------------------------- netem

    def netem(self, i, spec):
        """tc netem on node i's link (e.g. "delay 50ms loss 5%"); raises
        RuntimeError when the kernel has no sch_netem."""
        sh("ip", "netns", "exec", self.ns(i), "tc", "qdisc", "add", "dev", "eth0", "root",
           "netem", *spec.split())

    def netem_clear(self, i):
        sh("ip", "netns", "exec", self.ns(i), "tc", "qdisc", "del", "dev", "eth0", "root")

    # ------------------------------------------------------------- end

    def close(self):
        if self.closed:
            return
        self.closed = True
        cleanup_run(self.tag)


def netem_available():
    """Whether `tc qdisc add ... netem` works here (sch_netem loaded or
    loadable); probed in a scratch namespace."""
    ns = f"{PREFIX}{os.getpid()}-probe"
    sh("ip", "netns", "add", ns, check=False)
    try:
        r = sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root",
               "netem", "delay", "1ms", check=False)
        return r.returncode == 0, (r.stderr or r.stdout).strip()
    finally:
        sh("ip", "netns", "del", ns, check=False)
