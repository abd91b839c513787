"""The verifier registry: org admins authorize their own org's verifiers; each verifier activates itself.

A verifier is an identity recognised by its certificate fingerprint, bound to one MSP. The
registry (``verifier`` keys) holds only certificates Fabric's MSP has validated for that MSP:
an admin's RegisterVerifier writes an authorization under its own MSP (``verifierauth``), and
the record enters the registry only when the verifier itself sends ActivateVerifier, a
transaction whose creator certificate and MSP the peers have checked. So an admin cannot enrol
another org's certificate, a self-signed one, or anyone without that identity's own consent,
and an authorization squatted by another org never blocks the real owner's (each MSP authorizes
in its own namespace). Only an ACTIVE verifier may vote or assign; suspending one removes it from
future sub-quorums and stops its votes (its pending assignments expire and are re-assigned).
"""
from __future__ import annotations

from typing import Any

from trainproof.chaincode.contract import keys, schemas, store
from trainproof.chaincode.contract.args import fingerprint, json_object, optional_json_object, texts
from trainproof.chaincode.contract.identity import Identity, caller, from_pem, require_admin
from trainproof.chaincode.contract.text import check_text
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

ACTIVE = "ACTIVE"
SUSPENDED = "SUSPENDED"
STATUSES = (ACTIVE, SUSPENDED)
PENDING = "PENDING"  # authorized by its org's admin, not yet activated by the verifier itself
ACTIVATED = "ACTIVATED"  # an authorization that its verifier used
REVOKED = "REVOKED"  # an authorization its admin withdrew before it was used


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
    """RegisterVerifier(json {cert_pem, name, mspid?}) by an MSP admin, for its own MSP only: an
    authorization (PENDING) that the certificate's holder turns into a registry record."""
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
    if not verifier.is_client or verifier.is_admin:
        raise ChaincodeError(f"certificate: {verifier.fingerprint} has OU={','.join(verifier.ous)[:64]}; "
                             "verifiers are client identities (OU=client)", 400)
    if load(stub, verifier.fingerprint) is not None:
        raise ChaincodeError(
            f"duplicate: verifier {verifier.fingerprint} is already registered; use SetVerifierStatus to change it", 409
        )
    earlier = store.get(stub, keys.verifier_authorization(mspid, verifier.fingerprint))
    if earlier is not None and earlier["status"] != REVOKED:  # a revoked one may be authorized again
        raise ChaincodeError(f"duplicate: {mspid} has already authorized verifier {verifier.fingerprint}; "
                             "its holder activates it with ActivateVerifier", 409)
    record = {
        **verifier.ref(),
        "name": request["name"],
        "ous": list(verifier.ous),
        "cert_pem": request["cert_pem"],
        "status": PENDING,
        "reason": None,
        "registered_by": admin.ref(),
        "registered_tx": stub.tx_id,
        "registered_at": stub.tx_timestamp,
        "updated_tx": stub.tx_id,
        "updated_at": stub.tx_timestamp,
    }
    store.put(stub, keys.verifier_authorization(mspid, verifier.fingerprint), record)
    return record


def activate(stub: Stub) -> dict[str, Any]:
    """ActivateVerifier() by the verifier itself: its Fabric-validated creator certificate and MSP
    must match an authorization its own org's admin wrote."""
    texts(stub.args, "ActivateVerifier()", 0, 0)
    who = caller(stub)
    if not who.is_client or who.is_admin:
        raise ChaincodeError(f"role: caller {who.describe()} is not a client identity; verifiers are (OU=client)", 403)
    if load(stub, who.fingerprint) is not None:
        raise ChaincodeError(f"duplicate: verifier {who.fingerprint} is already registered", 409)
    auth_key = keys.verifier_authorization(who.mspid, who.fingerprint)
    authorization = store.get(stub, auth_key)
    if authorization is None or authorization["status"] != PENDING:
        raise ChaincodeError(f"not authorized: no admin of {who.mspid} has authorized {who.describe()} as a "
                             "verifier (RegisterVerifier by your own org's admin comes first)", 403)
    cert_pem = stub.get_creator().cert_pem.decode("utf-8", "replace")
    record = {**authorization, "cert_pem": cert_pem, "status": ACTIVE, "activated_tx": stub.tx_id,
              "activated_at": stub.tx_timestamp, "updated_tx": stub.tx_id, "updated_at": stub.tx_timestamp}
    store.put(stub, auth_key, {**authorization, "status": ACTIVATED, "updated_tx": stub.tx_id,
                               "updated_at": stub.tx_timestamp})
    store.put(stub, keys.verifier(who.fingerprint), record)
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
        return _revoke(stub, admin, fp, status, reason)
    if record["mspid"] != admin.mspid:
        raise ChaincodeError(
            f"own org only: admin of {admin.mspid} cannot change verifier {fp} of {record['mspid']}", 403
        )
    if record["status"] == status:
        raise ChaincodeError(f"no change: verifier {fp} is already {status}", 409)
    record = {**record, "status": status, "reason": reason, "updated_tx": stub.tx_id, "updated_at": stub.tx_timestamp}
    store.put(stub, keys.verifier(fp), record)
    return record


def _revoke(stub: Stub, admin: Identity, fp: str, status: str, reason: str | None) -> dict[str, Any]:
    """SUSPENDED on a certificate its own MSP authorized but that never activated: the
    authorization is withdrawn (REVOKED), so it can no longer be activated."""
    key = keys.verifier_authorization(admin.mspid, fp)
    authorization = store.get(stub, key)
    if authorization is None or authorization["status"] != PENDING or status != SUSPENDED:
        raise ChaincodeError(f"unknown verifier: no verifier is registered with fingerprint {fp}", 404)
    revoked = {**authorization, "status": REVOKED, "reason": reason, "updated_tx": stub.tx_id,
               "updated_at": stub.tx_timestamp}
    store.put(stub, key, revoked)
    return revoked


def list_verifiers(stub: Stub) -> dict[str, Any]:
    """ListVerifiers([json {status?, mspid?}]): every registered verifier, ordered by fingerprint;
    status PENDING lists the authorizations not yet activated instead."""
    args = texts(stub.args, 'ListVerifiers([json: {"status"?, "mspid"?}])', 0, 1)
    filters = optional_json_object(args[0] if args else None, "filter")
    unknown = sorted(set(filters) - {"status", "mspid"})
    if unknown:
        raise ChaincodeError(f"filter: unknown field {unknown[0][:64]!r}; known fields: mspid, status")
    if "status" in filters and filters["status"] not in STATUSES + (PENDING,):
        raise ChaincodeError(f"filter: status must be one of {', '.join(STATUSES + (PENDING,))}")
    if "mspid" in filters and not isinstance(filters["mspid"], str):
        raise ChaincodeError("filter: mspid must be a string")
    if filters.get("status") == PENDING:  # authorizations not yet activated
        found = [a for _, a in store.scan(stub, keys.VERIFIER_AUTH, *([filters["mspid"]] if "mspid" in filters else []))]
        return {"verifiers": [a for a in found if a["status"] == PENDING]}
    rows = [
        v for v in all_verifiers(stub)
        if filters.get("status", v["status"]) == v["status"] and filters.get("mspid", v["mspid"]) == v["mspid"]
    ]
    return {"verifiers": rows}
