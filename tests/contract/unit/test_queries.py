"""GetModel, ListModels, GetVotes, GetAssignment, GetHistory, and the router's own refusals."""
from __future__ import annotations

import json
import uuid

import pytest

from trainproof.chaincode.contract.args import MAX_ARG_BYTES
from trainproof.chaincode.contract.router import QUERIES, TRANSACTIONS, handle
from tests.contract.factories import Cast, Net, evidence, model_payload

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}


def page_through(net: Net, query: dict) -> tuple[list[str], int]:
    names, pages, bookmark = [], 0, ""
    while True:
        out = net.call(Cast.client1, "ListModels", {**query, "bookmark": bookmark})
        names += [m["name"] for m in out["models"]]
        pages += 1
        bookmark = out["bookmark"]
        if not bookmark:
            return names, pages


@pytest.fixture
def catalogue(net: Net) -> list[dict]:
    """Seven models: five from Org1's client named a0..a4, two from Org2's named b; one assigned."""
    models = [model_payload(name=f"a{i}") for i in range(5)] + [model_payload(name="b") for _ in range(2)]
    for m in models:
        net.call(Cast.client1 if m["name"] != "b" else Cast.client2, "SubmitModel", m)
    net.call(Cast.admin2, "AssignVerifiers", models[0]["model_id"])
    return models


def test_list_models_pages_with_bookmarks(net: Net, catalogue):
    names, pages = page_through(net, {"page_size": 3})
    assert sorted(names) == sorted(m["name"] for m in catalogue) and pages == 3
    first = net.call(Cast.client1, "ListModels")
    assert len(first["models"]) == 7 and first["bookmark"] == ""


@pytest.mark.parametrize("query, expected", [
    ({"status": "ASSIGNED"}, ["a0"]),
    ({"status": "SUBMITTED", "page_size": 2}, ["a1", "a2", "a3", "a4", "b", "b"]),
    ({"submitter": Cast.client2.fingerprint}, ["b", "b"]),
    ({"name": "a3"}, ["a3"]),
    ({"name": "b", "status": "SUBMITTED"}, ["b", "b"]),
    ({"name": "a0", "status": "SUBMITTED"}, []),
    ({"status": "VERIFIED"}, []),
])
def test_list_models_filters(net: Net, catalogue, query, expected):
    assert sorted(page_through(net, query)[0]) == expected


@pytest.mark.parametrize("query, rule", [
    ({"colour": "red"}, "unknown field"),
    ({"status": "DONE"}, "status must be"),
    ({"submitter": "me"}, "fingerprint"),
    ({"name": ""}, "name must be"),
    ({"page_size": 0}, "page_size"),
    ({"page_size": 101}, "page_size"),
    ({"page_size": True}, "page_size"),
    ({"bookmark": 5}, "bookmark must be a string"),
    ({"bookmark": "\x00vote\x00x\x00"}, "does not belong to this query"),
    ([], "must be a JSON object"),
])
def test_list_models_refuses_bad_queries(net: Net, query, rule):
    net.refuse(Cast.client1, "ListModels", query, status=400, match=rule)


def test_history_lists_every_change_in_order_with_tx_ids_and_timestamps(net: Net, submitted):
    mid = submitted["model_id"]
    net.advance(10)
    out = net.call(Cast.admin2, "AssignVerifiers", mid, tx_id="assign-1")
    rec = out["intervals"][0]
    net.advance(10)
    net.call(BY_FP[rec["verifiers"][0]], "SubmitVote", mid, str(rec["interval"]), "ACCEPT", evidence(), tx_id="vote-1")
    entries = net.call(Cast.client1, "GetHistory", mid)["entries"]
    assert [e["timestamp"] for e in entries] == sorted(e["timestamp"] for e in entries)
    by_tx = {}
    for e in entries:
        by_tx.setdefault(e["tx_id"], set()).add(e["record"])
    submit_tx = net.call(Cast.client1, "GetModel", mid)["submitted_tx"]
    assert by_tx[submit_tx] == {"model", "modelstate"}
    assert by_tx["assign-1"] == {"assignment", "interval", "modelstate"}
    assert by_tx["vote-1"] == {"vote"}
    states = [e["value"]["status"] for e in entries if e["record"] == "modelstate"]
    assert states == ["SUBMITTED", "ASSIGNED"]


def test_get_assignment_before_and_after(net: Net, submitted):
    mid = submitted["model_id"]
    net.refuse(Cast.client1, "GetAssignment", mid, status=404, match="not assigned")
    out = net.call(Cast.admin2, "AssignVerifiers", mid)
    view = net.call(Cast.client1, "GetAssignment", mid)
    assert view["seed"] == out["seed"] and view["status"] == "ASSIGNED"
    assert [r["verifiers"] for r in view["intervals"]] == [r["verifiers"] for r in out["intervals"]]
    assert all(r["votes"] == {} and r["decision"] is None for r in view["intervals"])


@pytest.mark.parametrize("function", ["GetModel", "GetVotes", "GetAssignment", "GetHistory", "GetLineage"])
def test_queries_refuse_unknown_models(net: Net, function):
    net.refuse(Cast.client1, function, str(uuid.uuid4()), status=404, match="unknown model")


def test_unknown_transaction(net: Net):
    net.refuse(Cast.client1, "DropTables", status=404, match="unknown transaction")


@pytest.mark.parametrize("function", sorted(TRANSACTIONS))
def test_every_transaction_refuses_an_oversized_argument(net: Net, function):
    net.refuse(Cast.admin1, function, b"x" * (MAX_ARG_BYTES + 1), status=413, match="size limit")


# GetAttestation needs an attestation, so a VERIFIED model: test_attestations.py checks it;
# GetDataKeys a confidential model with delivered keys: test_datakeys.py checks it; GetAttestationKey
# a sealed batch with a delivered key: test_attestation_keys.py checks it.
@pytest.mark.parametrize("function", sorted(set(QUERIES) - {"GetAttestation", "GetDataKeys", "GetAttestationKey"}))
def test_queries_write_nothing(net: Net, submitted, function):
    args = {"ListModels": [], "ListVerifiers": [], "GetConfig": [], "ListConfigProposals": [],
            "ListAttestations": [json.dumps({"model_id": submitted["model_id"]})]}.get(function, [submitted["model_id"]])
    if function == "GetConfigProposal":
        args = [net.call(Cast.admin1, "ProposeConfig", {"k": 2})["proposal_id"]]
    if function in ("GetAssignment", "GetSeedRound"):
        net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])
    before = net.ledger.snapshot()
    endorsement = net.ledger.endorse(handle, Cast.client1.creator, function, args)
    assert endorsement.error is None and endorsement.stub.writes == {} and endorsement.stub.event is None
    assert net.ledger.snapshot() == before
