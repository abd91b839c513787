"""Data keys of confidential models (issue #18): wrapped to each reader, delivered on the ledger.

A confidential model's submitter seals its dataset and snapshots with fresh data keys
(``trainproof.storage.sealing``); the certificate's ``confidential`` object lists the sealed
artifacts (``limits.py``), whose plaintext hashes stay the commitment a replay checks. The keys
must reach exactly the verifiers assigned to the model, and whoever the submitter chooses.

Why per-reader key wrapping, not Fabric private data collections (the decision taken on #18):
our shim (``chaincode/shim``) implements no private-data calls, and a collection's data sits in
plain text in the private database of every member peer, readable by those peers'
administrators. A key wrapped to a verifier's certificate (``trainproof.confidential.keywrap``:
ephemeral ECDH with the certificate's P-256 key, HKDF bound to the model, the artifact and the
recipient, AES-256-GCM) is readable only by the holder of that certificate's private key,
whoever reads the block. The cost: the submitter, or a key agent of its org, posts the wrapped
keys after the assignment and again after each re-staffing (``IntervalsAssigned`` names the
newcomers; DeliverDataKeys accepts any verifier assigned now).

- ``DeliverDataKeys(model_id, {"keys": {fingerprint: {artifact_sha256: wrapped}}})`` by the
  submitter: each recipient is a verifier assigned now to one of the model's intervals and
  ACTIVE (a suspended one gets no new keys), the verifier checking one of its attestations now
  (an audit's drawn verifier, ACTIVE; it gets the final snapshot's key only, all it recomputes
  with), the submitter itself, or an identity it granted;
  each artifact is one of the model's sealed artifacts, by plaintext SHA-256. One record per
  (model, recipient); a later delivery adds to it (and replaces a key given again).
- ``DeliverDataKeys(model_id, {"keys": …, "child": child_id})``, a lineage delivery: the model's
  final snapshot's key, only that key, to the ACTIVE verifiers checking interval 0 of a child
  that declares the model its parent (they compare the child's snapshot 0 with the parent's final
  weights, ``lineage_seat``). Only while the child is ASSIGNED, only when its snapshot 0 is
  another file (the same file needs no key), and only to a child that the model's submitter or
  one of its grantees submitted: anyone may declare any parent, and a stranger's child must not
  be a way to have the parent's weights opened.
- ``DeliverAttestationKey(attestation_id, {"keys": {fingerprint: {batch sha256: wrapped}}})`` by
  an attestation's attester, for a sealed batch file (``batch.sealed``): its key, to the attester
  itself or to the ACTIVE verifier checking the attestation now (its audit's drawn verifier);
  ``GetAttestationKey(attestation_id)``: the caller's copy, the same two only. The attester may be
  a grantee rather than the model's submitter, so this is its own delivery, not DeliverDataKeys.
- ``GrantAccess(model_id, {"cert_pem" | "fingerprint", "mspid"})`` by the submitter: that
  identity may receive the keys (for ``check --restore``, ``attest``); ``ListGrants`` lists them.
- ``GetDataKeys(model_id[, child_id])``: the caller's own wrapped keys, refused to anyone else;
  with ``child_id``, as a verifier of that child's lineage (the final snapshot's key only).

The wrapped keys are in the blocks anyway, for every channel member to read: GetDataKeys'
refusals are policy (a reader's mistake is told plainly), the encryption is the protection.
The contract cannot see inside a wrapping, so it cannot check that a key was wrapped to the
certificate it is filed under, nor which keys each verifier needs: that is the submitter's
interest (a verifier with a wrong key votes REJECT "unusable submission"), and a submitter
can hand its keys to anyone off the ledger anyway.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from trainproof.chaincode.contract import attestations, config, decisions, events, keys, schemas, store, verifiers
from trainproof.chaincode.contract.args import json_object, model_id, texts
from trainproof.chaincode.contract.identity import Identity, caller, from_pem
from trainproof.chaincode.contract.limits import located
from trainproof.chaincode.contract.models import ASSIGNED, load_certificate, load_state, require_state, seated_intervals
from trainproof.chaincode.contract.text import check_text
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

VERIFIER, SUBMITTER, GRANTEE, AUDITOR, LINEAGE, ATTESTER = ("verifier", "submitter", "grantee", "auditor", "lineage",
                                                            "attester")
# Decoded sizes of a wrapped key's fields (keywrap version 1).
WRAPPED_BYTES = {"epk": 65, "nonce": 12, "ct": 48}


def sealed_artifacts(cert: dict[str, Any]) -> dict[str, str]:
    """The certificate's sealed artifacts: plaintext SHA-256 → what it is ("dataset", "snapshot 3")."""
    return {place.entry["sha256"]: place.what for place in located(cert) if place.sealed}


