"""Fixtures of the fault suite (see README.md, "Failure modes").

`fcluster` gives a test a FaultCluster factory; every cluster made is closed
by a finalizer, whatever the test's outcome, and a Ctrl-C (KeyboardInterrupt
or SIGTERM) still runs the finalizers.  Before the first test, whatever a
killed earlier run left behind (namespaces, links, tmpfs mounts, temporary
directories named after a pid that is gone) is removed.
"""

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "system"))

import faultnet  # noqa: E402


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        return
    faultnet.cleanup_leftovers()
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    """SIGTERM (CI's timeout) unwinds like Ctrl-C, so finalizers still run."""
    raise KeyboardInterrupt()


def pytest_sessionfinish(session, exitstatus):
    if os.geteuid() == 0:
        faultnet.cleanup_run(f"{faultnet.PREFIX}{os.getpid()}")


_NETNS = None


def netns_usable():
    """(True, "") when this process may make network namespaces and nftables
    tables (root with CAP_SYS_ADMIN and CAP_NET_ADMIN), else (False, why)."""
    global _NETNS
    if _NETNS is None:
        ns = f"{faultnet.PREFIX}{os.getpid()}-probe"
        r = faultnet.sh("ip", "netns", "add", ns, check=False)
        if r.returncode == 0:
            r = faultnet.sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "qfx",
                            check=False)
            faultnet.sh("ip", "netns", "del", ns, check=False)
        _NETNS = (r.returncode == 0, (r.stderr or r.stdout).strip())
    return _NETNS


@pytest.fixture
def fcluster(request):
    if os.geteuid() != 0:
        pytest.skip("the fault suite needs root (network namespaces, nftables, mounts)")
    ok, why = netns_usable()
    if not ok:
        pytest.skip(f"cannot make network namespaces or nftables tables here: {why}")
    from faultcluster import FaultCluster
    made = []

    def make(n=3):
        c = FaultCluster(n)
        made.append(c)
        return c

    yield make
    errors = []
    for c in made:
        try:
            c.close()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
