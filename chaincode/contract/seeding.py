"""CommitSeed and RevealSeed: the draw's randomness, fixed by every member org before anyone knows it.

A seed round belongs to a *subject*: a model (its draw picks the intervals to re-execute and
their verifiers) or an attestation (its draw decides whether a verifier recomputes the attested
outputs, attestations.py). Each member org commits SHA-256(secret) to the round (``CommitSeed``), then, once
every member org has committed (the commitments are fixed), reveals the secret
(``RevealSeed``); a reveal must hash to its org's commitment. The draw seed is
SHA-256(domain ‖ subject id ‖ each revealing org's MSP id and secret, in MSP order): it is known to
nobody until the last reveal, and nobody can change its own contribution after seeing another's.
A reveal withheld for ``seed_reveal_seconds`` after the round closed is skipped, provided an org
other than the submitter's revealed; the withholding org is recorded. Argument and limits:
ASSIGNMENT.md.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from trainproof.chaincode.contract import config, events, keys, store, verifiers
from trainproof.chaincode.contract.args import HEX64_RE, UUID_RE, texts
from trainproof.chaincode.contract.clock import check_clock
from trainproof.chaincode.contract.identity import Identity, caller
from trainproof.chaincode.contract.models import SUBMITTED, require_state
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

SEED_DOMAIN = "trainproof/assign/v2"
HEX64 = re.compile(r"[0-9a-f]{64}")
AWAITING_DRAW = "AWAITING_DRAW"  # an attestation whose audit draw is not made yet (attestations.py)


@dataclass(frozen=True)
class Subject:
    """What a seed round is for. ``submitter`` is the party the draw must be hidden from (the
    model's submitter, the attestation's attester); ``open`` says whether seeds are still taken."""

    id: str
    kind: str  # "model" | "attestation"
    submitter: dict[str, Any]
    open: bool
    status: str
    model_id: str

    @classmethod
    def of_model(cls, state: dict[str, Any]) -> Subject:
        return cls(state["model_id"], "model", state["submitter"], state["status"] == SUBMITTED, state["status"],
                   state["model_id"])

    @classmethod
    def of_attestation(cls, record: dict[str, Any]) -> Subject:
        status = record["audit"]["state"]
        return cls(record["attestation_id"], "attestation", record["attester"], status == AWAITING_DRAW, status,
                   record["model_id"])

    def closed_reason(self) -> str:
        if self.kind == "model":
            return f"model {self.id} is {self.status}; seeds are committed while it is SUBMITTED"
        return f"attestation {self.id} is {self.status}; seeds are committed while it is {AWAITING_DRAW}"


def subject(stub: Stub, text: str) -> Subject:
    """The model (a UUID) or the attestation (its 64-hex id) ``text`` names; 404 if unknown."""
    if UUID_RE.fullmatch(text):
        return Subject.of_model(require_state(stub, text))
    if HEX64_RE.fullmatch(text):
        record = store.get(stub, keys.attestation(text))
        if record is None:
            raise ChaincodeError(f"unknown attestation: no attestation {text} has been recorded", 404)
        return Subject.of_attestation(record)
    raise ChaincodeError(f"subject: {text[:80]!r} is neither a model id (a lowercase UUID) nor an attestation id "
                         "(64 lowercase hex digits)")


def member_orgs(stub: Stub, sub: Subject) -> list[str]:
    """The orgs that take part in a seed round: the consortium's members (the chaincode
    server's ``--members``), or, where none are configured, the orgs of active verifiers and the
    submitter's."""
    found = config.members()
    if found:
        return found
    return sorted({v["mspid"] for v in verifiers.active(stub)} | {sub.submitter["mspid"]})


def _hex64(text: str, what: str) -> str:
    if not HEX64.fullmatch(text):
        raise ChaincodeError(f"seed: {what} must be 64 lowercase hex digits (32 bytes), got {text[:80]!r}", 400)
    return text


