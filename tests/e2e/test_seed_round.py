"""Issue 15, finding 5: the assigner can no longer grind the draw, on the live network.

Today's attack: the seed was SHA-256(AssignVerifiers tx id ‖ assigner), and the tx id is
hash(nonce ‖ creator) with a nonce the sender picks, so an assigner colluding with the
submitter simulated candidate transactions and committed the one with the draw it wanted. Now the
seed is fixed by a commit-reveal round across the member orgs. With the network's dispatcher
stopped (so nothing races the test), the test plays both orgs' part itself: AssignVerifiers is
refused before the round is complete, a reveal that does not open its commitment is refused,
and once it is complete, AssignVerifiers endorsed with many transaction ids always yields the
same draw, which is the one committed. Then the non-reveal rule, driven by the restarted
dispatcher from the ledger alone (its events skipped): a model stuck between commit and
reveal is taken on, and a reveal withheld past ``seed_reveal_seconds`` is skipped and recorded.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from tests.contract.live.conftest import fake_payload, wait_until
from tests.e2e.test_reconcile import dispatcher_stopped, live, skip_events_so_far  # noqa: F401 (fixtures)
from trainproof.verifier.dispatcher import org_seed_key, seed_secret

pytestmark = pytest.mark.e2e


def commitment(secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(secret)).hexdigest()


def expected_seed(model_id: str, reveals: dict[str, str]) -> str:
    parts = ["trainproof/assign/v2", model_id] + [f"{m}\x00{s}" for m, s in sorted(reveals.items())]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def test_the_assigner_cannot_grind_the_draw(live, dispatcher_stopped):
    payload = fake_payload("grind")
    mid = payload["model_id"]
    live.submit_model(payload)  # org1-user1; the colluding assigner is an Org2 verifier
    skip_events_so_far(live)
    attacker = "org2-verifier1"
    # Before any commitment: no draw at all, whatever nonce the attacker tries (today: accepted).
    for _ in range(3):
        live.refuse(attacker, "AssignVerifiers", mid, status=409, match="seed: the seed round of model")
    s1, s2 = os.urandom(32).hex(), os.urandom(32).hex()
    live.submit("org1-admin", "CommitSeed", mid, commitment(s1))
    live.refuse("org1-admin", "RevealSeed", mid, s1, status=409, match="commitments are not fixed yet")
    live.submit(attacker, "CommitSeed", mid, commitment(s2))
    live.refuse("org2-admin", "CommitSeed", mid, commitment(s1), status=409, match="once per org")
    live.refuse(attacker, "AssignVerifiers", mid, status=409, match="to reveal")
    # The attacker, having seen nothing, tries to swap its contribution: refused.
    live.refuse(attacker, "RevealSeed", mid, os.urandom(32).hex(), status=403, match="does not match Org2MSP's commitment")
    live.submit("org1-admin", "RevealSeed", mid, s1)
    live.refuse(attacker, "RevealSeed", mid, s1, status=403, match="does not match")  # nor copy the other org's
    live.submit(attacker, "RevealSeed", mid, s2)

    # Grinding: eight AssignVerifiers endorsed (never ordered), eight nonces, the same draw.
    seed = expected_seed(mid, {"Org1MSP": s1, "Org2MSP": s2})
    draws = set()
    for _ in range(8):
        result = json.loads(live.proposal(attacker, "AssignVerifiers", mid).endorse().result)
        draws.add((result["seed"], json.dumps([[r["interval"], r["verifiers"]] for r in result["intervals"]])))
    assert len(draws) == 1 and next(iter(draws))[0] == seed
    result, tx_id = live.submit_tx("org2-admin", "AssignVerifiers", mid)  # another sender: still the same draw
    assert result["seed"] == seed and result["seed_round"]["withheld"] == []
    assert json.dumps([[r["interval"], r["verifiers"]] for r in result["intervals"]]) == next(iter(draws))[1]
    assert live.assignment(mid)["seed"] == seed
    live.refuse("org1-admin", "CommitSeed", mid, commitment(s1), status=409, match="state: model")


def test_a_withheld_reveal_is_skipped_by_the_restarted_dispatcher(live, dispatcher_stopped):
    before = live.query("GetConfig")["values"]
    live.set_config({"seed_reveal_seconds": 30})
    try:
        payload = fake_payload("withheld")
        mid = payload["model_id"]
        live.submit_model(payload, who="org2-user1")  # the submitter's org is Org2
        # Org2's part is committed by an Org2 verifier with a secret the dispatcher does not know:
        # Org2 will withhold its reveal.
        live.submit("org2-verifier1", "CommitSeed", mid, commitment(os.urandom(32).hex()))
        skip_events_so_far(live)
        time.sleep(1)
        dispatcher_stopped()  # restarted: it sees no event, only the ledger (a model stuck mid-round)
        rnd = wait_until(lambda: (r := live.query("GetSeedRound", mid)) and "Org1MSP" in r["reveals"] and r, 90,
                         "the restarted dispatcher to commit and reveal Org1's seed")
        org1_secret = seed_secret(org_seed_key(live.profile.identity_files("org1-admin").key), mid)
        assert rnd["reveals"]["Org1MSP"]["secret"] == org1_secret and rnd["closed_at"]
        assert "Org2MSP" not in rnd["reveals"]
        if live.model(mid)["status"] == "SUBMITTED":
            live.refuse("org1-admin", "AssignVerifiers", mid, status=409, match="waiting for Org2MSP to reveal")
        wait_until(lambda: time.time() > rnd["closed_at"] + 31, 60, "the reveal deadline")
        assignment, _ = live.assign(mid, "org1-admin")  # the dispatcher's next pass may get there first
        assert assignment["seed_round"]["withheld"] == ["Org2MSP"]
        assert assignment["seed"] == expected_seed(mid, {"Org1MSP": org1_secret})
        assert assignment["assigner"]["mspid"] == "Org1MSP"
    finally:
        live.set_config({"seed_reveal_seconds": before.get("seed_reveal_seconds", 900)})
