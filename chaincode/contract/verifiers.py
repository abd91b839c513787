"""The verifier registry: org admins register their own org's verifiers and suspend them.

A verifier is an identity recognised by its certificate fingerprint, bound to one MSP. Only an
ACTIVE verifier may vote or assign; suspending one removes it from future sub-quorums and stops
its votes (its pending assignments expire and are re-assigned).
"""
from __future__ import annotations

from typing import Any

from chaincode.contract import keys, schemas, store
from chaincode.contract.args import fingerprint, json_object, optional_json_object, texts
from chaincode.contract.identity import Identity, caller, from_pem, require_admin
from chaincode.contract.text import check_text
from chaincode.shim.stub import ChaincodeError, Stub

ACTIVE = "ACTIVE"
SUSPENDED = "SUSPENDED"
STATUSES = (ACTIVE, SUSPENDED)


def load(stub: Stub, fp: str) -> dict[str, Any] | None:
    return store.get(stub, keys.verifier(fp))


def all_verifiers(stub: Stub) -> list[dict[str, Any]]:
    return [record for _, record in store.scan(stub, keys.VERIFIER)]


def active(stub: Stub) -> list[dict[str, Any]]:
    """Active verifiers, ordered by fingerprint (key order), for deterministic selection."""
    return [v for v in all_verifiers(stub) if v["status"] == ACTIVE]


def active_record(stub: Stub, who: Identity) -> dict[str, Any] | None:
    """The caller's verifier record if it is registered, active and signing for its own MSP."""
    record = load(stub, who.fingerprint)
    if record is None or record["status"] != ACTIVE or record["mspid"] != who.mspid:
        return None
    return record


def require_active(stub: Stub, who: Identity) -> dict[str, Any]:
    record = load(stub, who.fingerprint)
    if record is None:
        raise ChaincodeError(f"role: caller {who.describe()} is not a registered verifier", 403)
    if record["mspid"] != who.mspid:
        raise ChaincodeError(f"role: verifier {who.fingerprint} is registered for {record['mspid']}, not {who.mspid}", 403)
    if record["status"] != ACTIVE:
        raise ChaincodeError(f"role: verifier {who.describe()} is {record['status']}, only ACTIVE verifiers may act", 403)
    return record


def register(stub: Stub) -> dict[str, Any]:
    """RegisterVerifier(json {cert_pem, name, mspid?}) by an MSP admin, for its own MSP only."""
    (text,) = texts(stub.args, 'RegisterVerifier(json: {"cert_pem", "name", "mspid"?})', 1, 1)
    admin = caller(stub)
    require_admin(admin)
    request = json_object(text, "registration")
    schemas.validate(schemas.VERIFIER_REGISTRATION, request)
    check_text("name", request["name"])
    mspid = request.get("mspid", admin.mspid)
    if mspid != admin.mspid:
        raise ChaincodeError(
            f"own org only: admin of {admin.mspid} cannot register a verifier of {mspid[:128]}; "
            "an admin registers only its own org's verifiers", 403
        )
    verifier = from_pem(mspid, request["cert_pem"].encode("utf-8"), "cert_pem")
    if load(stub, verifier.fingerprint) is not None:
        raise ChaincodeError(
            f"duplicate: verifier {verifier.fingerprint} is already registered; use SetVerifierStatus to change it", 409
        )
    record = {
        **verifier.ref(),
        "name": request["name"],
        "ous": list(verifier.ous),
        "cert_pem": request["cert_pem"],
        "status": ACTIVE,
        "reason": None,
        "registered_by": admin.ref(),
        "registered_tx": stub.tx_id,
        "registered_at": stub.tx_timestamp,
        "updated_tx": stub.tx_id,
        "updated_at": stub.tx_timestamp,
    }
    store.put(stub, keys.verifier(verifier.fingerprint), record)
    return record


def set_status(stub: Stub) -> dict[str, Any]:
    """SetVerifierStatus(fingerprint, ACTIVE|SUSPENDED[, reason]) by an admin of the verifier's MSP."""
    args = texts(stub.args, "SetVerifierStatus(fingerprint, ACTIVE|SUSPENDED[, reason])", 2, 3)
    admin = caller(stub)
    require_admin(admin)
    fp, status = fingerprint(args[0]), args[1]
    reason = args[2] if len(args) == 3 else None
    if status not in STATUSES:
        raise ChaincodeError(f"status: {status[:32]!r} is not one of {', '.join(STATUSES)}")
    if reason is not None and len(reason) > 2048:
        raise ChaincodeError("reason: longer than 2048 characters")
    check_text("reason", reason)
    record = load(stub, fp)
    if record is None:
        raise ChaincodeError(f"unknown verifier: no verifier is registered with fingerprint {fp}", 404)
    if record["mspid"] != admin.mspid:
        raise ChaincodeError(
            f"own org only: admin of {admin.mspid} cannot change verifier {fp} of {record['mspid']}", 403
        )
    if record["status"] == status:
        raise ChaincodeError(f"no change: verifier {fp} is already {status}", 409)
    record = {**record, "status": status, "reason": reason, "updated_tx": stub.tx_id, "updated_at": stub.tx_timestamp}
    store.put(stub, keys.verifier(fp), record)
    return record


def list_verifiers(stub: Stub) -> dict[str, Any]:
    """ListVerifiers([json {status?, mspid?}]): every verifier, ordered by fingerprint."""
    args = texts(stub.args, 'ListVerifiers([json: {"status"?, "mspid"?}])', 0, 1)
    filters = optional_json_object(args[0] if args else None, "filter")
    unknown = sorted(set(filters) - {"status", "mspid"})
    if unknown:
        raise ChaincodeError(f"filter: unknown field {unknown[0][:64]!r}; known fields: mspid, status")
    if "status" in filters and filters["status"] not in STATUSES:
        raise ChaincodeError(f"filter: status must be one of {', '.join(STATUSES)}")
    if "mspid" in filters and not isinstance(filters["mspid"], str):
        raise ChaincodeError("filter: mspid must be a string")
    rows = [
        v for v in all_verifiers(stub)
        if filters.get("status", v["status"]) == v["status"] and filters.get("mspid", v["mspid"]) == v["mspid"]
    ]
    return {"verifiers": rows}