def _participant(stub: Stub, who: Identity, sub: Subject, orgs: list[str]) -> dict[str, Any]:
    """An MSP admin or active verifier of a member org, never the submitter itself."""
    is_verifier = verifiers.active_record(stub, who) is not None
    if not (who.is_admin or is_verifier):
        raise ChaincodeError(
            f"role: caller {who.describe()} is neither an MSP admin nor an active registered verifier", 403)
    if who.fingerprint == sub.submitter["fingerprint"]:
        raise ChaincodeError(f"independence: caller {who.fingerprint} {'submitted' if sub.kind == 'model' else 'attested'} "
                             f"{sub.kind} {sub.id} and takes no part in its seed round", 403)
    if who.mspid not in orgs:
        raise ChaincodeError(f"membership: {who.mspid} is not a member org ({', '.join(orgs)})", 403)
    return {**who.ref(), "role": "verifier" if is_verifier else "admin"}


def load(stub: Stub, subject_id: str) -> dict[str, Any] | None:
    return store.get(stub, keys.seed_round(subject_id))


def _new_round(sub: Subject, orgs: list[str]) -> dict[str, Any]:
    rnd: dict[str, Any] = {"model_id": sub.model_id, "members": orgs, "commitments": {}, "reveals": {}, "closed_at": None}
    if sub.kind == "attestation":
        rnd["attestation_id"] = sub.id
    return rnd


def commit(stub: Stub) -> dict[str, Any]:
    """CommitSeed(subject_id, commitment): this org's SHA-256(secret), once per org while the
    subject is open (a SUBMITTED model, an attestation AWAITING_DRAW)."""
    sid, commitment = texts(stub.args, "CommitSeed(model_id | attestation_id, commitment)", 2, 2)
    sub = subject(stub, sid)
    commitment = _hex64(commitment, "the commitment")
    who = caller(stub)
    orgs = member_orgs(stub, sub)
    by = _participant(stub, who, sub, orgs)
    if not sub.open:
        raise ChaincodeError(f"state: {sub.closed_reason()}", 409)
    check_clock(stub, config.effective(stub)["clock_skew_seconds"])
    rnd = load(stub, sid) or _new_round(sub, orgs)
    if who.mspid in rnd["commitments"]:
        raise ChaincodeError(f"once per org: {who.mspid} already committed to the seed of {sub.kind} {sid} "
                             f"(transaction {rnd['commitments'][who.mspid]['tx_id']})", 409)
    rnd["commitments"][who.mspid] = {"commitment": commitment, "by": by, "tx_id": stub.tx_id,
                                     "timestamp": stub.tx_timestamp}
    if set(rnd["members"]) <= set(rnd["commitments"]):
        rnd["closed_at"] = stub.tx_timestamp  # every member committed: the commitments are fixed, reveals open
    store.put(stub, keys.seed_round(sid), rnd)
    events.emit(stub, events.SEED_COMMITTED, _event(rnd, sub, who.mspid))
    return rnd


