"""A confidential parent's final key for its child's lineage check (issue #18): its submitter may
deliver that key, only that key, to the verifiers checking interval 0 of a child that it or one of
its grantees submitted, while the child is assigned and only when the child starts from another file."""
from __future__ import annotations

import pytest

from tests.contract.factories import Cast, Net, evidence, model_payload
from tests.contract.unit.test_attestations import BY_FP
from tests.contract.unit.test_datakeys import delivery

pytestmark = pytest.mark.unit


@pytest.fixture
def parent(confidential_verified: dict) -> dict:
    """The declared parent: a confidential one-interval model of Org1's client, VERIFIED."""
    return confidential_verified


def assigned_child(net: Net, parent: dict, submitter=Cast.client1, same_file: bool = False) -> tuple[dict, list[str]]:
    """A child of ``parent`` (in the clear, two intervals) assigned; its interval 0's seats."""
    child = model_payload(parent=parent["model_id"], intervals=2)
    if same_file:
        sha = parent["snapshots"][-1]["sha256"]
        child["snapshots"][0] = {**child["snapshots"][0], "sha256": sha, "uri": f"s3://snapshots/sha256/{sha}"}
    net.call(submitter, "SubmitModel", child)
    admin = Cast.admin1 if submitter.mspid == "Org2MSP" else Cast.admin2  # another org assigns
    out = net.call(admin, "AssignVerifiers", child["model_id"])
    return child, next(r["verifiers"] for r in out["intervals"] if r["interval"] == 0)


def final(model: dict) -> list[str]:
    return [model["snapshots"][-1]["sha256"]]


def test_the_parents_final_key_goes_to_the_childs_interval_0_verifiers_only(net: Net, parent):
    mid = parent["model_id"]
    child, seats = assigned_child(net, parent)
    cid = child["model_id"]
    seat, outsider = BY_FP[seats[0]], next(v for fp, v in sorted(BY_FP.items()) if fp not in seats)

    net.refuse(seat, "GetDataKeys", mid, cid, status=404, match="not delivered yet")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**delivery(parent, outsider, artifacts=final(parent)), "child": cid},
               status=403, match="does not check interval 0")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**delivery(parent, seat), "child": cid},
               status=403, match="checks the lineage of child")
    net.refuse(Cast.client2, "DeliverDataKeys", mid, {**delivery(parent, seat, artifacts=final(parent)), "child": cid},
               status=403, match="only the submitter")

    out = net.call(Cast.client1, "DeliverDataKeys", mid,
                   {**delivery(parent, *(BY_FP[fp] for fp in seats), artifacts=final(parent)), "child": cid})
    assert out["child"] == cid
    assert {(r["fingerprint"], r["role"], r["intervals"][0]) for r in out["recipients"]} == {(fp, "lineage", 0)
                                                                                            for fp in seats}
    mine = net.call(seat, "GetDataKeys", mid, cid)
    assert mine["role"] == "lineage" and mine["child"] == cid and list(mine["keys"]) == final(parent)
    net.refuse(outsider, "GetDataKeys", mid, cid, status=403, match="does not check interval 0")
    net.refuse(Cast.admin2, "GetDataKeys", mid, cid, status=403, match="MSP admin")


def test_once_interval_0_is_decided_its_verifiers_get_nothing_more(net: Net, parent):
    mid = parent["model_id"]
    child, seats = assigned_child(net, parent)
    cid = child["model_id"]
    net.call(Cast.client1, "DeliverDataKeys", mid, {**delivery(parent, BY_FP[seats[0]], artifacts=final(parent)),
                                                    "child": cid})
    for fp in seats[:2]:
        net.call(BY_FP[fp], "SubmitVote", cid, "0", "ACCEPT", {**evidence(), "replay_sha256": child["snapshots"][1]["sha256"]})
    net.refuse(BY_FP[seats[0]], "GetDataKeys", mid, cid, status=403, match="does not check interval 0")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**delivery(parent, BY_FP[seats[1]], artifacts=final(parent)),
                                                      "child": cid}, status=403, match="does not check interval 0")


def test_a_strangers_child_gets_no_key_until_the_parents_submitter_grants_it(net: Net, parent):
    mid = parent["model_id"]
    child, seats = assigned_child(net, parent, submitter=Cast.client2)
    body = {**delivery(parent, BY_FP[seats[0]], artifacts=final(parent)), "child": child["model_id"]}
    net.refuse(Cast.client1, "DeliverDataKeys", mid, body, status=403, match="neither the submitter of model")
    net.refuse(BY_FP[seats[0]], "GetDataKeys", mid, child["model_id"], status=403, match="neither the submitter")

    net.call(Cast.client1, "GrantAccess", mid, {"fingerprint": Cast.client2.fingerprint, "mspid": "Org2MSP"})
    assert net.call(Cast.client1, "DeliverDataKeys", mid, body)["recipients"][0]["role"] == "lineage"


def test_a_child_that_starts_from_the_final_file_itself_needs_no_key(net: Net, parent):
    child, seats = assigned_child(net, parent, same_file=True)
    net.refuse(Cast.client1, "DeliverDataKeys", parent["model_id"],
               {**delivery(parent, BY_FP[seats[0]], artifacts=final(parent)), "child": child["model_id"]},
               status=409, match="needs no key")


def test_only_a_declared_and_assigned_child_counts(net: Net, parent):
    mid = parent["model_id"]
    body = delivery(parent, BY_FP[sorted(BY_FP)[0]], artifacts=final(parent))
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**body, "child": "00000000-0000-4000-8000-000000000000"},
               status=404, match="does not exist")
    orphan = model_payload(intervals=2)
    net.call(Cast.client1, "SubmitModel", orphan)
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**body, "child": orphan["model_id"]}, status=403,
               match="does not declare model")
    waiting = model_payload(parent=mid, intervals=2)
    net.call(Cast.client1, "SubmitModel", waiting)
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**body, "child": waiting["model_id"]}, status=409,
               match="is SUBMITTED")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {**body, "child": "not-a-uuid"}, match="child")
