"""Fixtures for end-to-end runs: real training, real uploads, real verifier workers voting."""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from trainproof.contract import TrainproofContract
from trainproof.storage import ArtifactStore
from demo.digits import train_digits
from trainproof.submission import Submitted, submit_run, wait_for_verdict


@pytest.fixture(scope="session")
def submitter(profile, connect):
    return connect("org1-user1").get_network(profile.channel).get_contract(profile.chaincode)


@pytest.fixture(scope="session")
def store():
    with ArtifactStore.from_state(role="submitter", org="org1") as s:
        yield s


@pytest.fixture()
def train(tmp_path):
    """train(**kwargs) → run directory of a small digits model recorded with the Recorder.

    A fresh seed unless one is given: an artifact is claimed once on the ledger, so two runs
    with the same seed (the same snapshots) could not both be submitted."""
    def _train(name: str = "run", **kwargs) -> Path:
        kwargs.setdefault("seed", secrets.randbelow(2 ** 31 - 2) + 1)
        run_dir = tmp_path / name
        train_digits(run_dir, intervals=kwargs.pop("intervals", 8), steps_per_interval=kwargs.pop("steps_per_interval", 10),
                     name=f"e2e-{name}", **kwargs)
        return run_dir
    return _train


@pytest.fixture()
def submit(submitter, store):
    def _submit(run_dir: Path, **kwargs) -> Submitted:
        return submit_run(run_dir, submitter, store, **kwargs)
    return _submit


@pytest.fixture()
def verdict(submitter):
    def _verdict(model_id: str, timeout: float = 240) -> dict:
        return wait_for_verdict(submitter, model_id, timeout=timeout)
    return _verdict


def assignment(contract, model_id: str) -> dict:
    return json.loads(contract.evaluate("GetAssignment", [model_id]))


def votes(contract, model_id: str) -> list[dict]:
    return json.loads(contract.evaluate("GetVotes", [model_id]))["votes"]


# --- signed outputs (issue 17): shared by tests/e2e/test_attest.py and the explorer's live test ----------

@pytest.fixture(scope="module")
def verified(tmp_path_factory, submitter, store) -> str:
    """A small honest digits model of this module's own, VERIFIED by the workers."""
    run = tmp_path_factory.mktemp("verified") / "run"
    train_digits(run, intervals=4, steps_per_interval=10, seed=secrets.randbelow(2 ** 31 - 2) + 1, name="e2e-verified")
    model_id = submit_run(run, submitter, store).model_id
    assert wait_for_verdict(submitter, model_id, timeout=240)["status"] == "VERIFIED"
    return model_id


def set_attest_audit_fraction(connect, profile, value: float) -> None:
    """The consortium sets attest_audit_fraction: Org1's admin proposes, Org2's approves."""
    admins = [TrainproofContract(connect(n).get_network(profile.channel).get_contract(profile.chaincode))
              for n in ("org1-admin", "org2-admin")]
    proposal = admins[0].propose_config({"attest_audit_fraction": value})
    if proposal["status"] != "APPLIED":
        assert admins[1].approve_config(proposal["proposal_id"])["status"] == "APPLIED"


def wait_for_audit(ledger: TrainproofContract, aid: str, timeout: float = 240) -> dict:
    """The attestation once its audit is over: CONFIRMED, DISPUTED or UNCHECKED."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = ledger.get_attestation(aid)
        if record["audit"]["state"] in ("CONFIRMED", "DISPUTED", "UNCHECKED"):
            return record
        time.sleep(1)
    raise AssertionError(f"attestation {aid}'s audit is still {record['audit']['state']} after {timeout}s")
