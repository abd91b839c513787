"""The same scripts lay a network out across hosts: here two Linux network namespaces stand in
for two machines, joined by a veth pair the test creates and removes.

host A (namespace ``tpA…``, 10.213.0.1): the orderers, peer0.org1 and its chaincode server,
    MinIO, Redis, the dispatcher and org1's verifier workers
host B (namespace ``tpB…``, 10.213.0.2): peer0.org2, its chaincode server, org2's workers

Everything, the test's own client steps included (tests/multihost/scenario.py), runs inside
those namespaces: no packet leaves them. Org1 submits; the verdict needs org2's workers, whose
every call crosses the link. Then the link is cut for 30 s while a second model is being
verified: nothing is lost, both peers end at the same height and block hash, and the verdict
is reached.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from trainproof.profile import REPO_ROOT

pytestmark = pytest.mark.multihost
SCRIPTS = REPO_ROOT / "network" / "scripts"
HOME = REPO_ROOT / ".network-multihost"
SUBNET = "10.213.0"
CUT_SECONDS = 30


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Hosts:
    """Two namespaces and the veth pair between them."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.a, self.b = f"tpA{tag}", f"tpB{tag}"
        self.link_a, self.link_b = f"tpa{tag}", f"tpb{tag}"

    def create(self) -> None:
        for ns in (self.a, self.b):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", self.link_a, "netns", self.a, "type", "veth", "peer", "name", self.link_b, "netns", self.b)
        _ip("-n", self.a, "addr", "add", f"{SUBNET}.1/24", "dev", self.link_a)
        _ip("-n", self.b, "addr", "add", f"{SUBNET}.2/24", "dev", self.link_b)
        _ip("-n", self.a, "link", "set", self.link_a, "up")
        _ip("-n", self.b, "link", "set", self.link_b, "up")

    def link(self, up: bool) -> None:
        _ip("-n", self.a, "link", "set", self.link_a, "up" if up else "down")

    def remove(self) -> None:
        for ns in (self.a, self.b):  # deleting a namespace deletes its end of the veth, and so both
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINPROOF_", "CORE_", "ORDERER_"))}
    return {**env, "TRAINPROOF_HOME": str(HOME)}


def _in(ns: str, *cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], env=_env(), cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _step(hosts: Hosts, *args: str, timeout: float = 600) -> dict:
    done = _in(hosts.a, sys.executable, "-m", "tests.multihost.scenario", *args, timeout=timeout)
    assert done.returncode == 0, f"scenario {args}: {done.stderr[-3000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def hosts():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    hosts = Hosts()
    subprocess.run([str(SCRIPTS / "clean.sh")], env=_env(), capture_output=True, timeout=300)
    HOME.mkdir(parents=True)
    (HOME / "topology.env").write_text(
        "# Written by tests/multihost: two hosts (network namespaces) on one veth link.\n"
        f"TRAINPROOF_HOST={SUBNET}.1\nSERVICE_HOST={SUBNET}.1\n"
        f"NODE_HOST[peer0.org2]={SUBNET}.2\nNODE_NETNS[peer0.org2]={hosts.b}\nORG_NETNS[org2]={hosts.b}\n"
        "VERIFIERS_PER_ORG=2\n"
    )
    hosts.create()
    try:
        up = _in(hosts.a, str(SCRIPTS / "up.sh"))
        assert up.returncode == 0, f"up.sh across the namespaces failed:\n{up.stderr[-4000:]}"
        yield hosts
    finally:
        hosts.link(True)
        _in(hosts.a, str(SCRIPTS / "down.sh"), timeout=300)
        hosts.remove()


def test_a_network_across_two_hosts_reaches_a_verdict_with_the_other_host_voting(hosts):
    model = _step(hosts, "submit", "across")["model_id"]
    result = _step(hosts, "verdict", model)
    assert result["status"] == "VERIFIED", result
    assert "Org2MSP" in result["voter_msps"], result


def test_a_30_second_link_cut_loses_nothing(hosts):
    model = _step(hosts, "submit", "cut")["model_id"]
    deadline = time.monotonic() + 120
    while _step(hosts, "status", model)["status"] == "SUBMITTED":  # cut while it is being verified
        assert time.monotonic() < deadline, "never assigned"
        time.sleep(1)
    hosts.link(False)
    try:
        time.sleep(CUT_SECONDS)
    finally:
        hosts.link(True)
    result = _step(hosts, "verdict", model)
    assert result["status"] == "VERIFIED", result
    assert "Org2MSP" in result["voter_msps"], result
    # Both peers hold the same chain: same height, same newest block.
    deadline = time.monotonic() + 60
    while True:
        chains = _step(hosts, "chains")
        if chains["Org1MSP"] == chains["Org2MSP"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert chains["Org1MSP"] == chains["Org2MSP"], chains
