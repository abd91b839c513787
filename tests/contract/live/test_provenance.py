"""Issue 15, findings 3, 4, 6, 7 and 14 (lineage) on the live network, with real runs and workers.

3. Another member's run submitted verbatim as one's own, or backdated, is refused; the order of
   record is the block order (ListModels lists by it).
4. A REJECTED run resubmitted under a new id is refused pointing at the verdict it would escape;
   the submitter's REJECTED history shows in ``trainproof show``.
6. A declared parent whose final weights the child does not start from: the workers vote the
   child REJECTED ("lineage: …"); a real fine-tune is VERIFIED.
7. Certificates the verifier cannot process are refused by the schema; one it still cannot
   process (a scheduler the snapshots do not hold) ends REJECTED, never hanging.
14. A VERIFIED child is ranked before declared spam children, and the children can be paged.

Refusals are endorsed and never ordered (``live.refuse``).
"""
from __future__ import annotations

import copy
import json
import time
import uuid

import pytest
from click.testing import CliRunner

from tests.contract.live.conftest import Live, fake_payload, unique_name

pytestmark = pytest.mark.contract


def now() -> float:
    return time.time()


def all_models(live: Live) -> list[dict]:
    """Every model in ListModels' default order, page by page."""
    found, query = [], {"page_size": 100}
    while True:
        page = live.query("ListModels", query)
        found += page["models"]
        if not page["bookmark"]:
            return found
        query["bookmark"] = page["bookmark"]


def test_a_copied_or_backdated_run_is_refused_and_block_order_is_the_order_of_record(live, runs):
    original = runs("honest").certificate("original")
    live.submit_model(original)  # org1-user1's run
    copied = copy.deepcopy(original) | {"model_id": str(uuid.uuid4()), "name": unique_name("copy")}
    refusal = live.refuse("org2-user1", "SubmitModel", copied, status=409, match="provenance: snapshot 1")
    assert original["model_id"] in refusal.message

    # The peers' own authentication refuses stamps beyond 15 minutes (peer.authentication.
    # timewindow); within them the contract's clock_skew_seconds (300 s) is what bounds a backdate.
    fresh = fake_payload("backdated")
    live.refuse("org2-user1", "SubmitModel", fresh, status=409, match="clock:", timestamp=now() - 600)
    # Within the peers' skew a stamp may move a little, but the order of record does not.
    first, second = fake_payload("order-1"), fake_payload("order-2")
    a = live.submit_model(first)
    b_state, _ = live.submit_tx("org2-user1", "SubmitModel", second, timestamp=now() - 200)
    assert b_state["submitted_at"] < a["submitted_at"] and b_state["seq"] > a["seq"]
    order = [m["model_id"] for m in all_models(live)]
    assert order.index(first["model_id"]) < order.index(second["model_id"])


def test_a_rejected_run_resubmitted_inherits_its_verdict_and_shows_in_the_record(live, runs):
    from trainproof.cli.main import cli

    poisoned = runs("poisoned").certificate("poisoned")
    live.submit_model(poisoned, who="org2-user1")
    state = live.wait_final(poisoned["model_id"], timeout=420)
    assert state["status"] == "REJECTED", state
    again = copy.deepcopy(poisoned) | {"model_id": str(uuid.uuid4()), "name": unique_name("poisoned-again")}
    refusal = live.refuse("org2-user1", "SubmitModel", again, status=409, match="rejected artifacts")
    assert poisoned["model_id"] in refusal.message and "inherits that verdict" in refusal.message

    later = fake_payload("after-rejection")
    live.submit_model(later, who="org2-user1")
    shown = CliRunner().invoke(cli, ["show", later["model_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)["submitter_rejected"]
    assert poisoned["model_id"] in {r["model_id"] for r in record}
    text = CliRunner().invoke(cli, ["show", later["model_id"]])
    assert "REJECTED" in text.stdout and poisoned["model_id"] in text.stdout


def test_forged_lineage_is_rejected_a_real_child_is_verified_and_ranked_first(live, runs):
    parent_run = runs("honest")
    parent = parent_run.certificate("parent")
    live.submit_model(parent)
    real = runs("honest", parent=parent_run).certificate("real-child", parent_id=parent["model_id"])
    forged = runs("honest").certificate("forged-child", parent_id=parent["model_id"])  # unrelated weights
    live.submit_model(real, who="org2-user1")
    live.submit_model(forged, who="org2-user1")

    forged_state = live.wait_final(forged["model_id"], timeout=420)
    assert forged_state["status"] == "REJECTED", forged_state
    assert "lineage" in forged_state["reason"], forged_state["reason"]
    real_state = live.wait_final(real["model_id"], timeout=420)
    assert real_state["status"] == "VERIFIED", real_state

    for n in range(3):  # declared children that nobody checked
        live.submit_model(fake_payload(f"spam-{n}", parent=parent["model_id"]))
    page = live.query("GetLineage", parent["model_id"], {"page_size": 1})
    assert [c["model_id"] for c in page["children"]] == [real["model_id"]] and page["bookmark"]
    assert page["descendants"][0]["model_id"] == real["model_id"]
    seen = [real["model_id"]]
    while page["bookmark"]:
        page = live.query("GetLineage", parent["model_id"], {"page_size": 2, "bookmark": page["bookmark"]})
        seen += [c["model_id"] for c in page["children"]]
    assert len(seen) == 5 and forged["model_id"] in seen


@pytest.mark.parametrize("case", ["seeds without data", "score 10**400", "recipe without loss", "amp = 5"])
def test_certificates_the_verifier_cannot_process_are_refused(live, case):
    payload = fake_payload("unprocessable")
    if case == "seeds without data":
        del payload["recipe"]["seeds"]["data"]
    elif case == "score 10**400":
        payload["scores"][1]["absolute"] = 10 ** 400
    elif case == "recipe without loss":
        del payload["recipe"]["loss"]
    else:
        payload["recipe"]["amp"] = 5
    live.refuse("org1-user1", "SubmitModel", payload, status=400, match="schema model_submission")


def test_a_submission_the_replay_cannot_follow_ends_rejected_not_hanging(live, runs):
    cert = runs("honest").certificate("scheduler-missing")
    cert["recipe"]["scheduler"] = {"name": "step", "params": {"step_size": 5, "gamma": 0.5}}  # none in the snapshots
    live.submit_model(cert)
    state = live.wait_final(cert["model_id"], timeout=420)
    assert state["status"] == "REJECTED", state