def _confidential(stub: Stub, mid: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The model's state and sealed artifacts; 409 for a model that has none."""
    state = require_state(stub, mid)
    sealed = sealed_artifacts(load_certificate(stub, mid)["certificate"])
    if not sealed:
        raise ChaincodeError(f"not confidential: model {mid} has no sealed artifacts (its certificate has no "
                             "confidential object); its artifacts are in storage in the clear", 409)
    return state, sealed


def _is_submitter(who: Identity, state: dict[str, Any]) -> bool:
    return who.fingerprint == state["submitter"]["fingerprint"] and who.mspid == state["submitter"]["mspid"]


def _require_submitter(who: Identity, state: dict[str, Any], action: str) -> None:
    if not _is_submitter(who, state):
        raise ChaincodeError(f"role: only the submitter of model {state['model_id']} "
                             f"({state['submitter']['fingerprint']}, {state['submitter']['mspid']}) {action}; "
                             f"caller {who.describe()} is not", 403)


def assigned(stub: Stub, state: dict[str, Any]) -> dict[str, list[int]]:
    """Verifiers assigned now (the current round of each seated interval) → their intervals.
    Verifiers a re-staffing replaced are no longer assigned."""
    out: dict[str, list[int]] = {}
    for i in seated_intervals(state):
        for fp in store.get(stub, keys.interval(state["model_id"], i))["verifiers"]:
            out.setdefault(fp, []).append(i)
    return out


def _grant(stub: Stub, mid: str, fp: str) -> dict[str, Any] | None:
    return store.get(stub, keys.data_grant(mid, fp))


def _submitted_or_granted(stub: Stub, parent: dict[str, Any], who: dict[str, str]) -> bool:
    """Whether ``who`` ({fingerprint, mspid}) is the parent's submitter or an identity it granted access."""
    if who["fingerprint"] == parent["submitter"]["fingerprint"] and who["mspid"] == parent["submitter"]["mspid"]:
        return True
    grant = _grant(stub, parent["model_id"], who["fingerprint"])
    return grant is not None and grant["mspid"] == who["mspid"]


def lineage_seat(stub: Stub, parent: dict[str, Any], child_id: str, fp: str) -> dict[str, Any]:
    """The state of the child whose interval 0 ``fp`` (an ACTIVE verifier) checks now, when the
    parent's final key may go to it for that check; 403, 404 or 409 naming why not (see the
    module's docstring)."""
    mid = parent["model_id"]
    child = load_state(stub, child_id)
    if child is None:
        raise ChaincodeError(f"not found: child model {child_id} does not exist", 404)
    if child["parent_id"] != mid:
        raise ChaincodeError(f"lineage: model {child_id} does not declare model {mid} its parent", 403)
    if child["status"] != ASSIGNED:
        raise ChaincodeError(f"lineage: child {child_id} is {child['status']}; the parent's final key goes to the "
                             "verifiers checking its interval 0 while it is ASSIGNED", 409)
    if not _submitted_or_granted(stub, parent, child["submitter"]):
        raise ChaincodeError(f"lineage: child {child_id} was submitted by {child['submitter']['fingerprint']} "
                             f"({child['submitter']['mspid']}), neither the submitter of model {mid} nor an identity "
                             "it granted access (GrantAccess); its final weights are opened for no one else's child", 403)
    final = load_certificate(stub, mid)["certificate"]["snapshots"][-1]["sha256"]
    if load_certificate(stub, child_id)["certificate"]["snapshots"][0]["sha256"] == final:
        raise ChaincodeError(f"needs no key: child {child_id}'s snapshot 0 is model {mid}'s final snapshot file itself, "
                             "which its verifiers compare by hash", 409)
    seat = store.get(stub, keys.interval(child_id, 0)) if 0 in seated_intervals(child) else None
    if seat is None or decisions.load(stub, child_id, 0) is not None or fp not in seat["verifiers"]:
        raise ChaincodeError(f"recipient: {fp} does not check interval 0 of child {child_id} now (an undecided "
                             "interval's current verifiers do)", 403)
    _require_active(stub, mid, fp)
    return child


def _require_active(stub: Stub, mid: str, fp: str) -> None:
    record = verifiers.load(stub, fp)
    if record is None or record["status"] != verifiers.ACTIVE:
        status = "unregistered" if record is None else record["status"]
        raise ChaincodeError(f"recipient: verifier {fp} is {status}; a verifier that is not ACTIVE gets no new "
                             f"keys of model {mid}", 403)


def _recipient_role(stub: Stub, state: dict[str, Any], now_assigned: dict[str, list[int]], fp: str) -> str:
    """Why ``fp`` may receive the model's keys; 403 naming it if it may not."""
    mid = state["model_id"]
    if fp == state["submitter"]["fingerprint"]:
        return SUBMITTER
    if _grant(stub, mid, fp) is not None:
        return GRANTEE
    role = VERIFIER if fp in now_assigned else AUDITOR if attestations.audited_by(stub, mid, fp) else None
    if role is None:
        raise ChaincodeError(f"recipient: {fp} is neither a verifier assigned now to an interval of model {mid} or "
                             "checking one of its attestations, nor its submitter, nor an identity it granted access "
                             "(GrantAccess)", 403)
    _require_active(stub, mid, fp)
    return role


def _check_wrapped(recipient: str, sha: str, wrapped: dict[str, Any]) -> None:
    """The schema fixed the fields; here: canonical base64 of the right sizes, a point on P-256."""
    where = f"keys/{recipient[:16]}…/{sha[:16]}…"
    decoded = {}
    for field, size in WRAPPED_BYTES.items():
        try:
            data = base64.b64decode(wrapped[field], validate=True)
        except (binascii.Error, ValueError):
            raise ChaincodeError(f"wrapped key: {where}: {field} is not base64") from None
        if len(data) != size or base64.b64encode(data).decode("ascii") != wrapped[field]:
            raise ChaincodeError(f"wrapped key: {where}: {field} is not the canonical base64 of {size} bytes")
        decoded[field] = data
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decoded["epk"])
    except ValueError:
        raise ChaincodeError(f"wrapped key: {where}: epk is not an uncompressed point on P-256") from None


