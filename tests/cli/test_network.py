"""`trainproof network status`, and what every command does without a reachable network."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import UNKNOWN_MODEL, as_json
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli


def test_status_of_the_live_network(invoke):
    result = invoke("network", "status", "--json")
    report = as_json(result)
    # Other suites may be stopping an orderer on purpose: the report must say so, and the exit code agree.
    assert result.exit_code == (Exit.OK if report["healthy"] else Exit.UNAVAILABLE)
    peers = [n for n in report["nodes"] if n["kind"] == "peer"]
    assert len(peers) == 2 and all(p["height"] > 0 for p in peers if p["healthy"])
    assert len([n for n in report["nodes"] if n["kind"] == "orderer"]) == 3
    assert (report["fabric_version"], report["consensus"]) == ("3.1.5", "raft")
    human = invoke("network", "status")
    assert "peer0.org1" in human.stdout and "orderer3" in human.stdout and "Fabric 3.1.5" in human.stdout


def test_status_of_a_network_that_is_down(invoke, down_env):
    result = invoke("network", "status", "--json", env=down_env)
    assert result.exit_code == Exit.UNAVAILABLE
    report = as_json(result)
    assert not report["healthy"] and not any(n["healthy"] for n in report["nodes"])
    human = invoke("network", "status", env=down_env)
    assert human.exit_code == Exit.UNAVAILABLE and "peer0.org1 not healthy" in human.stderr


def test_the_console_script_prints_no_traceback(down_env):
    """The installed entry point, in its own process, with the network unreachable."""
    done = subprocess.run([sys.executable, "-m", "trainproof.cli", "status", UNKNOWN_MODEL],
                          env={**down_env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == Exit.UNAVAILABLE, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: the network does not answer")
