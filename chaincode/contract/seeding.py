"""CommitSeed and RevealSeed: the draw's randomness, fixed by every member org before anyone knows it.

Each member org commits SHA-256(secret) to a model's seed round (``CommitSeed``), then, once
every member org has committed (the commitments are fixed), reveals the secret
(``RevealSeed``); a reveal must hash to its org's commitment. The draw seed is
SHA-256(domain ‖ model id ‖ each revealing org's MSP id and secret, in MSP order): it is known to
nobody until the last reveal, and nobody can change its own contribution after seeing another's.
A reveal withheld for ``seed_reveal_seconds`` after the round closed is skipped, provided an org
other than the submitter's revealed; the withholding org is recorded. Argument and limits:
ASSIGNMENT.md.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from trainproof.chaincode.contract import config, events, keys, store, verifiers
from trainproof.chaincode.contract.args import model_id, texts
from trainproof.chaincode.contract.clock import check_clock
from trainproof.chaincode.contract.identity import Identity, caller
from trainproof.chaincode.contract.models import SUBMITTED, require_state
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

SEED_DOMAIN = "trainproof/assign/v2"
HEX64 = re.compile(r"[0-9a-f]{64}")


def member_orgs(stub: Stub, state: dict[str, Any]) -> list[str]:
    """The orgs that take part in a model's seed round: the consortium's members (the chaincode
    server's ``--members``), or, where none are configured, the orgs of active verifiers and the
    submitter's."""
    found = config.members()
    if found:
        return found
    return sorted({v["mspid"] for v in verifiers.active(stub)} | {state["submitter"]["mspid"]})


def _hex64(text: str, what: str) -> str:
    if not HEX64.fullmatch(text):
        raise ChaincodeError(f"seed: {what} must be 64 lowercase hex digits (32 bytes), got {text[:80]!r}", 400)
    return text


def _participant(stub: Stub, who: Identity, state: dict[str, Any], orgs: list[str]) -> dict[str, Any]:
    """An MSP admin or active verifier of a member org, never the submitter itself."""
    is_verifier = verifiers.active_record(stub, who) is not None
    if not (who.is_admin or is_verifier):
        raise ChaincodeError(
            f"role: caller {who.describe()} is neither an MSP admin nor an active registered verifier", 403)
    if who.fingerprint == state["submitter"]["fingerprint"]:
        raise ChaincodeError(f"independence: caller {who.fingerprint} submitted model {state['model_id']} "
                             "and takes no part in its seed round", 403)
    if who.mspid not in orgs:
        raise ChaincodeError(f"membership: {who.mspid} is not a member org ({', '.join(orgs)})", 403)
    return {**who.ref(), "role": "verifier" if is_verifier else "admin"}


def load(stub: Stub, mid: str) -> dict[str, Any] | None:
    return store.get(stub, keys.seed_round(mid))


def commit(stub: Stub) -> dict[str, Any]:
    """CommitSeed(model_id, commitment): this org's SHA-256(secret), once per org while SUBMITTED."""
    mid_text, commitment = texts(stub.args, "CommitSeed(model_id, commitment)", 2, 2)
    mid = model_id(mid_text)
    commitment = _hex64(commitment, "the commitment")
    who = caller(stub)
    state = require_state(stub, mid)
    orgs = member_orgs(stub, state)
    by = _participant(stub, who, state, orgs)
    if state["status"] != SUBMITTED:
        raise ChaincodeError(f"state: model {mid} is {state['status']}; seeds are committed while it is SUBMITTED", 409)
    check_clock(stub, config.effective(stub)["clock_skew_seconds"])
    rnd = load(stub, mid) or {"model_id": mid, "members": orgs, "commitments": {}, "reveals": {}, "closed_at": None}
    if who.mspid in rnd["commitments"]:
        raise ChaincodeError(f"once per org: {who.mspid} already committed to the seed of model {mid} "
                             f"(transaction {rnd['commitments'][who.mspid]['tx_id']})", 409)
    rnd["commitments"][who.mspid] = {"commitment": commitment, "by": by, "tx_id": stub.tx_id,
                                     "timestamp": stub.tx_timestamp}
    if set(rnd["members"]) <= set(rnd["commitments"]):
        rnd["closed_at"] = stub.tx_timestamp  # every member committed: the commitments are fixed, reveals open
    store.put(stub, keys.seed_round(mid), rnd)
    events.emit(stub, events.SEED_COMMITTED, _event(rnd, state, who.mspid))
    return rnd


def reveal(stub: Stub) -> dict[str, Any]:
    """RevealSeed(model_id, secret): this org's secret, which must hash to its commitment; only
    once every member org has committed, once per org, while SUBMITTED."""
    mid_text, secret = texts(stub.args, "RevealSeed(model_id, secret)", 2, 2)
    mid = model_id(mid_text)
    secret = _hex64(secret, "the secret")
    who = caller(stub)
    state = require_state(stub, mid)
    rnd = load(stub, mid)
    by = _participant(stub, who, state, rnd["members"] if rnd else member_orgs(stub, state))
    if rnd is None or who.mspid not in rnd["commitments"]:
        raise ChaincodeError(f"commitment: {who.mspid} has not committed to the seed of model {mid}; "
                             "a reveal needs an earlier CommitSeed of the same org", 409)
    committed = rnd["commitments"][who.mspid]["commitment"]
    if hashlib.sha256(bytes.fromhex(secret)).hexdigest() != committed:
        raise ChaincodeError(f"commitment: SHA-256 of the secret does not match {who.mspid}'s commitment "
                             f"{committed} to the seed of model {mid}", 403)
    if state["status"] != SUBMITTED:
        raise ChaincodeError(f"state: model {mid} is {state['status']}; its seed round is over", 409)
    if rnd["closed_at"] is None:
        waiting = sorted(set(rnd["members"]) - set(rnd["commitments"]))
        raise ChaincodeError(f"seed: commitments are not fixed yet (waiting for {', '.join(waiting)} to commit); "
                             "reveals open once every member org has committed", 409)
    if who.mspid in rnd["reveals"]:
        raise ChaincodeError(f"once per org: {who.mspid} already revealed its seed for model {mid}", 409)
    check_clock(stub, config.effective(stub)["clock_skew_seconds"])
    rnd["reveals"][who.mspid] = {"secret": secret, "by": by, "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}
    store.put(stub, keys.seed_round(mid), rnd)
    events.emit(stub, events.SEED_REVEALED, _event(rnd, state, who.mspid))
    return rnd


def _event(rnd: dict[str, Any], state: dict[str, Any], mspid: str) -> dict[str, Any]:
    return {"model_id": rnd["model_id"], "submitter": state["submitter"], "mspid": mspid,
            "members": rnd["members"], "committed": sorted(rnd["commitments"]), "revealed": sorted(rnd["reveals"]),
            "closed_at": rnd["closed_at"]}


def draw_seed(secrets: dict[str, str], mid: str) -> bytes:
    """SHA-256(domain ‖ model id ‖ (MSP id ‖ secret) for each revealing org, in MSP order)."""
    parts = [SEED_DOMAIN, mid] + [f"{msp}\x00{secrets[msp]}" for msp in sorted(secrets)]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()


def ready(stub: Stub, state: dict[str, Any], reveal_seconds: int) -> tuple[bytes, dict[str, Any]]:
    """The draw seed and the round's summary, or a 409 ``seed:`` refusal saying what is missing.

    Ready when every member org has committed and revealed; or when ``reveal_seconds`` have passed
    (in this transaction's time, which the peers bound by clock_skew_seconds) since the round
    closed, and an org other than the submitter's has revealed (the others are recorded as
    ``withheld``). With no other member org, the submitter's org's reveal suffices."""
    mid = state["model_id"]
    rnd = load(stub, mid)
    if rnd is None or rnd["closed_at"] is None:
        have = sorted(rnd["commitments"]) if rnd else []
        waiting = sorted(set(rnd["members"] if rnd else member_orgs(stub, state)) - set(have))
        raise ChaincodeError(f"seed: the seed round of model {mid} is open: waiting for {', '.join(waiting)} to "
                             "commit (CommitSeed); the draw needs every member org's commitment", 409)
    committed, revealed = sorted(rnd["commitments"]), sorted(rnd["reveals"])
    withheld = [m for m in committed if m not in rnd["reveals"]]
    if withheld:
        due = rnd["closed_at"] + reveal_seconds
        if stub.tx_timestamp < due:
            raise ChaincodeError(f"seed: waiting for {', '.join(withheld)} to reveal (RevealSeed) until {due} "
                                 f"(transaction time {stub.tx_timestamp})", 409)
        submitter_msp = state["submitter"]["mspid"]
        others = [m for m in rnd["members"] if m != submitter_msp]
        if others and not [m for m in revealed if m != submitter_msp]:
            raise ChaincodeError(f"seed: no org other than the submitter's ({submitter_msp}) revealed; "
                                 f"{', '.join(withheld)} withheld past {due}, and the submitter's org alone "
                                 "may not fix the draw", 409)
        if not revealed:
            raise ChaincodeError(f"seed: no org revealed its seed for model {mid}", 409)
    summary = {
        "members": rnd["members"],
        "commitments": {m: rnd["commitments"][m]["commitment"] for m in committed},
        "reveals": {m: rnd["reveals"][m]["secret"] for m in revealed},
        "withheld": withheld,
        "closed_at": rnd["closed_at"],
    }
    return draw_seed(summary["reveals"], mid), summary


def get_seed_round(stub: Stub) -> dict[str, Any]:
    """GetSeedRound(model_id): the commitments and reveals so far (404 if none)."""
    (text,) = texts(stub.args, "GetSeedRound(model_id)", 1, 1)
    mid = model_id(text)
    require_state(stub, mid)
    rnd = load(stub, mid)
    if rnd is None:
        raise ChaincodeError(f"not found: model {mid} has no seed commitment yet", 404)
    return rnd
