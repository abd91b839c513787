"""`make demo`'s body, run as a user runs it, against the network the test session started."""
from __future__ import annotations

import subprocess
import sys

import pytest

from trainproof.profile import REPO_ROOT

pytestmark = pytest.mark.e2e


def test_demo_reaches_the_expected_verdicts_and_repairs_the_tampered_layer():
    done = subprocess.run([sys.executable, "-m", "demo"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    for expected in ("VERIFIED", "REJECTED", "DIFFERS", "demo finished in"):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out[-4000:]}"
    assert "unexpected outcomes" not in out