def deliver(stub: Stub) -> dict[str, Any]:
    """DeliverDataKeys(model_id, json {"keys": {recipient fingerprint: {artifact sha256: wrapped}}, "child"?})."""
    usage = "DeliverDataKeys(model_id, json: {\"keys\": {fingerprint: {artifact_sha256: wrapped}}, \"child\"?})"
    mid_text, body_text = texts(stub.args, usage, 2, 2)
    mid = model_id(mid_text)
    who = caller(stub)
    state, sealed = _confidential(stub, mid)
    _require_submitter(who, state, "delivers its data keys")
    body = json_object(body_text, "delivery")
    schemas.validate(schemas.DATA_KEYS, body)
    child = body.get("child")
    now_assigned = {} if child else assigned(stub, state)
    final = load_certificate(stub, mid)["certificate"]["snapshots"][-1]["sha256"]
    roles = {}
    for fp, wrapped_keys in sorted(body["keys"].items()):
        if child:
            lineage_seat(stub, state, child, fp)
            roles[fp] = LINEAGE
        else:
            roles[fp] = _recipient_role(stub, state, now_assigned, fp)
        for sha, wrapped in sorted(wrapped_keys.items()):
            if sha not in sealed:
                raise ChaincodeError(f"artifact: {sha} is not the plaintext sha256 of one of model {mid}'s "
                                     f"{len(sealed)} sealed artifact(s) (its certificate's confidential object)")
            if roles[fp] in (AUDITOR, LINEAGE) and sha != final:
                why = "checks an attestation" if roles[fp] == AUDITOR else f"checks the lineage of child {child}"
                raise ChaincodeError(f"artifact: {fp} {why} of model {mid}, which needs the final snapshot's key "
                                     f"({final}) only, not {sealed[sha]}'s", 403)
            _check_wrapped(fp, sha, wrapped)
    delivered = []
    for fp, wrapped_keys in sorted(body["keys"].items()):
        before = store.get(stub, keys.data_keys(mid, fp))
        record = {
            "model_id": mid,
            "recipient": fp,
            "role": roles[fp],
            "keys": {**(before or {}).get("keys", {}), **wrapped_keys},
            "first_tx": (before or {}).get("first_tx", stub.tx_id),
            "delivered_tx": stub.tx_id,
            "delivered_at": stub.tx_timestamp,
            "deliveries": (before or {}).get("deliveries", 0) + 1,
        } | ({"child": child} if child else {})
        store.put(stub, keys.data_keys(mid, fp), record)
        delivered.append({"fingerprint": fp, "role": roles[fp], "artifacts": len(wrapped_keys),
                          "intervals": [0] if child else now_assigned.get(fp, []),
                          "missing": len(set(sealed) - set(record["keys"]))}
                         | ({"attestations": attestations.audited_by(stub, mid, fp)} if roles[fp] == AUDITOR else {}))
    payload = {"model_id": mid, "submitter": state["submitter"], "recipients": delivered} | \
        ({"child": child} if child else {})
    events.emit(stub, events.DATA_KEYS_DELIVERED, payload)
    return payload


