"""The network survives losing an orderer, and a full stop/start keeps every record."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.network.ledger import height, orderer_height
from trainproof.gateway import CommitStatusError, EvaluateError, Timeouts
from trainproof.profile import REPO_ROOT

pytestmark = pytest.mark.network
SCRIPTS = REPO_ROOT / "network" / "scripts"


def _run(script: str) -> None:
    subprocess.run([str(SCRIPTS / script)], check=True, timeout=600, stdout=subprocess.DEVNULL)


def _pid(profile, name: str) -> int:
    return int((profile.home / "pids" / f"{name}.pid").read_text())


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _raft_leader() -> str:
    status = subprocess.run([str(SCRIPTS / "status.sh")], capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"Raft leader of trainproof: (\S+)", status)
    assert match, status
    return match.group(1)


def _kill_and_submit(profile, connect, name: str, submit) -> None:
    """Kill orderer ``name`` by PID, submit five values, restart it; it must catch up."""
    victim = next(o for o in profile.orderers if o.server_name.startswith(name + "."))
    os.kill(_pid(profile, name), signal.SIGKILL)
    try:
        for i in range(5):
            submit(f"o-{uuid.uuid4()}", str(i))
    finally:
        _run("up.sh")  # restarts what is missing, leaves the rest alone
    gateway = connect()
    target = height(gateway, profile.channel)
    _wait_for(lambda: orderer_height(gateway, victim, profile.channel) >= target, 60,
              f"{name} to reach height {target}")


def test_follower_down_submits_commit_and_it_catches_up(profile, connect, contract):
    leader = _raft_leader()
    follower = next(o.server_name.split(".")[0] for o in profile.orderers if not o.server_name.startswith(leader + "."))
    _kill_and_submit(profile, connect, follower, lambda k, v: contract.submit("PutValue", [k, v]))


def test_leader_down_submits_commit_after_election(profile, connect):
    """Losing the leader can lose the one transaction in flight: the client reports 'commit status
    unknown' (never success); resubmitting after checking the ledger then commits."""
    gateway = profile.connect("org1-user1", Timeouts(commit_status=15))
    contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)

    def submit_until_committed(key: str, value: str) -> None:
        for _ in range(3):
            try:
                contract.submit("PutValue", [key, value])
                return
            except CommitStatusError:
                try:
                    if contract.evaluate("GetValue", [key]) == value.encode():
                        return
                except EvaluateError:
                    pass  # not there: submit again
        raise AssertionError(f"{key} never committed")

    try:
        _kill_and_submit(profile, connect, _raft_leader(), submit_until_committed)
    finally:
        gateway.close()


def test_network_down_then_up_keeps_the_data(profile, connect, contract):
    key = f"d-{uuid.uuid4()}"
    contract.submit("PutValue", [key, "survives"])
    before = height(connect(), profile.channel)
    _run("down.sh")
    pid_files = list(Path(profile.home, "pids").glob("*.pid"))
    assert not pid_files, f"down.sh left PID files: {pid_files}"
    _run("up.sh")
    gateway = profile.connect("org1-user1")
    try:
        fresh = gateway.get_network(profile.channel).get_contract(profile.chaincode)
        assert fresh.evaluate("GetValue", [key]) == b"survives"
        assert height(gateway, profile.channel) >= before
    finally:
        gateway.close()
