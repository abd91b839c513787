"""AssignVerifiers and ExpireAssignment: which intervals are re-executed, and by whom.

The randomness comes from the model's seed round (seeding.py): every member org committed to a
secret before any was revealed, and the seed is a hash of the reveals. Neither the submitter's
transactions nor the assigner's (its transaction id, nonce or timestamp) enter the seed, so no
single party can grind it; re-draws on expiry derive from the same seed and the round number.
The argument and its limits are in ASSIGNMENT.md.
"""
from __future__ import annotations

import hashlib
from typing import Any

from trainproof.chaincode.contract import config, decisions, events, keys, replication, seeding, selection, store, verifiers
from trainproof.chaincode.contract.args import model_id, texts
from trainproof.chaincode.contract.clock import check_clock
from trainproof.chaincode.contract.identity import Identity, caller
from trainproof.chaincode.contract.models import (
    ASSIGNED,
    SUBMITTED,
    load_certificate,
    require_state,
    seated_intervals,
    update_status,
)
from trainproof.chaincode.contract.prng import HashStream
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

REASSIGN_DOMAIN = "trainproof/reassign/v2"
# What an interval's verifiers do: replay it (a selected interval), or recompute its claimed
# scores from its two snapshots (every other interval: a falsified score could hide it from
# selection, and no task downloads more than its own interval's snapshots).
REPLAY = "replay"
SCORES = "scores"


def reassign_seed(assignment_seed: str, interval: int, round_: int) -> bytes:
    """An expiry's re-draw of one interval: fixed by the model's seed and the new round, so the
    sender of ExpireAssignment chooses nothing (no transaction id enters it)."""
    parts = (REASSIGN_DOMAIN, assignment_seed, str(interval), str(round_))
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()


