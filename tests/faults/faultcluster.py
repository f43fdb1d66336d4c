"""A quorumdns cluster whose nodes each run in their own network namespace
(faultnet.FaultNet): the cluster_util Node and Cluster of the system tests,
with each node's address on its namespace's veth, fixed ports (every node has
its namespace to itself), and the node process started through
`ip netns exec` (which execs the node, so the Popen pid is the node's and
SIGKILL/SIGSTOP reach it directly).  An optional wrapper (faketime) goes
between `ip netns exec` and the node.

close() stops every node (SIGCONT first for a paused one), asserts that none
is left and that none died unexpectedly, then removes the namespaces and the
data directories (tmpfs data directories are unmounted first).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "system"))

import cluster_util  # noqa: E402
from cluster_util import ADMIN_TOKEN, Cluster, Node, issue_cert, make_ca  # noqa: E402,F401  (ADMIN_TOKEN: for the tests)

from faultnet import TMP_ROOT, FaultNet, sh  # noqa: E402

DNS_PORT, API_PORT, RAFT_PORT = 5353, 8080, 7000
SLACK = float(os.environ.get("QDNS_TIMING_SLACK", "1"))


class FaultNode(Node):
    def __init__(self, cluster, nid):
        super().__init__(cluster, nid)
        self.host = cluster.net.host(nid)
        self.ns = cluster.net.ns(nid)
        self.wrapper = []  # e.g. ["faketime", "-f", "+1h"]
        self.binary = None  # another build of the node than QDNS_BIN, for this node
        self.paused = False

    def cmd(self, *a, **kw):
        # the harness asks from the root namespace's address (10.213.K.1):
        # a monitor, not a flood, so Response Rate Limiting leaves it alone
        # (a limited answer is dropped every other time: a read would time out)
        exempt = ["--rrl-exempt", f"127.0.0.0/8,::1/128,{self.cluster.net.subnet}.1/32"]
        node = super().cmd(*a, **kw)
        if self.binary is not None:
            node[0] = str(self.binary)
        return ["ip", "netns", "exec", self.ns] + self.wrapper + node + exempt

    def q(self, qname, qtype="A", timeout=1.0, tcp=False):
        """A DNS query; a truncated answer is asked again over TCP, as
        resolvers do."""
        r = super().q(qname, qtype, timeout, tcp)
        if not tcp and r.flags & dns.flags.TC:
            r = super().q(qname, qtype, timeout, True)
        return r

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False


class FaultCluster(Cluster):
    def __init__(self, n=3):
        if not cluster_util.QDNS_BIN.exists():
            import pytest
            pytest.skip(f"quorumdns binary not built: {cluster_util.QDNS_BIN}")
        self.tls = None
        self.net = FaultNet(n)
        self.root = Path(f"{TMP_ROOT}/{self.net.tag}-{time.monotonic_ns()}")
        self.root.mkdir(parents=True)
        # raft over TLS as deployed (QDNS_TEST_RAFT_TRANSPORT=plaintext: not)
        self.raft_transport = os.environ.get("QDNS_TEST_RAFT_TRANSPORT", "tls")
        self.pki = self.root / "pki"
        self._certs = {}
        if self.raft_transport == "tls":
            make_ca(self.pki)
        self.max_nodes = n
        self.dns_port, self.raft_port, self.api_port = DNS_PORT, RAFT_PORT, API_PORT
        self.nodes = {i: FaultNode(self, i) for i in range(1, n + 1)}
        self.bootstrap_ids = []
        self.mounts = []
        self.no_write = set()  # node ids the workload's writers leave alone

    def node_cert(self, i):
        """Node i's certificate for its namespace address (issued on first use)."""
        if i not in self._certs:
            self._certs[i] = issue_cert(self.pki, i, self.pki / f"node-{i}",
                                        ips=[self.net.host(i)])
        return self._certs[i]

    def tmpfs_data_dir(self, i, size):
        """Node i's data directory on a tmpfs of `size` (e.g. "24m")."""
        d = self.nodes[i].data_dir
        d.mkdir(parents=True, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", f"size={size}", "qfx-data", str(d))
        self.mounts.append(d)

    def resize_tmpfs(self, i, size):
        sh("mount", "-o", f"remount,size={size}", str(self.nodes[i].data_dir))

    def node_logs(self, tail=3000):
        return "\n".join(f"--- n{n.id}\n{n.log(tail)}" for n in self.nodes.values())

    def close(self, check_rc=True):
        problems = []
        try:
            for n in self.nodes.values():
                if n.alive() and n.paused:
                    n.resume()
                if n.alive():
                    n.proc.send_signal(signal.SIGTERM)
            for n in self.nodes.values():
                if n.proc is None:
                    continue
                if n.alive():
                    try:
                        rc = n.proc.wait(10)
                    except subprocess.TimeoutExpired:
                        n.proc.kill()
                        n.proc.wait()
                        problems.append(f"n{n.id} did not exit 10 s after SIGTERM:\n"
                                        + n.log())
                        continue
                    if check_rc and rc != 0:
                        problems.append(f"n{n.id} exited {rc} on SIGTERM:\n{n.log()}")
                elif check_rc and n.expected_exit is None and \
                        n.proc.returncode not in (0, -signal.SIGKILL):
                    problems.append(f"n{n.id} had exited {n.proc.returncode}:\n{n.log()}")
            for n in self.nodes.values():
                for p in n.runs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
                        problems.append(f"n{n.id} process {p.pid} still running")
                if n.runs and "still open at shutdown" in n.log(10**7):
                    problems.append(f"n{n.id} left a handle for the safety net:\n"
                                    + n.log())
        finally:
            self.net.close()  # kills whatever is left in the namespaces
            for d in self.mounts:
                sh("umount", "-l", str(d), check=False)
            keep = os.environ.get("QDNS_FAULTS_KEEP")
            if keep and problems:
                shutil.copytree(self.root, Path(keep) / self.root.name, dirs_exist_ok=True)
            shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))
