"""The verification service survives its own processes dying: a worker killed mid-replay and a
restarted dispatcher still end in exactly one vote per (verifier, interval) and a verdict."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest

from tests.e2e.conftest import assignment, votes
from trainproof.profile import REPO_ROOT

pytestmark = pytest.mark.e2e
UP = str(REPO_ROOT / "network" / "scripts" / "up.sh")


def _pid(profile, name: str) -> int:
    return int((profile.home / "pids" / f"{name}.pid").read_text())


def _worker_replaying(profile, model_id: str, timeout: float = 120) -> str:
    """The worker process whose log shows it replaying ``model_id``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in (profile.home / "logs").glob("worker-*.log"):
            if f"replaying {model_id}" in log.read_text(errors="replace"):
                return log.stem
        time.sleep(0.2)
    raise AssertionError(f"no worker started replaying {model_id}")


def _assert_one_vote_per_assignment(contract, model_id: str) -> None:
    cast = Counter((v["interval"], v["verifier"]["fingerprint"]) for v in votes(contract, model_id))
    assert cast and max(cast.values()) == 1, cast
    for record in assignment(contract, model_id)["intervals"]:
        if record.get("decision"):
            continue
        for fp in record["verifiers"]:
            assert (record["interval"], fp) in cast, f"verifier {fp[:12]} never voted on {record['interval']}"


def test_worker_killed_mid_replay_still_gives_exactly_one_vote_each(profile, train, submit, verdict, submitter):
    # Big enough that one interval's replay takes seconds, so the kill lands inside it.
    submitted = submit(train("slow", hidden=[1024, 1024], intervals=3, steps_per_interval=300))
    worker = _worker_replaying(profile, submitted.model_id)
    os.kill(_pid(profile, worker), signal.SIGKILL)
    subprocess.run([UP], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    # The killed task was never acknowledged: Redis hands it out again after the visibility timeout.
    state = verdict(submitted.model_id, timeout=300)
    assert state["status"] == "VERIFIED", state
    _assert_one_vote_per_assignment(submitter, submitted.model_id)


def test_dispatcher_restart_misses_no_event(profile, train, submit, verdict, submitter):
    run_dir = train("while-down")
    os.kill(_pid(profile, "dispatcher"), signal.SIGTERM)
    time.sleep(1)
    submitted = submit(run_dir)
    time.sleep(3)
    assert json.loads(submitter.evaluate("GetModel", [submitted.model_id]))["status"] == "SUBMITTED"
    subprocess.run([UP], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    state = verdict(submitted.model_id)
    assert state["status"] == "VERIFIED", state
    _assert_one_vote_per_assignment(submitter, submitted.model_id)
