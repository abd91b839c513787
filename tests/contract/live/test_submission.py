"""SubmitModel, its validation, and the family tree on the live network.

What can and cannot be asserted on a shared, busy network:

* Every model submitted here is assigned by the dispatcher within a second and voted on by the
  workers soon after, so a model's *status* is not ours to assert in this module. What nobody
  else can change is: the certificate stored under the model's key (written once, by
  SubmitModel: its GetHistory has exactly one entry), the lineage indexes, and the fields of
  the state that SubmitModel fixes.
* A refused SubmitModel must leave no trace. Each refusal here is an endorsement the contract
  refuses on both peers; it is never sent to the orderers. Afterwards the model id is unknown
  (GetModel → 404), the name lists nothing, and the proposal's transaction id is in none of
  the blocks committed meanwhile. (The chain height itself is not compared: other engineers,
  the dispatcher and the workers commit blocks all the time.)
* Fake certificates name artifacts that are not in MinIO: the workers vote REJECT ("unusable
  submission"). The lineage uses a real recorded run, which the workers verify.
"""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Callable

import pytest

from trainproof.chaincode.contract.codec import canonical
from tests.contract.factories import decaying_scores
from tests.contract.live.conftest import UNKNOWN_MODEL, Live, fake_payload, unique_name

pytestmark = pytest.mark.contract

STATUSES = ("SUBMITTED", "ASSIGNED", "VERIFIED", "REJECTED", "INCONCLUSIVE")


def certificate_history(live: Live, model_id: str) -> list[dict[str, Any]]:
    return [e for e in live.query("GetHistory", model_id)["entries"] if e["record"] == "model"]


def test_submit_stores_the_certificate_and_emits_model_submitted(live, events):
    payload = fake_payload("submit")
    state, tx = live.submit_tx("org1-user1", "SubmitModel", payload)
    user = live.fingerprint("org1-user1")

    assert state == {
        "model_id": payload["model_id"], "name": payload["name"], "version": payload["version"], "parent_id": None,
        "submitter": {"fingerprint": user, "mspid": "Org1MSP", "common_name": state["submitter"]["common_name"]},
        "intervals": len(payload["scores"]), "certificate_sha256": hashlib.sha256(canonical(payload)).hexdigest(),
        "status": "SUBMITTED", "reason": None, "selected": None, "checked": None,
        "submitted_tx": tx, "submitted_at": state["submitted_at"], "updated_tx": tx, "updated_at": state["updated_at"],
        "seq": state["seq"],  # the order of record (issue 15)
    }
    assert isinstance(state["seq"], int) and state["seq"] >= 1
    assert state["submitter"]["common_name"].startswith("User1@org1")

    stored = live.query("GetModel", payload["model_id"])
    assert stored["certificate"] == payload
    assert {k: stored[k] for k in ("model_id", "name", "submitter", "certificate_sha256", "submitted_tx")} == \
        {k: state[k] for k in ("model_id", "name", "submitter", "certificate_sha256", "submitted_tx")}

    # findable through each index
    assert [m["model_id"] for m in live.query("ListModels", {"name": payload["name"]})["models"]] == [payload["model_id"]]
    mine = live.query("ListModels", {"name": payload["name"], "submitter": user})["models"]
    assert [m["model_id"] for m in mine] == [payload["model_id"]]
    assert live.query("ListModels", {"name": payload["name"], "submitter": live.fingerprint("org2-user1")})["models"] == []

    history = live.query("GetHistory", payload["model_id"])["entries"]
    assert [(e["tx_id"], e["value"]["certificate"]) for e in history if e["record"] == "model"] == [(tx, payload)]
    first_state = next(e for e in history if e["record"] == "modelstate")
    assert first_state["tx_id"] == tx and first_state["value"]["status"] == "SUBMITTED"

    event = events.for_tx(tx)
    assert event.name == "ModelSubmitted"
    assert event.payload == {
        "event": "ModelSubmitted", "tx_id": tx, "timestamp": event.payload["timestamp"],
        "model_id": payload["model_id"], "name": payload["name"], "version": payload["version"], "parent_id": None,
        "submitter": state["submitter"], "intervals": state["intervals"],
        "certificate_sha256": state["certificate_sha256"], "status": "SUBMITTED",
    }


# --- validation ---------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        *parents, leaf = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[int(leaf) if isinstance(node, list) else leaf] = value
        return doc
    return mutate


