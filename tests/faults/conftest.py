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


@pytest.fixture
def fcluster(request):
    if os.geteuid() != 0:
        pytest.skip("the fault suite needs root (network namespaces, nftables, mounts)")
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
