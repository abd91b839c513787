"""Birth certificates (SubmitModel) and the model's small mutable state record.

A model is two records: the certificate as submitted (immutable, up to 1 MiB) and a summary with
its status, which every later transaction reads and only status changes rewrite. Status changes
also move the model's entry in the status index that ListModels pages through.
"""
from __future__ import annotations

import hashlib
from typing import Any

from trainproof.chaincode.contract import config, events, keys, schemas, store
from trainproof.chaincode.contract.args import json_object, texts
from trainproof.chaincode.contract.clock import check_clock
from trainproof.chaincode.contract.codec import canonical
from trainproof.chaincode.contract.identity import caller, require_client
from trainproof.chaincode.contract.limits import check_limits, check_sealed, check_uris, located
from trainproof.chaincode.contract.text import check_text
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

SUBMITTED = "SUBMITTED"
ASSIGNED = "ASSIGNED"
VERIFIED = "VERIFIED"
REJECTED = "REJECTED"
INCONCLUSIVE = "INCONCLUSIVE"
STATUSES = (SUBMITTED, ASSIGNED, VERIFIED, REJECTED, INCONCLUSIVE)
FINAL = (VERIFIED, REJECTED, INCONCLUSIVE)
# Family-tree index ranks: a VERIFIED child (its verifiers checked that it starts from the
# parent's final weights) sorts before every other, so spam children cannot hide it.
RANK_VERIFIED, RANK_OTHER = "0", "1"


def child_rank(status: str) -> str:
    return RANK_VERIFIED if status == VERIFIED else RANK_OTHER


def load_state(stub: Stub, model_id: str) -> dict[str, Any] | None:
    return store.get(stub, keys.model_state(model_id))


def require_state(stub: Stub, model_id: str) -> dict[str, Any]:
    state = load_state(stub, model_id)
    if state is None:
        raise ChaincodeError(f"unknown model: no model {model_id} has been submitted", 404)
    return state


def load_certificate(stub: Stub, model_id: str) -> dict[str, Any]:
    record = store.get(stub, keys.model(model_id))
    if record is None:
        raise ChaincodeError(f"unknown model: no model {model_id} has been submitted", 404)
    return record


def seated_intervals(state: dict[str, Any]) -> list[int]:
    """Every interval with verifiers seated: the selected ones (replayed) and the others (their
    claimed scores checked). A model assigned before score checks existed has no ``checked``."""
    return sorted((state.get("selected") or []) + (state.get("checked") or []))