def _delete(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        *parents, leaf = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[int(leaf) if isinstance(node, list) else leaf]
        return doc
    return mutate


def _text(text: str) -> Mutation:
    return lambda doc: text


def _steps(doc: dict[str, Any]) -> dict[str, Any]:
    doc["snapshots"][4]["step"] += 1
    return doc


def _swap_indices(doc: dict[str, Any]) -> dict[str, Any]:
    doc["snapshots"][2]["index"], doc["snapshots"][3]["index"] = 3, 2
    return doc


def _oversized(doc: dict[str, Any]) -> str:
    return json.dumps(doc) + " " * (1 << 20)  # still a valid certificate, only too big


# (case, caller, mutation of a valid certificate → the argument, status, message fragment)
CASES: list[tuple[str, str, Mutation, int, str]] = [
    ("malformed JSON", "org1-user1", _text('{"model_id": "'), 400, "submission is not valid JSON"),
    ("JSON but not an object", "org1-user1", _text("[1, 2]"), 400, "must be a JSON object"),
    ("duplicate key", "org1-user1", lambda d: json.dumps(d)[:-1] + ', "name": "twice"}', 400, "duplicate key"),
    ("NaN score", "org1-user1", lambda d: json.dumps(_set("scores.0.absolute", float("nan"))(d)), 400,
     "not valid JSON"),
    ("missing field: recipe", "org1-user1", _delete("recipe"), 400, "'recipe' is a required property"),
    ("missing field: snapshot sha256", "org1-user1", _delete("snapshots.3.sha256"), 400, "'sha256' is a required"),
    ("unknown field", "org1-user1", _set("owner", "me"), 400, "schema model_submission"),
    ("wrong type: batch_size", "org1-user1", _set("recipe.batch_size", "64"), 400, "at /recipe/batch_size"),
    ("wrong type: snapshots", "org1-user1", _set("snapshots", {"0": "x"}), 400, "at /snapshots"),
    ("negative size", "org1-user1", _set("dataset.size", -1), 400, "at /dataset/size"),
    ("bad hash: not hex", "org1-user1", _set("snapshots.3.sha256", "z" * 64), 400, "at /snapshots/3/sha256"),
    ("bad hash: too short", "org1-user1", _set("dataset.sha256", "ab" * 31), 400, "at /dataset/sha256"),
    ("bad hash: upper case", "org1-user1", _set("layer_hashes.chain.1", "AB" * 32), 400, "at /layer_hashes/chain/1"),
    ("model id not a UUID", "org1-user1", _set("model_id", "model-1"), 400, "at /model_id"),
    ("indices not contiguous", "org1-user1", _swap_indices, 400, "manifest: snapshot at position 2 has index 3"),
    ("interval of the wrong length", "org1-user1", _steps, 400, "manifest: interval 3 spans"),
    ("total_steps disagrees", "org1-user1", _set("recipe.total_steps", 999), 400, "recipe.total_steps is 999"),
    ("one score missing", "org1-user1", lambda d: _set("scores", d["scores"][:-1])(d), 400, "scores: 9 scores for 10"),
    ("hash chain too short", "org1-user1", lambda d: _set("layer_hashes.chain", d["layer_hashes"]["chain"][:-1])(d),
     400, "layer_hashes: 2 chain hashes for 2 layers"),
    ("its own parent", "org1-user1", lambda d: _set("parent_id", d["model_id"])(d), 400, "cannot be its own parent"),
    ("unknown parent", "org1-user1", _set("parent_id", UNKNOWN_MODEL), 404, f"parent model {UNKNOWN_MODEL} does not"),
    ("oversized argument (> 1 MiB)", "org1-user1", _oversized, 413, "size limit: argument 1 is"),
    ("caller without the role: admin", "org1-admin", lambda d: d, 403, "OU=client required"),
    ("caller without the role: other org's admin", "org2-admin", lambda d: d, 403, "not a client identity"),
]


@pytest.mark.parametrize("case,who,mutate,status,match", CASES, ids=[c[0] for c in CASES])
def test_invalid_submission_is_refused_and_changes_nothing(live, case, who, mutate, status, match):
    payload = fake_payload("invalid")
    argument = mutate(copy.deepcopy(payload))
    start = live.height()

    refusal = live.refuse(who, "SubmitModel", argument, status=status, match=match)

    assert live.model(payload["model_id"]) is None
    assert live.query("ListModels", {"name": payload["name"]})["models"] == []
    assert refusal.tx_id not in live.tx_ids(start, live.height())


def test_argument_count_and_encoding_are_checked(live):
    payload = fake_payload("args")
    live.refuse("org1-user1", "SubmitModel", status=400, match="expected 1 argument(s), got 0")
    live.refuse("org1-user1", "SubmitModel", payload, payload, status=400, match="got 2")
    live.refuse("org1-user1", "SubmitModel", json.dumps(payload).encode()[:-2] + b"\xff}", status=400,
                match="not UTF-8")
    assert live.model(payload["model_id"]) is None


def test_duplicate_id_is_refused_and_the_original_is_untouched(live):
    original = fake_payload("original")
    state, tx = live.submit_tx("org1-user1", "SubmitModel", original)

    impostor = fake_payload("impostor", intervals=4)
    impostor["model_id"] = original["model_id"]
    start = live.height()
    refusals = [
        live.refuse("org1-user1", "SubmitModel", original, status=409, match=f"model {original['model_id']} already exists"),
        live.refuse("org1-user1", "SubmitModel", impostor, status=409, match="duplicate"),
        live.refuse("org2-user1", "SubmitModel", impostor, status=409, match="duplicate"),
    ]

    stored = live.query("GetModel", original["model_id"])
    assert stored["certificate"] == original
    assert {k: stored[k] for k in ("name", "version", "submitter", "certificate_sha256", "submitted_tx")} == \
        {k: state[k] for k in ("name", "version", "submitter", "certificate_sha256", "submitted_tx")}
    assert [e["tx_id"] for e in certificate_history(live, original["model_id"])] == [tx]
    assert live.query("ListModels", {"name": impostor["name"]})["models"] == []
    assert not {r.tx_id for r in refusals} & live.tx_ids(start, live.height())


def test_lineage_over_three_generations(live):
    """Each child starts from its parent's final snapshot: the one artifact a model may share
    (until issue 15 every generation reused one recorded run's snapshots)."""
    family = unique_name("family")
    finals: dict[str, dict] = {}

    def submit(label: str, parent: str | None, who: str = "org1-user1") -> str:
        cert = fake_payload(label, parent=parent)
        if parent is not None:
            cert["snapshots"][0] = {**finals[parent], "index": 0, "step": 0}
        cert["name"] = f"{family}-{label}"
        state = live.submit(who, "SubmitModel", cert)  # resubmitted if the parent's verdict landed meanwhile
        assert state["parent_id"] == parent
        finals[cert["model_id"]] = cert["snapshots"][-1]
        return cert["model_id"]

    root = submit("g1", None)
    child = submit("g2", root)
    sibling = submit("g2b", root, who="org2-user1")
    grandchild = submit("g3", child)

    def ids(nodes):
        return [n["model_id"] for n in nodes]

    top = live.query("GetLineage", root)
    assert top["model"]["model_id"] == root and top["ancestors"] == [] and top["truncated"] is False
    # breadth first: both children (in id order) at depth 1, then the grandchild at depth 2
    assert ids(top["descendants"]) == sorted([child, sibling]) + [grandchild]
    assert [n["depth"] for n in top["descendants"]] == [1, 1, 2]
    assert {n["model_id"]: n["parent_id"] for n in top["descendants"]} == {child: root, sibling: root, grandchild: child}

    middle = live.query("GetLineage", child)
    assert ids(middle["ancestors"]) == [root]
    assert ids(middle["descendants"]) == [grandchild] and middle["descendants"][0]["depth"] == 1

    leaf = live.query("GetLineage", grandchild)
    assert ids(leaf["ancestors"]) == [child, root]  # parent first
    assert leaf["descendants"] == []
    assert leaf["model"]["parent_id"] == child

    for node in [top["model"], *top["descendants"], *leaf["ancestors"]]:
        assert set(node) >= {"model_id", "name", "version", "status", "parent_id", "submitter", "submitted_at"}
        assert node["name"].startswith(family) and node["status"] in STATUSES
    assert next(n for n in top["descendants"] if n["model_id"] == sibling)["submitter"]["mspid"] == "Org2MSP"

    live.refuse("org1-user1", "GetLineage", UNKNOWN_MODEL, status=404, match="unknown model")
    live.refuse("org1-user1", "GetLineage", root.upper(), status=400, match="not a lowercase UUID")


def test_queries_on_unknown_or_malformed_ids_are_refused(live):
    for fn in ("GetModel", "GetHistory", "GetAssignment", "GetVotes"):
        live.refuse("org2-user1", fn, UNKNOWN_MODEL, status=404, match=UNKNOWN_MODEL)
        live.refuse("org2-user1", fn, "not-a-uuid", status=400, match="model id")
    live.refuse("org2-user1", "ListModels", {"page_size": 0}, status=400, match="page_size")
    live.refuse("org2-user1", "ListModels", {"status": "DONE"}, status=400, match="status")
    live.refuse("org2-user1", "ListModels", {"bookmark": "elsewhere"}, status=400, match="bookmark")
    live.refuse("org2-user1", "NoSuchTransaction", status=404, match="unknown transaction")


def test_list_models_pages_through_a_name(live):
    name = unique_name("paged")
    submitted = []
    for _ in range(3):
        payload = fake_payload("paged", intervals=3, scores=decaying_scores(3))
        payload["name"] = name
        live.submit_model(payload)
        submitted.append(payload["model_id"])
    seen, bookmark, pages = [], "", 0
    while True:
        page = live.query("ListModels", {"name": name, "page_size": 2, "bookmark": bookmark})
        assert len(page["models"]) <= 2
        seen += [m["model_id"] for m in page["models"]]
        pages += 1
        bookmark = page["bookmark"]
        if not bookmark:
            break
    assert sorted(seen) == sorted(submitted) and pages >= 2
