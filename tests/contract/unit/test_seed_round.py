"""CommitSeed / RevealSeed: the draw's randomness is fixed by every member org before any of
them knows it (issue 15, finding 5), and what happens when an org does not reveal."""
from __future__ import annotations

import hashlib

import pytest

from trainproof.chaincode.contract.prng import HashStream
from trainproof.chaincode.contract.seeding import draw_seed
from trainproof.chaincode.contract.config import DEFAULTS
from trainproof.chaincode.contract.selection import claims, select, settings
from tests.contract.factories import Cast, Net, model_payload, org_secret, sha_hex

pytestmark = pytest.mark.unit
S1, S2 = "11" * 32, "22" * 32


@pytest.fixture
def manual(net: Net) -> Net:
    net.auto_seed = False
    return net


def commit_both(net: Net, mid: str, s1: str = S1, s2: str = S2) -> None:
    net.call(Cast.admin1, "CommitSeed", mid, sha_hex(s1))
    net.call(Cast.org2_verifiers[0], "CommitSeed", mid, sha_hex(s2))


def test_the_draw_is_the_hash_of_the_reveals_whoever_assigns(manual: Net, submitted):
    mid = submitted["model_id"]
    manual.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="seed: the seed round of model")
    manual.call(Cast.admin1, "CommitSeed", mid, sha_hex(S1))
    _, event = manual.last_event()
    assert event["committed"] == ["Org1MSP"] and event["closed_at"] is None
    manual.refuse(Cast.admin1, "RevealSeed", mid, S1, status=409, match="commitments are not fixed yet")
    manual.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="waiting for Org2MSP to commit")
    manual.call(Cast.org2_verifiers[0], "CommitSeed", mid, sha_hex(S2))
    manual.refuse(Cast.admin2, "CommitSeed", mid, sha_hex(S1), status=409, match="once per org: Org2MSP already")
    manual.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="waiting for Org1MSP, Org2MSP to reveal")
    manual.refuse(Cast.admin2, "RevealSeed", mid, S1, status=403, match="does not match Org2MSP's commitment")
    manual.call(Cast.admin1, "RevealSeed", mid, S1)
    manual.call(Cast.admin2, "RevealSeed", mid, S2)  # any admin or verifier of the org may reveal
    manual.refuse(Cast.admin2, "RevealSeed", mid, S2, status=409, match="already revealed")
    name, event = manual.last_event()
    assert name == "SeedRevealed" and event["revealed"] == ["Org1MSP", "Org2MSP"]

    # Endorse (never commit) AssignVerifiers with many transaction ids and senders: one draw.
    views = set()
    for i, who in enumerate([Cast.admin2] + Cast.org2_verifiers):
        e = manual.ledger.endorse(__import__("trainproof.chaincode.contract.router", fromlist=["handle"]).handle,
                                  who.creator, "AssignVerifiers", [mid.encode()], tx_id=f"grind-{i}")
        assert e.error is None, e.error
        out = __import__("json").loads(e.response)
        views.add((out["seed"], tuple((r["interval"], tuple(r["verifiers"])) for r in out["intervals"])))
    assert len(views) == 1
    out = manual.call(Cast.admin2, "AssignVerifiers", mid)
    seed = draw_seed({"Org1MSP": S1, "Org2MSP": S2}, mid)
    assert out["seed"] == seed.hex() == next(iter(views))[0]
    expected = hashlib.sha256("\x00".join(["trainproof/assign/v2", mid, f"Org1MSP\x00{S1}", f"Org2MSP\x00{S2}"])
                              .encode()).hexdigest()
    assert out["seed"] == expected
    assert out["selected"] == select(audit_fraction=DEFAULTS["audit_fraction"], stream=HashStream(seed, "audit"),
                                     **claims(submitted), **settings(DEFAULTS))
    assert out["seed_round"]["withheld"] == [] and out["seed_round"]["reveals"] == {"Org1MSP": S1, "Org2MSP": S2}
    manual.refuse(Cast.admin1, "CommitSeed", mid, sha_hex(S1), status=409, match="state: model")


def test_who_may_commit_and_what(manual: Net):
    payload = model_payload()
    submitter = Cast.org2_verifiers[0]
    manual.call(submitter, "SubmitModel", payload)
    mid = payload["model_id"]
    manual.refuse(submitter, "CommitSeed", mid, sha_hex(S2), status=403, match="independence")
    manual.refuse(Cast.client1, "CommitSeed", mid, sha_hex(S1), status=403, match="neither an MSP admin")
    manual.refuse(Cast.admin1, "CommitSeed", mid, "AB" * 32, status=400, match="64 lowercase hex")
    manual.refuse(Cast.admin1, "CommitSeed", mid, status=400, match="usage: CommitSeed(model_id | attestation_id, commitment)")
    manual.refuse(Cast.admin1, "RevealSeed", mid, S1, status=409, match="has not committed")
    manual.refuse(Cast.admin1, "GetSeedRound", mid, status=404, match="no seed commitment")


def test_a_withheld_reveal_of_the_submitters_org_is_skipped_after_the_deadline(manual: Net, submitted):
    mid = submitted["model_id"]  # submitted by Org1's client
    commit_both(manual, mid)
    manual.call(Cast.admin2, "RevealSeed", mid, S2)
    manual.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="waiting for Org1MSP to reveal")
    manual.advance(900)
    out = manual.call(Cast.admin2, "AssignVerifiers", mid)
    assert out["seed"] == draw_seed({"Org2MSP": S2}, mid).hex()
    assert out["seed_round"]["withheld"] == ["Org1MSP"]
    assert manual.last_event()[1]["withheld"] == ["Org1MSP"]


def test_the_submitters_org_alone_never_fixes_the_draw(manual: Net, submitted):
    mid = submitted["model_id"]
    commit_both(manual, mid)
    manual.call(Cast.admin1, "RevealSeed", mid, S1)
    manual.advance(10_000)
    manual.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="no org other than the submitter's")
    manual.call(Cast.admin2, "RevealSeed", mid, S2)  # a late reveal still counts
    assert manual.call(Cast.admin2, "AssignVerifiers", mid)["seed_round"]["withheld"] == []


def test_a_reveal_stamped_far_from_the_peers_clock_is_refused(manual: Net, submitted):
    mid = submitted["model_id"]
    commit_both(manual, mid)
    manual.call(Cast.admin2, "RevealSeed", mid, S2)
    manual.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="clock:",
                  timestamp=manual.ledger.clock + 900)  # cannot jump the reveal deadline


def test_expiry_redraws_from_the_seed_not_the_expirers_transaction(net: Net, submitted):
    mid = submitted["model_id"]
    net.call(Cast.admin2, "AssignVerifiers", mid)
    net.advance(86_401)
    from trainproof.chaincode.contract.router import handle
    import json
    views = set()
    for i, who in enumerate([Cast.admin2, Cast.org2_verifiers[1], Cast.org2_verifiers[2]]):
        e = net.ledger.endorse(handle, who.creator, "ExpireAssignment", [mid.encode()], tx_id=f"expire-{i}")
        assert e.error is None, e.error
        views.add(json.dumps(json.loads(e.response)["assignments"], sort_keys=True).replace(f"expire-{i}", "tx"))
    assert len(views) == 1


def test_the_factory_round_matches_the_dispatchers_rule(net: Net, submitted):
    out = net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])
    mid = submitted["model_id"]
    assert out["seed"] == draw_seed({m: org_secret(m, mid) for m in ("Org1MSP", "Org2MSP")}, mid).hex()