def _lineage_keys(stub: Stub, state: dict[str, Any], child_id: str, who: Identity) -> dict[str, Any]:
    """GetDataKeys(model_id, child_id): a verifier of the child's lineage gets the final snapshot's key."""
    mid, fp = state["model_id"], who.fingerprint
    registered = verifiers.load(stub, fp)
    if registered is None or registered["mspid"] != who.mspid:
        raise ChaincodeError(f"role: caller {who.describe()} is not a registered verifier; lineage keys go to the "
                             f"verifiers checking interval 0 of model {mid}'s child", 403)
    lineage_seat(stub, state, child_id, fp)
    final = load_certificate(stub, mid)["certificate"]["snapshots"][-1]["sha256"]
    record = store.get(stub, keys.data_keys(mid, fp))
    if record is None or final not in record["keys"]:
        raise ChaincodeError(f"not delivered yet: model {mid}'s submitter delivers its final snapshot's key to the "
                             f"verifiers of child {child_id}'s interval 0 (`trainproof keys agent`); none for {fp} yet", 404)
    return {"model_id": mid, "recipient": fp, "role": LINEAGE, "child": child_id, "keys": {final: record["keys"][final]},
            "missing": [], "delivered_tx": record["delivered_tx"], "delivered_at": record["delivered_at"]}


def get_data_keys(stub: Stub) -> dict[str, Any]:
    """GetDataKeys(model_id[, child_id]): the caller's own wrapped keys, with what it is to the model
    and which sealed artifacts it has no key for yet; with ``child_id``, the final snapshot's key
    delivered to this verifier of the child's lineage."""
    args = texts(stub.args, "GetDataKeys(model_id[, child_id])", 1, 2)
    mid = model_id(args[0])
    who = caller(stub)
    state, sealed = _confidential(stub, mid)
    if who.is_admin:
        raise ChaincodeError(f"role: caller {who.describe()} is an MSP admin; data keys go to the assigned verifiers, "
                             "the submitter and the identities it granted, never to an org's admin", 403)
    if len(args) == 2:
        return _lineage_keys(stub, state, model_id(args[1]), who)
    fp, extra = who.fingerprint, {}
    grant = _grant(stub, mid, fp)
    registered = verifiers.load(stub, fp)
    now_assigned = assigned(stub, state)
    if _is_submitter(who, state):
        role = SUBMITTER
    elif grant is not None and grant["mspid"] == who.mspid:
        role, extra = GRANTEE, {"grant": grant}
    elif registered is not None and registered["mspid"] == who.mspid:
        audits = [] if fp in now_assigned else attestations.audited_by(stub, mid, fp)
        if fp not in now_assigned and not audits:
            when = "it is not assigned yet" if state["selected"] is None else "no interval of it is assigned to you now"
            raise ChaincodeError(f"not assigned: verifier {fp} is not assigned to model {mid} ({when}) and checks none "
                                 "of its attestations; keys go to the verifiers assigned now", 403)
        if registered["status"] != verifiers.ACTIVE:
            raise ChaincodeError(f"role: verifier {who.describe()} is {registered['status']}; only ACTIVE verifiers "
                                 "receive data keys", 403)
        role, extra = (VERIFIER, {"intervals": now_assigned[fp]}) if fp in now_assigned else \
            (AUDITOR, {"attestations": audits})
    else:
        raise ChaincodeError(f"not granted: caller {who.describe()} is neither the submitter of model {mid}, nor a "
                             "verifier assigned to it, nor granted access by its submitter (GrantAccess)", 403)
    record = store.get(stub, keys.data_keys(mid, fp))
    if record is None:
        after = "after assignment" if role == VERIFIER else "to the identities it granted"
        raise ChaincodeError(f"not delivered yet: the submitter delivers keys {after}; none for {fp} on model {mid} "
                             "yet (DataKeysDelivered events announce deliveries)", 404)
    return {"model_id": mid, "recipient": fp, "role": role, "keys": record["keys"],
            "missing": sorted(set(sealed) - set(record["keys"])), "delivered_tx": record["delivered_tx"],
            "delivered_at": record["delivered_at"], **extra}


