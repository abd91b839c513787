"""No model waits on an event that was missed: the dispatcher reconciles from the ledger.

Each test stops the network's dispatcher, makes the ledger hold work that no event will ever
bring to it again (its checkpoint is moved past the events, as a dispatcher that had handled
them and then lost its memory, or whose AssignVerifiers kept failing, would leave it), starts
it again (as ``up.sh`` would) and expects it to act from what the ledger says.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.contract.live.conftest import FINAL, Live, fake_payload, wait_until
from trainproof.profile import REPO_ROOT

pytestmark = pytest.mark.e2e
ENV = str(REPO_ROOT / "network" / "scripts" / "env.sh")


@pytest.fixture()
def live(profile, connect) -> Live:
    return Live(profile, connect)


@pytest.fixture()
def dispatcher_stopped(profile):
    """Stops the network's dispatcher (by its PID file) and starts it again afterwards, whatever happened."""
    restart_dispatcher()  # a PID file of a dispatcher that already died names no process to stop
    pid = int((profile.home / "pids" / "dispatcher.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), 30, "the dispatcher to stop")
    yield restart_dispatcher
    restart_dispatcher()


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    except OSError:
        return True


def restart_dispatcher() -> None:
    """Starts the dispatcher as ``up.sh`` does (its PID file and log), unless it runs."""
    subprocess.run(["bash", "-c", f"source {ENV} && if ! is_running dispatcher; then cd \"$REPO_ROOT\" && "
                    "start_process dispatcher \"$VENV/bin/python\" -m trainproof.verifier.dispatcher; fi"], check=True, timeout=60)


def skip_events_so_far(live: Live) -> None:
    """Move the dispatcher's checkpoint past every event committed so far: it will never see them."""
    path = live.profile.home / "dispatcher" / "checkpoint.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"block_number": live.height(), "transaction_id": ""}))


def test_a_submission_whose_event_was_missed_is_assigned_on_start(live, dispatcher_stopped):
    payload = fake_payload("missed-submission")
    live.submit_model(payload)
    skip_events_so_far(live)
    time.sleep(2)
    assert live.model(payload["model_id"])["status"] == "SUBMITTED"
    dispatcher_stopped()
    # Assigned by the restarted dispatcher; its workers then vote (REJECT: the artifacts are fake).
    state = wait_until(lambda: (s := live.model(payload["model_id"])) and s["status"] != "SUBMITTED" and s, 90,
                       "the restarted dispatcher to assign the model")
    assert state["status"] in ("ASSIGNED", *FINAL), state
    assert live.assignment(payload["model_id"])["assigner"]["mspid"] == "Org2MSP"


def test_an_overdue_assignment_is_expired_after_a_restart(live, dispatcher_stopped):
    before = live.query("GetConfig")["values"]
    payload = fake_payload("overdue")
    # The shortest deadline the consortium's bounds allow, frozen into this model's assignment only.
    live.set_config({"deadline_seconds": 60, "max_reassignments": 1})
    try:
        live.submit_model(payload)
        live.seed_round(payload["model_id"])  # the dispatcher is stopped: the test runs the seed round
        live.submit("org2-admin", "AssignVerifiers", payload["model_id"])
    finally:
        live.set_config({k: before[k] for k in ("deadline_seconds", "max_reassignments")})
    skip_events_so_far(live)  # the assignment's event (and its tasks) are gone: nobody will vote
    time.sleep(2)
    assert live.model(payload["model_id"])["status"] == "ASSIGNED"
    dispatcher_stopped()
    # Past the deadline the restarted dispatcher expires the first round (re-staffing the
    # intervals, whose new members then vote), although it never saw the assignment's event.
    def expired() -> list | None:
        intervals = live.assignment(payload["model_id"])["intervals"]
        done = intervals and all(i.get("previous_rounds") or (i.get("decision") or {}).get("outcome") == "INCONCLUSIVE"
                                 for i in intervals)
        return intervals if done else None

    intervals = wait_until(expired, 180, "the restarted dispatcher to expire the overdue round")
    assert all(i["previous_rounds"][0]["round"] == 0 if i.get("previous_rounds") else i["decision"]["round"] == 0
               for i in intervals), intervals