def update_status(stub: Stub, state: dict[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    """Write a new state record; keep the status index in step."""
    new = {**state, **changes, "status": status, "updated_tx": stub.tx_id, "updated_at": stub.tx_timestamp}
    if state["status"] != status:
        stub.del_state(keys.key(keys.BY_STATUS, state["status"], state["model_id"]))
        stub.put_state(keys.key(keys.BY_STATUS, status, state["model_id"]), keys.INDEX_VALUE)
        parent, old_rank, new_rank = state["parent_id"], child_rank(state["status"]), child_rank(status)
        if parent is not None and old_rank != new_rank:
            stub.del_state(keys.child(parent, old_rank, state["model_id"]))
            stub.put_state(keys.child(parent, new_rank, state["model_id"]), keys.INDEX_VALUE)
    store.put(stub, keys.model_state(state["model_id"]), new)
    return new


def check_consistency(cert: dict[str, Any]) -> None:
    """What the schema cannot say: the manifest, scores and hash chain agree with each other."""
    snaps, recipe = cert["snapshots"], cert["recipe"]
    per_interval = recipe["steps_per_interval"]
    for position, snap in enumerate(snaps):
        if snap["index"] != position:
            raise ChaincodeError(
                f"manifest: snapshot at position {position} has index {snap['index']}; indices must be contiguous from 0"
            )
    check_sealed(cert)
    for place in located(cert):
        if not place.entry["uri"].endswith("/sha256/" + place.sha256):
            held = "its ciphertext's sha256 (it is sealed)" if place.sealed else "its sha256"
            raise ChaincodeError(f"manifest: {place.what}'s uri {place.entry['uri'][:200]!r} must address its content: "
                                 f"end in /sha256/<{held}> (e.g. s3://<bucket>/sha256/{place.sha256})")
    if snaps[0]["step"] != 0:
        raise ChaincodeError(f"manifest: snapshot 0 is at step {snaps[0]['step']}; it must be the initial state, step 0")
    last = len(snaps) - 1
    for i in range(1, len(snaps)):
        gap = snaps[i]["step"] - snaps[i - 1]["step"]
        if gap <= 0:
            raise ChaincodeError(f"manifest: steps must increase, but snapshot {i} is at step {snaps[i]['step']} "
                                 f"after step {snaps[i - 1]['step']}")
        if (i < last and gap != per_interval) or gap > per_interval:
            raise ChaincodeError(
                f"manifest: interval {i - 1} spans {gap} steps; every interval spans recipe.steps_per_interval="
                f"{per_interval} steps (the last one at most that many)"
            )
    if snaps[-1]["step"] != recipe["total_steps"]:
        raise ChaincodeError(
            f"manifest: the last snapshot is at step {snaps[-1]['step']}, but recipe.total_steps is {recipe['total_steps']}"
        )
    if len(cert["scores"]) != last:
        raise ChaincodeError(f"scores: {len(cert['scores'])} scores for {last} intervals; "
                             "give one per pair of consecutive snapshots")
    for position, score in enumerate(cert["scores"]):
        if score["interval"] != position:
            raise ChaincodeError(f"scores: score at position {position} is for interval {score['interval']}; "
                                 "intervals must be contiguous from 0")
        if position and score["probe_loss"][0] != cert["scores"][position - 1]["probe_loss"][1]:
            raise ChaincodeError(f"scores: interval {position}'s probe_loss starts at {score['probe_loss'][0]!r}, but interval "
                                 f"{position - 1}'s ends at {cert['scores'][position - 1]['probe_loss'][1]!r}; both are "
                                 f"snapshot {position}'s probe loss")
    layers, chain = cert["layer_hashes"]["layers"], cert["layer_hashes"]["chain"]
    if len(set(layers)) != len(layers):
        raise ChaincodeError("layer_hashes: layer names must be unique")
    if len(chain) != len(layers) + 1:
        raise ChaincodeError(f"layer_hashes: {len(chain)} chain hashes for {len(layers)} layers; "
                             "the ring has one more (the ouroboros entry)")


def check_artifacts(stub: Stub, cert: dict[str, Any]) -> None:
    """No trained snapshot already on the ledger is claimed again. Snapshot 0 is the starting
    point: it may be another run's initialisation (the same seed gives the same bytes, and
    nothing was trained), or its declared parent's final snapshot, but never other trained
    weights. A copy of a REJECTED run is refused pointing at the verdict it would otherwise
    escape; a copy of anything else is refused pointing at the original."""
    parent_final = None
    if cert.get("parent_id") is not None:
        parent_final = load_certificate(stub, cert["parent_id"])["certificate"]["snapshots"][-1]["sha256"]
    for snap in cert["snapshots"]:
        claim = store.get(stub, keys.artifact(snap["sha256"]))
        if claim is None or claim["model_id"] == cert["model_id"]:
            continue
        if snap["index"] == 0 and (claim["index"] == 0 or (
                snap["sha256"] == parent_final and claim["model_id"] == cert["parent_id"])):
            continue
        owner = load_state(stub, claim["model_id"]) or {}
        what = f"snapshot {snap['index']} ({snap['sha256'][:16]}…) is snapshot {claim['index']} of model {claim['model_id']}"
        if owner.get("status") == REJECTED:
            raise ChaincodeError(
                f"rejected artifacts: {what}, which is REJECTED ({str(owner.get('reason'))[:200]}); a resubmission "
                "inherits that verdict, so it is refused", 409)
        raise ChaincodeError(
            f"provenance: {what} (status {owner.get('status')}, submitted by {owner.get('submitter', {}).get('mspid')} "
            f"in tx {owner.get('submitted_tx')}); trained weights are claimed once: a snapshot 0 may only be "
            "another run's snapshot 0 or its declared parent's final snapshot", 409)


def next_seq(stub: Stub) -> int:
    """The model's place in the order of record. Every submission reads and writes this counter,
    so two submissions endorsed on the same state conflict and the later one is invalidated:
    committed numbers follow the block order."""
    record = store.get(stub, keys.counter("models")) or {"next": 1}
    store.put(stub, keys.counter("models"), {"next": record["next"] + 1})
    return record["next"]


def submit(stub: Stub) -> dict[str, Any]:
    """SubmitModel(json birth certificate) by any client identity of a member org."""
    (text,) = texts(stub.args, "SubmitModel(json: birth certificate, see schema/model_submission.json)", 1, 1)
    who = caller(stub)
    require_client(who)
    cert = json_object(text, "submission")
    schemas.validate(schemas.MODEL_SUBMISSION, cert)
    check_text("certificate", cert)
    check_consistency(cert)
    settings = config.effective(stub)
    check_limits(cert, settings)
    check_uris(cert, settings)
    model_id, parent_id = cert["model_id"], cert.get("parent_id")
    if load_state(stub, model_id) is not None:
        raise ChaincodeError(f"duplicate: model {model_id} already exists; model ids are unique", 409)
    if parent_id == model_id:
        raise ChaincodeError(f"lineage: model {model_id} cannot be its own parent")
    if parent_id is not None and load_state(stub, parent_id) is None:
        raise ChaincodeError(f"unknown parent: parent model {parent_id} does not exist", 404)
    check_artifacts(stub, cert)
    check_clock(stub, config.effective(stub)["clock_skew_seconds"])

    digest = hashlib.sha256(canonical(cert)).hexdigest()
    submitter = who.ref()
    seq = next_seq(stub)
    store.put(stub, keys.model(model_id), {
        "model_id": model_id,
        "certificate": cert,
        "certificate_sha256": digest,
        "submitter": submitter,
        "tx_id": stub.tx_id,
        "timestamp": stub.tx_timestamp,
    })
    state = {
        "model_id": model_id,
        "name": cert["name"],
        "version": cert["version"],
        "parent_id": parent_id,
        "submitter": submitter,
        "intervals": len(cert["scores"]),
        "certificate_sha256": digest,
        "status": SUBMITTED,
        "reason": None,
        "selected": None,
        "checked": None,
        "submitted_tx": stub.tx_id,
        "submitted_at": stub.tx_timestamp,
        "seq": seq,
        "updated_tx": stub.tx_id,
        "updated_at": stub.tx_timestamp,
    }
    store.put(stub, keys.model_state(model_id), state)
    for snap in cert["snapshots"]:
        if store.get(stub, keys.artifact(snap["sha256"])) is None:  # a parent's final snapshot keeps its owner
            store.put(stub, keys.artifact(snap["sha256"]), {"model_id": model_id, "index": snap["index"]})
    stub.put_state(keys.key(keys.BY_ORDER, keys.order(seq), model_id), keys.INDEX_VALUE)
    stub.put_state(keys.key(keys.BY_STATUS, SUBMITTED, model_id), keys.INDEX_VALUE)
    stub.put_state(keys.key(keys.BY_SUBMITTER, who.fingerprint, model_id), keys.INDEX_VALUE)
    stub.put_state(keys.key(keys.BY_NAME, cert["name"], model_id), keys.INDEX_VALUE)
    if parent_id is not None:
        stub.put_state(keys.child(parent_id, RANK_OTHER, model_id), keys.INDEX_VALUE)
    event_fields = ("model_id", "name", "version", "parent_id", "submitter", "intervals", "certificate_sha256", "status")
    events.emit(stub, events.MODEL_SUBMITTED, {k: state[k] for k in event_fields})
    return state