def grant_access(stub: Stub) -> dict[str, Any]:
    """GrantAccess(model_id, json {"cert_pem" | "fingerprint", "mspid", "note"?}) by the submitter."""
    usage = "GrantAccess(model_id, json: {\"cert_pem\" or \"fingerprint\", \"mspid\", \"note\"?})"
    mid_text, body_text = texts(stub.args, usage, 2, 2)
    mid = model_id(mid_text)
    who = caller(stub)
    state, _ = _confidential(stub, mid)
    _require_submitter(who, state, "grants access to its data keys")
    body = json_object(body_text, "grant")
    schemas.validate(schemas.DATA_GRANT, body)
    check_text("grant/mspid", body["mspid"])  # the PEM is parsed below; its line breaks are its format
    check_text("grant/note", body.get("note"))
    mspid = body["mspid"]
    if mspid not in config.members():
        raise ChaincodeError(f"grant: {mspid[:128]!r} is not a member org of this network "
                             f"({', '.join(config.members())})")
    if "cert_pem" in body:
        grantee = from_pem(mspid, body["cert_pem"].encode("utf-8"), "grant: cert_pem")
        if grantee.is_admin:
            raise ChaincodeError(f"grant: {grantee.describe()} is an MSP admin (OU=admin); grant a client identity")
        fp, common_name = grantee.fingerprint, grantee.common_name
    else:
        fp, common_name = body["fingerprint"], None
    if fp == state["submitter"]["fingerprint"]:
        raise ChaincodeError(f"grant: {fp} is the submitter, which needs no grant", 409)
    if _grant(stub, mid, fp) is not None:
        raise ChaincodeError(f"duplicate: {fp} is already granted access to model {mid}'s keys", 409)
    record = {"model_id": mid, "fingerprint": fp, "mspid": mspid, "common_name": common_name,
              "cert_pem": body.get("cert_pem"), "note": body.get("note"), "granted_by": who.ref(),
              "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}
    store.put(stub, keys.data_grant(mid, fp), record)
    events.emit(stub, events.ACCESS_GRANTED, {"model_id": mid, "submitter": state["submitter"],
                                              "grantee": {"fingerprint": fp, "mspid": mspid,
                                                          "common_name": common_name},
                                              "has_cert": "cert_pem" in body})
    return record


def list_grants(stub: Stub) -> dict[str, Any]:
    """ListGrants(model_id): the identities the submitter granted its keys (public: the grants are in
    the blocks), ``[]`` for a model that is not confidential."""
    (text,) = texts(stub.args, "ListGrants(model_id)", 1, 1)
    mid = model_id(text)
    require_state(stub, mid)
    sealed = sealed_artifacts(load_certificate(stub, mid)["certificate"])
    return {"model_id": mid, "confidential": bool(sealed),
            "grants": [record for _, record in store.scan(stub, keys.DATA_GRANT, mid)]}


def _sealed_attestation(stub: Stub, aid: str) -> dict[str, Any]:
    """The attestation's record; 409 when its batch file is stored in the clear (no key to give)."""
    record = attestations.require(stub, aid)
    if "sealed" not in record["batch"]:
        raise ChaincodeError(f"not sealed: attestation {aid}'s batch file is stored in the clear and has no key", 409)
    return record


def _is_attester(who: Identity, record: dict[str, Any]) -> bool:
    return who.fingerprint == record["attester"]["fingerprint"] and who.mspid == record["attester"]["mspid"]


def deliver_attestation_key(stub: Stub) -> dict[str, Any]:
    """DeliverAttestationKey(attestation_id, json {"keys": {fingerprint: {batch sha256: wrapped}}}) by the attester."""
    usage = "DeliverAttestationKey(attestation_id, json: {\"keys\": {fingerprint: {batch_sha256: wrapped}}})"
    aid_text, body_text = texts(stub.args, usage, 2, 2)
    aid = attestations.attestation_id(aid_text)
    who = caller(stub)
    record = _sealed_attestation(stub, aid)
    if not _is_attester(who, record):
        raise ChaincodeError(f"role: only the attester of attestation {aid} ({record['attester']['fingerprint']}, "
                             f"{record['attester']['mspid']}) delivers its batch file's key; caller {who.describe()} "
                             "is not", 403)
    body = json_object(body_text, "delivery")
    schemas.validate(schemas.DATA_KEYS, body)
    if "child" in body:
        raise ChaincodeError("delivery: child names a model's child for its lineage check; an attestation has none")
    batch, checking = record["batch"]["sha256"], attestations.auditor(record["audit"])
    roles = {}
    for fp, wrapped_keys in sorted(body["keys"].items()):
        if fp == record["attester"]["fingerprint"]:
            roles[fp] = ATTESTER
        elif fp == checking:
            _require_active(stub, record["model_id"], fp)
            roles[fp] = AUDITOR
        else:
            raise ChaincodeError(f"recipient: {fp} is neither the attester nor the verifier checking attestation "
                                 f"{aid} now (its audit is {record['audit']['state']})", 403)
        for sha, wrapped in sorted(wrapped_keys.items()):
            if sha != batch:
                raise ChaincodeError(f"artifact: {sha} is not the plaintext sha256 of attestation {aid}'s batch file "
                                     f"({batch}), the one key it has")
            _check_wrapped(fp, sha, wrapped)
    for fp, wrapped_keys in sorted(body["keys"].items()):
        store.put(stub, keys.attestation_key(aid, fp), {
            "attestation_id": aid, "model_id": record["model_id"], "recipient": fp, "role": roles[fp],
            "keys": wrapped_keys, "delivered_tx": stub.tx_id, "delivered_at": stub.tx_timestamp})
    payload = {"attestation_id": aid, "model_id": record["model_id"], "submitter": record["attester"],
               "recipients": [{"fingerprint": fp, "role": roles[fp], "artifacts": 1} for fp in sorted(roles)]}
    events.emit(stub, events.DATA_KEYS_DELIVERED, payload)
    return payload


def get_attestation_key(stub: Stub) -> dict[str, Any]:
    """GetAttestationKey(attestation_id): the caller's copy of a sealed batch file's key, the
    attester's or the auditor's while it checks."""
    (text,) = texts(stub.args, "GetAttestationKey(attestation_id)", 1, 1)
    aid = attestations.attestation_id(text)
    who = caller(stub)
    record = _sealed_attestation(stub, aid)
    fp = who.fingerprint
    if who.is_admin:
        raise ChaincodeError(f"role: caller {who.describe()} is an MSP admin; a batch file's key goes to its attester "
                             "and its auditor only", 403)
    if _is_attester(who, record):
        role = ATTESTER
    else:
        registered = verifiers.load(stub, fp)
        if fp != attestations.auditor(record["audit"]) or registered is None or registered["mspid"] != who.mspid:
            raise ChaincodeError(f"not auditing: caller {who.describe()} is neither the attester of attestation {aid} "
                                 f"nor the verifier checking it now (its audit is {record['audit']['state']})", 403)
        _require_active(stub, record["model_id"], fp)
        role = AUDITOR
    delivered = store.get(stub, keys.attestation_key(aid, fp))
    if delivered is None:
        raise ChaincodeError(f"not delivered yet: attestation {aid}'s attester delivers its batch file's key to the "
                             f"verifier its audit draws (`trainproof keys agent`); none for {fp} yet", 404)
    return {"attestation_id": aid, "model_id": record["model_id"], "recipient": fp, "role": role,
            "keys": delivered["keys"], "delivered_tx": delivered["delivered_tx"],
            "delivered_at": delivered["delivered_at"]}