def eligible(stub: Stub, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Active verifiers other than the submitter itself, in fingerprint order."""
    return [v for v in verifiers.active(stub) if v["fingerprint"] != state["submitter"]["fingerprint"]]


def authorize(stub: Stub, who: Identity, state: dict[str, Any], pool: list[dict[str, Any]],
              what: str | None = None) -> dict[str, Any]:
    """The assigner must be an MSP admin or an active verifier, not the submitter, and from
    another org than the submitter's whenever active verifiers from another org exist.
    ``what`` names the subject in refusals when it is not the model (an attestation)."""
    is_verifier = verifiers.active_record(stub, who) is not None
    if not (who.is_admin or is_verifier):
        raise ChaincodeError(
            f"role: caller {who.describe()} is neither an MSP admin nor an active registered verifier", 403
        )
    submitter = state["submitter"]
    if who.fingerprint == submitter["fingerprint"]:
        raise ChaincodeError(f"independence: caller {who.fingerprint} submitted {what or 'model ' + state['model_id']} "
                             "and cannot draw its randomness", 403)
    others = sorted({v["mspid"] for v in pool if v["mspid"] != submitter["mspid"]})
    if who.mspid == submitter["mspid"] and others:
        raise ChaincodeError(
            f"independence: caller's org {who.mspid} is the submitter's org; while active verifiers of other orgs "
            f"exist ({', '.join(others)}), one of those orgs must send this transaction", 403
        )
    return {**who.ref(), "role": "verifier" if is_verifier else "admin"}


def pick(stream: HashStream, pool: list[dict[str, Any]], size: int, submitter_msp: str) -> list[str] | None:
    """``size`` fingerprints from ``pool``, other orgs than the submitter's first; None if too few."""
    others = [v["fingerprint"] for v in pool if v["mspid"] != submitter_msp]
    same = [v["fingerprint"] for v in pool if v["mspid"] == submitter_msp]
    if len(others) + len(same) < size:
        return None
    if len(others) >= size:
        return sorted(stream.sample(others, size))
    return sorted(others + stream.sample(same, size - len(others)))


def assign(stub: Stub) -> dict[str, Any]:
    """AssignVerifiers(model_id): select intervals and a sub-quorum for each; once per model."""
    (text,) = texts(stub.args, "AssignVerifiers(model_id)", 1, 1)
    mid = model_id(text)
    who = caller(stub)
    state = require_state(stub, mid)
    pool = eligible(stub, state)
    assigner = authorize(stub, who, state, pool)
    if state["status"] != SUBMITTED:
        raise ChaincodeError(f"once per model: model {mid} is already {state['status']}; "
                             "AssignVerifiers runs once (ExpireAssignment re-assigns)", 409)
    cfg = config.effective(stub)
    check_clock(stub, cfg["clock_skew_seconds"])
    size = cfg["sub_quorum_size"]
    if len(pool) < size:
        raise ChaincodeError(
            f"quorum: {len(pool)} active verifier(s) are eligible (the submitter excluded) but sub_quorum_size is "
            f"{size}; register more verifiers or lower sub_quorum_size", 409
        )
    drawn, seed_round = seeding.ready(stub, seeding.Subject.of_model(state), cfg["seed_reveal_seconds"])
    certificate = load_certificate(stub, mid)["certificate"]
    selected = selection.select(audit_fraction=cfg["audit_fraction"], stream=HashStream(drawn, "audit"),
                                **selection.claims(certificate), **selection.settings(cfg))
    deadline = stub.tx_timestamp + cfg["deadline_seconds"]
    submitter_msp = state["submitter"]["mspid"]
    seats = replication.first_seats(cfg)
    records = []
    chosen_intervals = {e["interval"] for e in selected}
    checked = [i for i in range(len(certificate["scores"])) if i not in chosen_intervals]
    work = [(e["interval"], REPLAY, e["reasons"]) for e in selected] + [(i, SCORES, []) for i in checked]
    for i, kind, reasons in sorted(work):
        chosen = pick(HashStream(drawn, f"quorum/{i}"), pool, seats, submitter_msp)
        assert chosen is not None  # len(pool) >= size >= seats was checked above
        records.append({
            "model_id": mid,
            "interval": i,
            "kind": kind,
            "reasons": reasons,
            "round": 0,
            "size": size,  # the full sub-quorum, whose majority decides; "verifiers" are the seats filled
            "verifiers": chosen,
            "escalated": None,
            "deadline": deadline,
            "assigned_tx": stub.tx_id,
            "assigned_at": stub.tx_timestamp,
            "previous_rounds": [],
        })
    assignment = {
        "model_id": mid,
        "assigner": assigner,
        "tx_id": stub.tx_id,
        "timestamp": stub.tx_timestamp,
        "seed": drawn.hex(),
        "seed_round": seed_round,
        "config": cfg,
        "selected": selected,
        # What this draw checks, and how likely m intervals the rules missed were to escape it.
        "assurance": selection.assurance(len(certificate["scores"]), selected),
        "submitter_org_excluded": sum(v["mspid"] != submitter_msp for v in pool) >= size,
    }
    store.put(stub, keys.assignment(mid), assignment)
    for rec in records:
        store.put(stub, keys.interval(mid, rec["interval"]), rec)
    new_state = update_status(stub, state, ASSIGNED, selected=[e["interval"] for e in selected], checked=checked)
    events.emit(stub, events.INTERVALS_ASSIGNED, {
        "model_id": mid,
        "status": new_state["status"],
        "submitter": state["submitter"],
        "assigner": assigner,
        "seed": assignment["seed"],
        "withheld": seed_round["withheld"],
        "assignments": [_brief(rec) for rec in records],
    })
    return {**assignment, "status": new_state["status"], "intervals": records}


def _brief(rec: dict[str, Any]) -> dict[str, Any]:
    return {f: rec.get(f, REPLAY) if f == "kind" else rec[f]
            for f in ("interval", "kind", "reasons", "round", "size", "verifiers", "deadline")}


def expire(stub: Stub) -> dict[str, Any]:
    """ExpireAssignment(model_id): for each undecided interval past its deadline, replace the
    verifiers that did not vote (keeping cast votes), or mark it INCONCLUSIVE after
    max_reassignments re-assignments or when no replacement is available."""
    (text,) = texts(stub.args, "ExpireAssignment(model_id)", 1, 1)
    mid = model_id(text)
    who = caller(stub)
    state = require_state(stub, mid)
    pool = eligible(stub, state)
    authorize(stub, who, state, pool)
    if state["status"] != ASSIGNED:
        raise ChaincodeError(f"state: model {mid} is {state['status']}; only an ASSIGNED model's assignments expire", 409)
    record = store.get(stub, keys.assignment(mid))
    cfg = record["config"]
    check_clock(stub, cfg.get("clock_skew_seconds", config.DEFAULTS["clock_skew_seconds"]))
    now = stub.tx_timestamp
    pending = [store.get(stub, keys.interval(mid, i)) for i in seated_intervals(state) if decisions.load(stub, mid, i) is None]
    expired = [rec for rec in pending if rec["deadline"] <= now]
    if not expired:
        earliest = min(rec["deadline"] for rec in pending)
        raise ChaincodeError(f"deadline: no undecided interval of model {mid} is past its deadline "
                             f"(earliest deadline {earliest}, transaction time {now})", 409)

    submitter_msp = state["submitter"]["mspid"]
    reassigned, settled = [], {}
    for rec in expired:
        i = rec["interval"]
        cast = {fp: v["verdict"] for fp in rec["verifiers"] if (v := store.get(stub, keys.vote(mid, i, fp)))}
        voted = sorted(cast)
        stale = [fp for fp in rec["verifiers"] if fp not in cast]
        newcomers = None
        if rec["round"] < cfg["max_reassignments"]:
            stream = HashStream(reassign_seed(record["seed"], i, rec["round"] + 1), f"quorum/{i}")
            # Fresh verifiers first; the ones that let the deadline pass only if nobody else is left.
            newcomers = pick(stream, [v for v in pool if v["fingerprint"] not in rec["verifiers"]], len(stale), submitter_msp)
            if newcomers is None:
                newcomers = pick(stream, [v for v in pool if v["fingerprint"] not in voted], len(stale), submitter_msp)
        if newcomers is not None:
            new = {
                **rec,
                "round": rec["round"] + 1,
                "verifiers": sorted(voted + newcomers),
                "deadline": now + cfg["deadline_seconds"],
                "assigned_tx": stub.tx_id,
                "assigned_at": now,
                "previous_rounds": rec["previous_rounds"] + [
                    {f: rec[f] for f in ("round", "verifiers", "deadline", "assigned_tx")} | {"missing": stale}
                ],
            }
            store.put(stub, keys.interval(mid, i), new)
            reassigned.append(new)
            continue
        why = ("no majority after the last allowed re-assignment" if rec["round"] >= cfg["max_reassignments"]
               else "too few active verifiers to re-assign")
        reason = f"deadline passed in round {rec['round']} with {len(voted)} of {len(rec['verifiers'])} vote(s); {why}"
        settled[i] = decisions.record(
            stub, mid, i, decisions.INTERVAL_INCONCLUSIVE, reason, round=rec["round"], votes=cast, missing=stale,
            **decisions.tally(cast.values(), rec["size"]),
        )

    new_state, outcomes = decisions.conclude(stub, state, settled) if settled else (None, {})
    payload = {
        "model_id": mid,
        "status": (new_state or state)["status"],
        "submitter": state["submitter"],
        "assignments": [_brief(rec) for rec in reassigned],
        "decided": [decisions.summary(d) for d in settled.values()],
    }
    if new_state is not None:
        events.emit(stub, events.MODEL_VERDICT, {**payload, "reason": new_state["reason"], "outcomes": _outcomes(outcomes)})
    elif settled:
        events.emit(stub, events.INTERVAL_DECIDED, {**payload, "outcomes": _outcomes(outcomes)})
    else:
        events.emit(stub, events.INTERVALS_ASSIGNED, payload)
    return {**payload, "reason": (new_state or state)["reason"]}


def _outcomes(outcomes: dict[int, str | None]) -> list[dict[str, Any]]:
    return [{"interval": i, "outcome": o} for i, o in sorted(outcomes.items())]
