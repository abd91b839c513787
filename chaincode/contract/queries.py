"""Read-only transactions: GetModel, ListModels, GetVotes, GetAssignment, GetHistory.

ListModels pages through an index chosen by the most selective filter given (name, then
submitter, then status, else all models in the order of record, i.e. block order) and applies any other filters to each page, so with
several filters a page can hold fewer than page_size models: keep following the bookmark until
it is empty.
"""
from __future__ import annotations

from typing import Any

from trainproof.chaincode.contract import decisions, keys, store
from trainproof.chaincode.contract.args import HEX64_RE, interval, model_id, optional_json_object, texts
from trainproof.chaincode.contract.codec import load
from trainproof.chaincode.contract.models import STATUSES, load_certificate, load_state, require_state
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

DEFAULT_PAGE = 20
MAX_PAGE = 100
LIST_FIELDS = ("bookmark", "name", "page_size", "status", "submitter")


def get_model(stub: Stub) -> dict[str, Any]:
    """The model's state (status, reason, submitter, …) plus the certificate as submitted."""
    (text,) = texts(stub.args, "GetModel(model_id)", 1, 1)
    state = require_state(stub, model_id(text))
    return {**state, "certificate": load_certificate(stub, state["model_id"])["certificate"]}


def _list_filters(query: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(query) - set(LIST_FIELDS))
    if unknown:
        raise ChaincodeError(f"filter: unknown field {unknown[0][:64]!r}; known fields: {', '.join(LIST_FIELDS)}")
    if "status" in query and query["status"] not in STATUSES:
        raise ChaincodeError(f"filter: status must be one of {', '.join(STATUSES)}")
    if "submitter" in query and not (isinstance(query["submitter"], str) and HEX64_RE.fullmatch(query["submitter"])):
        raise ChaincodeError("filter: submitter must be a certificate fingerprint (64 lowercase hex digits)")
    if "name" in query and not (isinstance(query["name"], str) and 0 < len(query["name"]) <= 200):
        raise ChaincodeError("filter: name must be a string of 1 to 200 characters")
    size = query.get("page_size", DEFAULT_PAGE)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
        raise ChaincodeError(f"filter: page_size must be an integer in [1, {MAX_PAGE}]")
    if not isinstance(query.get("bookmark", ""), str):
        raise ChaincodeError("filter: bookmark must be a string")
    return {**query, "page_size": size}


def list_models(stub: Stub) -> dict[str, Any]:
    """ListModels([json {status?, submitter?, name?, page_size?, bookmark?}])."""
    args = texts(stub.args, 'ListModels([json: {"status"?, "submitter"?, "name"?, "page_size"?, "bookmark"?}])', 0, 1)
    query = _list_filters(optional_json_object(args[0] if args else None, "filter"))
    if "name" in query:
        index, attrs = keys.BY_NAME, [query["name"]]
    elif "submitter" in query:
        index, attrs = keys.BY_SUBMITTER, [query["submitter"]]
    elif "status" in query:
        index, attrs = keys.BY_STATUS, [query["status"]]
    else:  # the order of record: block order (models.next_seq)
        index, attrs = keys.BY_ORDER, []
    bookmark = query.get("bookmark", "")
    if bookmark and not bookmark.startswith(keys.key(index, *attrs)):
        raise ChaincodeError("filter: bookmark does not belong to this query; pass back the one the previous page returned")
    rows, next_bookmark = stub.get_state_by_partial_composite_key_with_pagination(index, attrs, query["page_size"], bookmark)
    models = []
    for key, raw in rows:
        state = load(raw) if index == keys.MODEL_STATE else load_state(stub, Stub.split_composite_key(key)[1][-1])
        if state is not None and all(
            query.get(f, actual) == actual
            for f, actual in (("status", state["status"]), ("name", state["name"]),
                              ("submitter", state["submitter"]["fingerprint"]))
        ):
            models.append(state)
    return {"models": models, "bookmark": next_bookmark}


def get_votes(stub: Stub) -> dict[str, Any]:
    """GetVotes(model_id[, interval]): votes in (interval, verifier fingerprint) order."""
    args = texts(stub.args, "GetVotes(model_id[, interval])", 1, 2)
    mid = require_state(stub, model_id(args[0]))["model_id"]
    attrs = [keys.part(interval(args[1]))] if len(args) == 2 else []
    return {"model_id": mid, "votes": [vote for _, vote in store.scan(stub, keys.VOTE, mid, *attrs)]}


def get_assignment(stub: Stub) -> dict[str, Any]:
    """GetAssignment(model_id): who assigned, the seed, and per interval its sub-quorum, votes and decision."""
    (text,) = texts(stub.args, "GetAssignment(model_id)", 1, 1)
    state = require_state(stub, model_id(text))
    mid = state["model_id"]
    assignment = store.get(stub, keys.assignment(mid))
    if assignment is None:
        raise ChaincodeError(f"not assigned: model {mid} has no assignment yet (status {state['status']})", 404)
    intervals = []
    for _, rec in store.scan(stub, keys.INTERVAL, mid):
        votes = {v["verifier"]["fingerprint"]: v["verdict"]
                 for _, v in store.scan(stub, keys.VOTE, mid, keys.part(rec["interval"]))}
        intervals.append({**rec, "votes": votes, "decision": decisions.load(stub, mid, rec["interval"])})
    return {**assignment, "status": state["status"], "reason": state["reason"], "intervals": intervals}


def get_history(stub: Stub) -> dict[str, Any]:
    """GetHistory(model_id): every change to the model's records, oldest first, with tx id and time."""
    (text,) = texts(stub.args, "GetHistory(model_id)", 1, 1)
    mid = require_state(stub, model_id(text))["model_id"]
    record_keys = [keys.model(mid), keys.model_state(mid), keys.assignment(mid)]
    for object_type in (keys.INTERVAL, keys.DECISION, keys.VOTE):
        record_keys += [k for k, _ in stub.get_state_by_partial_composite_key(object_type, [mid])]
    entries = []
    for key in record_keys:
        object_type, attrs = Stub.split_composite_key(key)
        for mod in stub.get_history_for_key(key):
            entries.append({
                "tx_id": mod.tx_id,
                "timestamp": mod.timestamp,
                "record": object_type,
                "key": attrs,
                "is_delete": mod.is_delete,
                "value": None if mod.is_delete else load(mod.value),
            })
    entries.sort(key=lambda e: (e["timestamp"], e["tx_id"], e["record"], e["key"]))
    return {"model_id": mid, "entries": entries}
