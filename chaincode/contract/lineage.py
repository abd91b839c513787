"""The family tree (GetLineage): every ancestor up to the root, every descendant below.

Parents are recorded in the certificate; children through ``child`` index keys written with the
child's submission. A parent must exist before its child and ids are never reused, so a model
cannot become its own ancestor; the walk still refuses to loop if a cycle ever appeared.

Anyone may declare any model its parent, so a family can hold any number of spam children.
The index ranks VERIFIED children first (their verifiers checked that they start from the
parent's final weights), so a real child is never cut off by a flood of declared ones, and the
direct children can be paged through to the end (``children`` with a bookmark).
"""
from __future__ import annotations

from collections import deque
from typing import Any

from trainproof.chaincode.contract import keys, store
from trainproof.chaincode.contract.args import model_id, optional_json_object, texts
from trainproof.chaincode.contract.models import load_state, require_state
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

MAX_NODES = 10_000  # bounds one query's work; the answer says when it was cut
DEFAULT_PAGE, MAX_PAGE = 100, 1000  # direct children per page


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
    """Breadth first, each node's VERIFIED children first, then by id; each node carries its depth."""
    found: list[dict[str, Any]] = []
    seen, queue = {root_id}, deque([(root_id, 0)])
    while queue:
        parent_id, depth = queue.popleft()
        for attrs in store.scan_keys(stub, keys.CHILD, parent_id):
            child_id = attrs[-1]
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


def children_page(stub: Stub, parent_id: str, query: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """One page of direct children (VERIFIED first) and the bookmark of the next ("" = last page)."""
    size = query.get("page_size", DEFAULT_PAGE)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
        raise ChaincodeError(f"page: page_size must be an integer in [1, {MAX_PAGE}]")
    bookmark = query.get("bookmark", "")
    if not isinstance(bookmark, str) or (bookmark and not bookmark.startswith(keys.key(keys.CHILD, parent_id))):
        raise ChaincodeError("page: bookmark does not belong to this model's children; pass back the one returned")
    rows, next_bookmark = stub.get_state_by_partial_composite_key_with_pagination(keys.CHILD, [parent_id], size, bookmark)
    page = []
    for key, _ in rows:
        state = load_state(stub, Stub.split_composite_key(key)[1][-1])
        if state is not None:
            page.append(node(state))
    return page, next_bookmark


def get_lineage(stub: Stub) -> dict[str, Any]:
    """GetLineage(model_id[, json {"page_size"?, "bookmark"?}])."""
    args = texts(stub.args, 'GetLineage(model_id[, json: {"page_size"?, "bookmark"?}])', 1, 2)
    query = optional_json_object(args[1] if len(args) == 2 else None, "page")
    unknown = sorted(set(query) - {"page_size", "bookmark"})
    if unknown:
        raise ChaincodeError(f"page: unknown field {unknown[0][:64]!r}; known fields: bookmark, page_size")
    state = require_state(stub, model_id(args[0]))
    below, truncated = descendants(stub, state["model_id"])
    children, bookmark = children_page(stub, state["model_id"], query)
    return {"model": node(state), "ancestors": ancestors(stub, state), "descendants": below, "truncated": truncated,
            "children": children, "bookmark": bookmark}
