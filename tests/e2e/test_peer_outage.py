"""A peer that cannot reach its chaincode server answers 500 ("could not launch chaincode"): the
verifier task must treat that as transient, retry, and vote once the server is back, never end
as "refused" (a refused vote would leave the interval to its deadline)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_failures import UP, _pid, _worker_replaying
from trainproof.contract import TrainproofContract

pytestmark = pytest.mark.e2e


def _logged_since(logs: dict[Path, int]) -> str:
    return "".join(p.read_text(errors="replace")[offset:] for p, offset in logs.items())


def test_a_vote_during_a_chaincode_outage_is_retried_and_cast_when_it_is_back(profile, train, submit, verdict,
                                                                             submitter):
    logs = {p: p.stat().st_size for p in (profile.home / "logs").glob("worker-*.log")}
    # Replays of a few seconds each, so the chaincode server goes down while workers still replay.
    submitted = submit(train("outage", hidden=[512, 512], intervals=3, steps_per_interval=200))
    _worker_replaying(profile, submitted.model_id)
    os.kill(_pid(profile, "chaincode-org2"), signal.SIGKILL)
    try:
        deadline = time.monotonic() + 180
        # Only a Transient retry counts: read-conflict retries of earlier tasks may be logged too.
        while "Transient(" not in _logged_since(logs) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        subprocess.run([UP], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    logged = _logged_since(logs)
    assert "Transient(" in logged, "no verifier task retried a vote while the chaincode server was down"
    started = time.monotonic()
    state = verdict(submitted.model_id, timeout=300)
    config = TrainproofContract(submitter).get_config()["values"]
    assert state["status"] == "VERIFIED", state
    assert time.monotonic() - started < config["deadline_seconds"], "the verdict waited for a deadline"
    # A late member's vote on a decided model is refused ("closed"); the outage itself never is.
    refusals = [line for line in _logged_since(logs).splitlines() if f"ledger refused {submitted.model_id}" in line]
    assert not [line for line in refusals if "chaincode" in line or "failed to execute" in line], refusals