def reveal(stub: Stub) -> dict[str, Any]:
    """RevealSeed(subject_id, secret): this org's secret, which must hash to its commitment; only
    once every member org has committed, once per org, while the subject is open."""
    sid, secret = texts(stub.args, "RevealSeed(model_id | attestation_id, secret)", 2, 2)
    sub = subject(stub, sid)
    secret = _hex64(secret, "the secret")
    who = caller(stub)
    rnd = load(stub, sid)
    by = _participant(stub, who, sub, rnd["members"] if rnd else member_orgs(stub, sub))
    if rnd is None or who.mspid not in rnd["commitments"]:
        raise ChaincodeError(f"commitment: {who.mspid} has not committed to the seed of {sub.kind} {sid}; "
                             "a reveal needs an earlier CommitSeed of the same org", 409)
    committed = rnd["commitments"][who.mspid]["commitment"]
    if hashlib.sha256(bytes.fromhex(secret)).hexdigest() != committed:
        raise ChaincodeError(f"commitment: SHA-256 of the secret does not match {who.mspid}'s commitment "
                             f"{committed} to the seed of {sub.kind} {sid}", 403)
    if not sub.open:
        raise ChaincodeError(f"state: {sub.closed_reason()}; its seed round is over", 409)
    if rnd["closed_at"] is None:
        waiting = sorted(set(rnd["members"]) - set(rnd["commitments"]))
        raise ChaincodeError(f"seed: commitments are not fixed yet (waiting for {', '.join(waiting)} to commit); "
                             "reveals open once every member org has committed", 409)
    if who.mspid in rnd["reveals"]:
        raise ChaincodeError(f"once per org: {who.mspid} already revealed its seed for {sub.kind} {sid}", 409)
    check_clock(stub, config.effective(stub)["clock_skew_seconds"])
    rnd["reveals"][who.mspid] = {"secret": secret, "by": by, "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}
    store.put(stub, keys.seed_round(sid), rnd)
    events.emit(stub, events.SEED_REVEALED, _event(rnd, sub, who.mspid))
    return rnd


def _event(rnd: dict[str, Any], sub: Subject, mspid: str) -> dict[str, Any]:
    """An attestation's round events carry ``attestation_id``: that is how a listener tells them apart."""
    extra = {"attestation_id": sub.id} if sub.kind == "attestation" else {}
    return {"model_id": rnd["model_id"], **extra, "submitter": sub.submitter, "mspid": mspid,
            "members": rnd["members"], "committed": sorted(rnd["commitments"]), "revealed": sorted(rnd["reveals"]),
            "closed_at": rnd["closed_at"]}


def draw_seed(secrets: dict[str, str], subject_id: str) -> bytes:
    """SHA-256(domain ‖ subject id ‖ (MSP id ‖ secret) for each revealing org, in MSP order)."""
    parts = [SEED_DOMAIN, subject_id] + [f"{msp}\x00{secrets[msp]}" for msp in sorted(secrets)]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()


def ready(stub: Stub, sub: Subject, reveal_seconds: int) -> tuple[bytes, dict[str, Any]]:
    """The draw seed and the round's summary, or a 409 ``seed:`` refusal saying what is missing.

    Ready when every member org has committed and revealed; or when ``reveal_seconds`` have passed
    (in this transaction's time, which the peers bound by clock_skew_seconds) since the round
    closed, and an org other than the submitter's has revealed (the others are recorded as
    ``withheld``). With no other member org, the submitter's org's reveal suffices."""
    sid = sub.id
    rnd = load(stub, sid)
    if rnd is None or rnd["closed_at"] is None:
        have = sorted(rnd["commitments"]) if rnd else []
        waiting = sorted(set(rnd["members"] if rnd else member_orgs(stub, sub)) - set(have))
        raise ChaincodeError(f"seed: the seed round of {sub.kind} {sid} is open: waiting for {', '.join(waiting)} to "
                             "commit (CommitSeed); the draw needs every member org's commitment", 409)
    committed, revealed = sorted(rnd["commitments"]), sorted(rnd["reveals"])
    withheld = [m for m in committed if m not in rnd["reveals"]]
    if withheld:
        due = rnd["closed_at"] + reveal_seconds
        if stub.tx_timestamp < due:
            raise ChaincodeError(f"seed: waiting for {', '.join(withheld)} to reveal (RevealSeed) until {due} "
                                 f"(transaction time {stub.tx_timestamp})", 409)
        submitter_msp = sub.submitter["mspid"]
        others = [m for m in rnd["members"] if m != submitter_msp]
        if others and not [m for m in revealed if m != submitter_msp]:
            raise ChaincodeError(f"seed: no org other than the submitter's ({submitter_msp}) revealed; "
                                 f"{', '.join(withheld)} withheld past {due}, and the submitter's org alone "
                                 "may not fix the draw", 409)
        if not revealed:
            raise ChaincodeError(f"seed: no org revealed its seed for {sub.kind} {sid}", 409)
    summary = {
        "members": rnd["members"],
        "commitments": {m: rnd["commitments"][m]["commitment"] for m in committed},
        "reveals": {m: rnd["reveals"][m]["secret"] for m in revealed},
        "withheld": withheld,
        "closed_at": rnd["closed_at"],
    }
    return draw_seed(summary["reveals"], sid), summary


def get_seed_round(stub: Stub) -> dict[str, Any]:
    """GetSeedRound(model_id | attestation_id): the commitments and reveals so far (404 if none)."""
    (text,) = texts(stub.args, "GetSeedRound(model_id | attestation_id)", 1, 1)
    sub = subject(stub, text)
    rnd = load(stub, sub.id)
    if rnd is None:
        raise ChaincodeError(f"not found: {sub.kind} {sub.id} has no seed commitment yet", 404)
    return rnd
