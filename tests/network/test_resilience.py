"""The network survives losing an orderer, and a full stop/start keeps every record."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.network.ledger import height, orderer_height
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


def test_one_orderer_down_submits_commit_and_it_catches_up(profile, connect, contract):
    victim = profile.orderers[-1]
    name = victim.server_name.split(".")[0]
    os.kill(_pid(profile, name), signal.SIGKILL)
    try:
        for i in range(5):
            assert contract.submit("PutValue", [f"o-{uuid.uuid4()}", str(i)])
    finally:
        _run("up.sh")  # restarts what is missing, leaves the rest alone
    gateway = connect()
    target = height(gateway, profile.channel)
    _wait_for(lambda: orderer_height(gateway, victim, profile.channel) >= target, 60,
              f"{name} to reach height {target}")


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
