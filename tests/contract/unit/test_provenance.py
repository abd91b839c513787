"""Authorship, priority and lineage (issue 15, findings 3, 4, 6, 14): the pure rules, in memory.

An artifact is claimed once (a copy is refused pointing at the original; a copy of a REJECTED
run at its verdict), except a child's snapshot 0 being its declared parent's final snapshot;
submission time is bounded by the peers' clocks; ListModels runs in the order of record; a
VERIFIED child is ranked before any number of declared ones in GetLineage.
"""
from __future__ import annotations

import copy
import uuid

import pytest

from trainproof.chaincode.contract import keys, store
from trainproof.chaincode.contract.codec import canonical
from tests.contract.factories import Cast, Net, evidence, model_payload

pytestmark = pytest.mark.unit


def copy_of(payload: dict, **changes) -> dict:
    clone = copy.deepcopy(payload)
    clone.update(model_id=str(uuid.uuid4()), **changes)
    return clone


def test_a_copied_run_is_refused_pointing_at_the_original(net: Net, submitted):
    error = net.refuse(Cast.client2, "SubmitModel", copy_of(submitted), status=409, match="provenance: snapshot 1")
    assert submitted["model_id"] in error.message
    one = copy_of(model_payload())
    one["snapshots"][3] = submitted["snapshots"][3]  # a single borrowed snapshot is enough
    net.refuse(Cast.client2, "SubmitModel", one, status=409, match=f"is snapshot 3 of model {submitted['model_id']}")


def test_a_child_may_start_from_its_parents_final_snapshot_only(net: Net, submitted):
    child = model_payload(parent=submitted["model_id"])
    child["snapshots"][0] = copy.deepcopy(submitted["snapshots"][-1]) | {"index": 0, "step": 0}
    net.call(Cast.client2, "SubmitModel", child)
    stranger = model_payload()  # the same start without declaring the parent
    stranger["snapshots"][0] = child["snapshots"][0]
    net.refuse(Cast.client2, "SubmitModel", stranger, status=409, match="a snapshot 0 may only be")
    # the final snapshot's owner stays the parent
    assert net.ledger.committed(keys.artifact(submitted["snapshots"][-1]["sha256"])) is not None


def test_runs_may_share_an_initialisation(net: Net, submitted):
    """The same seed gives the same snapshot 0; nothing was trained yet, so nothing is claimed."""
    other = model_payload()
    other["snapshots"][0] = submitted["snapshots"][0]
    net.call(Cast.client2, "SubmitModel", other)


def reject(net: Net, payload: dict) -> None:
    mid = payload["model_id"]
    out = net.call(Cast.admin2, "AssignVerifiers", mid)
    rec = out["intervals"][0]
    for fp in rec["verifiers"][:2]:
        voter = next(v for v in Cast.org1_verifiers + Cast.org2_verifiers if v.fingerprint == fp)
        net.call(voter, "SubmitVote", mid, str(rec["interval"]), "REJECT", evidence("poisoned"))
    assert net.call(Cast.client1, "GetModel", mid)["status"] == "REJECTED"


def test_a_rejected_run_resubmitted_under_a_new_id_inherits_its_verdict(net: Net, submitted):
    reject(net, submitted)
    error = net.refuse(Cast.client1, "SubmitModel", copy_of(submitted), status=409, match="rejected artifacts")
    assert submitted["model_id"] in error.message and "REJECTED (interval" in error.message


def test_submission_time_is_bounded_by_the_peers_clock(net: Net):
    payload = model_payload()
    error = net.refuse(Cast.client1, "SubmitModel", payload, status=409, match="clock:",
                       timestamp=net.ledger.clock - 6 * 365 * 86400)
    assert "(clock_skew_seconds)" in error.message
    assert net.call(Cast.client1, "SubmitModel", payload, timestamp=net.ledger.clock - 299)["seq"] == 1


def test_models_are_listed_in_the_order_of_record(net: Net):
    ids = []
    for i in range(5):
        payload = model_payload()
        # the client-set time runs backwards; the order of record does not
        ids.append(net.call(Cast.client1, "SubmitModel", payload, timestamp=net.ledger.clock - 10 * i)["model_id"])
    listed = net.call(Cast.client1, "ListModels", {"page_size": 3})
    rest = net.call(Cast.client1, "ListModels", {"page_size": 3, "bookmark": listed["bookmark"]})
    assert [m["model_id"] for m in listed["models"] + rest["models"]] == ids
    assert [m["seq"] for m in listed["models"]] == [1, 2, 3]


def spam(count: int, parent: str):
    """A transaction writing ``count`` declared children of ``parent`` straight into the state
    (10,001 SubmitModels would take minutes; the index entries are what GetLineage reads)."""
    def write(stub) -> bytes:
        for n in range(count):
            mid = str(uuid.UUID(int=n + 1))
            store.put(stub, keys.model_state(mid), {"model_id": mid, "name": f"spam{n}", "version": "1", "status":
                                                    "SUBMITTED", "parent_id": parent, "submitter": {},
                                                    "submitted_at": 0.0})
            stub.put_state(keys.child(parent, "1", mid), keys.INDEX_VALUE)
        return canonical({})
    return write


def test_a_verified_child_is_not_hidden_by_ten_thousand_spam_children(net: Net, submitted):
    root = submitted["model_id"]
    real = model_payload(parent=root, intervals=3, name="real-child")
    net.call(Cast.client2, "SubmitModel", real)
    net.ledger.invoke(spam(10_001, root), Cast.client1.creator, "Spam", [])
    out = net.call(Cast.admin1, "AssignVerifiers", real["model_id"])
    for rec in out["intervals"]:
        for fp in rec["verifiers"][:2]:
            voter = next(v for v in Cast.org1_verifiers + Cast.org2_verifiers if v.fingerprint == fp)
            net.call(voter, "SubmitVote", real["model_id"], str(rec["interval"]), "ACCEPT", evidence())
    assert net.call(Cast.client1, "GetModel", real["model_id"])["status"] == "VERIFIED"

    lineage = net.call(Cast.client1, "GetLineage", root, {"page_size": 2})
    assert lineage["children"][0]["model_id"] == real["model_id"]  # ranked first
    assert lineage["descendants"][0]["model_id"] == real["model_id"] and lineage["truncated"] is True
    page, seen = lineage, 0
    while page["bookmark"]:  # every child can be paged through
        seen += len(page["children"])
        page = net.call(Cast.client1, "GetLineage", root, {"page_size": 1000, "bookmark": page["bookmark"]})
    assert seen + len(page["children"]) == 10_002
    net.refuse(Cast.client1, "GetLineage", root, {"page_size": 0}, status=400, match="page_size")
    net.refuse(Cast.client1, "GetLineage", root, {"bookmark": "x"}, status=400, match="bookmark")
