"""The family tree (GetLineage): every ancestor up to the root, every descendant below.

Parents are recorded in the certificate; children through ``child`` index keys written with the
child's submission. A parent must exist before its child and ids are never reused, so a model
cannot become its own ancestor; the walk still refuses to loop if a cycle ever appeared.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from trainproof.chaincode.contract import keys, store
from trainproof.chaincode.contract.args import model_id, texts
from trainproof.chaincode.contract.models import load_state, require_state
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

MAX_NODES = 10_000  # bounds one query's work; the answer says when it was cut


def node(state: dict[str, Any]) -> dict[str, Any]:
    fields = ("model_id", "name", "version", "status", "parent_id", "submitter", "submitted_at")
    return {f: state[f] for f in fields}


def ancestors(stub: Stub, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Parent first, root last."""
    path, seen = [], {state["model_id"]}
    parent_id = state["parent_id"]
    while parent_id is not None:
        if parent_id in seen:
            raise ChaincodeError(f"lineage: model {parent_id} is its own ancestor (corrupt family tree)", 500)
        seen.add(parent_id)
        parent = require_state(stub, parent_id)
        path.append(node(parent))
        parent_id = parent["parent_id"]
    return path


def descendants(stub: Stub, root_id: str) -> tuple[list[dict[str, Any]], bool]:
    """Breadth first, children in id order; each node carries its depth below the root."""
    found: list[dict[str, Any]] = []
    seen, queue = {root_id}, deque([(root_id, 0)])
    while queue:
        parent_id, depth = queue.popleft()
        for _, child_id in store.scan_keys(stub, keys.CHILD, parent_id):
            if child_id in seen:
                continue
            if len(found) == MAX_NODES:
                return found, True
            seen.add(child_id)
            state = load_state(stub, child_id)
            if state is not None:
                found.append({**node(state), "depth": depth + 1})
                queue.append((child_id, depth + 1))
    return found, False


def get_lineage(stub: Stub) -> dict[str, Any]:
    (text,) = texts(stub.args, "GetLineage(model_id)", 1, 1)
    state = require_state(stub, model_id(text))
    below, truncated = descendants(stub, state["model_id"])
    return {"model": node(state), "ancestors": ancestors(stub, state), "descendants": below, "truncated": truncated}
