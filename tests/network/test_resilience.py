"""The network survives losing an orderer, and a full stop/start keeps every record.

The suite runs twice in `make test`: on the Raft network and on the BFT one (tests/run.sh);
each test that is about one kind of ordering skips itself on the other.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.network.ledger import height, orderer_block_header, orderer_height, peer_block_header
from trainproof.gateway import CommitStatusError, EvaluateError, Timeouts
from trainproof.profile import REPO_ROOT

pytestmark = pytest.mark.network
SCRIPTS = REPO_ROOT / "network" / "scripts"


def _consensus(profile) -> str:
    return json.loads((profile.home / "profile.json").read_text())["consensus"]


raft_only = pytest.mark.usefixtures("_raft")
bft_only = pytest.mark.usefixtures("_bft")


@pytest.fixture
def _raft(profile):
    if _consensus(profile) != "raft":
        pytest.skip("about Raft ordering; this network runs BFT")


@pytest.fixture
def _bft(profile):
    if _consensus(profile) != "bft":
        pytest.skip("about BFT ordering; this network runs Raft")


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


def _leader() -> str:
    status = subprocess.run([str(SCRIPTS / "status.sh")], capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"(?:raft|bft) leader of trainproof: (orderer\d)", status)
    assert match, status
    return match.group(1)


def _kill_and_submit(profile, connect, name: str, submit, count: int = 5) -> list[float]:
    """Kill orderer ``name`` by PID, submit ``count`` values (their latencies are returned),
    restart it; it must catch up to the peers' height with the very same blocks."""
    victim = next(o for o in profile.orderers if o.server_name.startswith(name + "."))
    os.kill(_pid(profile, name), signal.SIGKILL)
    latencies = []
    try:
        for i in range(count):
            start = time.monotonic()
            submit(f"o-{uuid.uuid4()}", str(i))
            latencies.append(time.monotonic() - start)
    finally:
        _run("up.sh")  # restarts what is missing, leaves the rest alone
    gateway = connect()
    target = height(gateway, profile.channel)
    _wait_for(lambda: orderer_height(gateway, victim, profile.channel) >= target, 60,
              f"{name} to reach height {target}")
    newest = target - 1
    assert orderer_block_header(gateway, victim, profile.channel, newest) == peer_block_header(
        gateway, profile.channel, newest), f"{name}'s block {newest} differs from the peer's"
    return latencies


def test_the_network_runs_fabric_3_1_5(profile):
    status = subprocess.run([str(SCRIPTS / "status.sh")], capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"Fabric: 3\.1\.5 \(peer\), 3\.1\.5 \(orderer\)", status), status
    assert json.loads((profile.home / "profile.json").read_text())["fabric_version"] == "3.1.5"


@raft_only
def test_raft_follower_down_submits_commit_and_it_catches_up(profile, connect, contract):
    leader = _leader()
    follower = next(o.server_name.split(".")[0] for o in profile.orderers if not o.server_name.startswith(leader + "."))
    _kill_and_submit(profile, connect, follower, lambda k, v: contract.submit("PutValue", [k, v]))


@raft_only
def test_raft_leader_down_submits_commit_after_election(profile, connect):
    """Losing the leader can lose the one transaction in flight: the client reports 'commit status
    unknown' (never success); resubmitting after checking the ledger then commits."""
    gateway = profile.connect("org1-user1", Timeouts(commit_status=15))
    contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)

    def submit_until_committed(key: str, value: str) -> None:
        for _ in range(3):
            try:
                contract.submit("PutValue", [key, value])
            except CommitStatusError:
                pass  # unknown: the ledger tells
            else:
                # Reported success must mean committed, on every peer.
                for peer_gateway in (connect("org1-user1"), connect("org2-user1")):
                    peer_contract = peer_gateway.get_network(profile.channel).get_contract(profile.chaincode)
                    assert peer_contract.evaluate("GetValue", [key]) == value.encode()
                return
            try:
                if contract.evaluate("GetValue", [key]) == value.encode():
                    return
            except EvaluateError:
                pass  # not there: submit again
        raise AssertionError(f"{key} never committed")

    try:
        latencies = _kill_and_submit(profile, connect, _leader(), submit_until_committed)
    finally:
        gateway.close()
    # An election takes seconds (ElectionTick 10 × 500 ms), not a commit-status timeout per submit.
    assert sorted(latencies)[len(latencies) // 2] < 15, latencies


@bft_only
def test_bft_one_of_four_orderers_down_submits_keep_committing(profile, connect, contract):
    """f = 1: with any one orderer gone the other three are a quorum. A follower's loss costs
    nothing; the leader's costs one view change (LeaderHeartbeatTimeout 10 s + the change)."""
    leader = _leader()
    follower = next(o.server_name.split(".")[0] for o in profile.orderers if not o.server_name.startswith(leader + "."))
    latencies = _kill_and_submit(profile, connect, follower, lambda k, v: contract.submit("PutValue", [k, v]), 10)
    assert max(latencies) < 10, f"a follower's loss paused submits: {latencies}"
    latencies = _kill_and_submit(profile, connect, _leader(), lambda k, v: contract.submit("PutValue", [k, v]), 10)
    assert sum(latencies) < 60, f"more than a view change's pause: {latencies}"
    assert sorted(latencies)[len(latencies) // 2] < 5, f"submits did not recover after the view change: {latencies}"


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
