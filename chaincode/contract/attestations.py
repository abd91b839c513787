"""AttestOutput and its spot check: a signed record that outputs came from a VERIFIED model.

Ghovanlooy Ghajar et al. end their design with "a smart contract that verifies and signs the
output based on the model's data stored in the blockchain". Here the signature is Fabric's: the
committed AttestOutput transaction, endorsed by every member org's peer, says that this contract
found the model VERIFIED and the weights its final snapshot, and recorded the outputs' hashes.

What the contract cannot see is the forward pass itself, so an attester could record outputs
the model never gave. Hence the spot check, like the interval audit:

1. ``AttestOutput`` records the batch (one Merkle root over every (input, output) pair, RFC 6962,
   ``trainproof.attestation.merkle``; the batch file with inputs and claimed outputs in the
   network's storage) in state AWAITING_DRAW.
2. Every member org commits and reveals a secret for it (``CommitSeed``/``RevealSeed``, seeding.py):
   nobody, the attester included, knows the draw before its transaction committed.
3. ``AuditAttestation`` draws: with probability ``attest_audit_fraction`` (frozen in the record) the
   attestation is AUDITING and one active verifier is assigned, from another org than the
   attester's whenever one exists; otherwise NOT_SAMPLED. Sent again past the deadline, it
   re-staffs (``max_reassignments`` times, then UNCHECKED).
4. ``ConfirmAttestation`` by that verifier: CONFIRMED (its recomputed outputs are the attested ones,
   bit for bit, or within its stated tolerance when its execution differs) or DISPUTED, with its
   own output root. A DISPUTED attestation stays on the ledger and says so wherever it is shown.

A batch file may be stored sealed (``batch.sealed``): its attester keeps the key and delivers it,
wrapped, to the verifier its audit draws (``DeliverAttestationKey``, datakeys.py), so inputs
given to a confidential model need not be readable by every member.

A batch of one output carries the output itself (``output``) and its leaf is checked here:
root = SHA-256(0x00 ‖ input digest ‖ output digest), the RFC 6962 leaf hash of a one-leaf tree.
"""
from __future__ import annotations

import hashlib
from typing import Any

from trainproof.chaincode.contract import assignment, config, events, keys, schemas, seeding, store, verifiers
from trainproof.chaincode.contract.args import HEX64_RE, json_object, model_id, texts
from trainproof.chaincode.contract.clock import check_clock
from trainproof.chaincode.contract.identity import caller, require_client
from trainproof.chaincode.contract.models import VERIFIED, load_certificate, require_state
from trainproof.chaincode.contract.prng import HashStream
from trainproof.chaincode.contract.text import check_text
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

AWAITING_DRAW = seeding.AWAITING_DRAW
NOT_SAMPLED, AUDITING, CONFIRMED, DISPUTED, UNCHECKED = "NOT_SAMPLED", "AUDITING", "CONFIRMED", "DISPUTED", "UNCHECKED"
AUDIT_STATES = (AWAITING_DRAW, NOT_SAMPLED, AUDITING, CONFIRMED, DISPUTED, UNCHECKED)
CHECK_VERDICTS = (CONFIRMED, DISPUTED)
DRAW_SCALE = 1_000_000  # the audit draw compares a uniform integer below this with fraction × scale
DEFAULT_PAGE, MAX_PAGE = 50, 200


def attestation_id(text: str) -> str:
    if not HEX64_RE.fullmatch(text):
        raise ChaincodeError(f"attestation id: {text[:80]!r} is not 64 lowercase hex digits (the AttestOutput "
                             "transaction's id)")
    return text


def require(stub: Stub, aid: str) -> dict[str, Any]:
    record = store.get(stub, keys.attestation(aid))
    if record is None:
        raise ChaincodeError(f"unknown attestation: no attestation {aid} has been recorded", 404)
    return record


def save(stub: Stub, before: dict[str, Any] | None, record: dict[str, Any]) -> None:
    """Write the record and keep the audit-state index in step (the dispatcher's reconcile reads
    it), and the auditor index: who checks an attestation of which model now (a confidential
    model's submitter may deliver that verifier the final snapshot's key, datakeys.py)."""
    old, new = (before or {}).get("audit", {}).get("state"), record["audit"]["state"]
    aid, mid = record["attestation_id"], record["model_id"]
    if old != new:
        if old is not None:
            stub.del_state(keys.audit_state(old, aid))
        stub.put_state(keys.audit_state(new, aid), keys.INDEX_VALUE)
    was, now = (auditor(a.get("audit", {})) for a in (before or {}, record))
    if was != now:
        if was is not None:
            stub.del_state(keys.model_auditor(mid, was, aid))
        if now is not None:
            stub.put_state(keys.model_auditor(mid, now, aid), keys.INDEX_VALUE)
    store.put(stub, keys.attestation(aid), record)


def auditor(audit: dict[str, Any]) -> str | None:
    """The verifier checking an attestation now: the drawn one while its audit is AUDITING."""
    return audit.get("verifier") if audit.get("state") == AUDITING else None


def audited_by(stub: Stub, model_id: str, fingerprint: str) -> list[str]:
    """The attestations of ``model_id`` that ``fingerprint`` is checking now (the auditor index)."""
    return [attrs[-1] for attrs in store.scan_keys(stub, keys.BY_MODEL_AUDITOR, model_id, fingerprint)]


def leaf_hash(input_sha256: str, output_sha256: str) -> str:
    """RFC 6962 leaf hash of one (input, output) pair: the root of a batch of one."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(input_sha256) + bytes.fromhex(output_sha256)).hexdigest()


def _check_request(stub: Stub, request: dict[str, Any], settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's rules first (the reason a user most needs), then the request's own; returns
    the (VERIFIED) model's state and its final snapshot entry."""
    mid = request["model_id"]
    state = require_state(stub, mid)
    if state["status"] != VERIFIED:
        raise ChaincodeError(f"state: model {mid} is {state['status']}; only a VERIFIED model's outputs are attested",
                             409)
    final = load_certificate(stub, mid)["certificate"]["snapshots"][-1]
    if request["weights_sha256"] != final["sha256"]:
        raise ChaincodeError(f"weights: {request['weights_sha256']} is not model {mid}'s final snapshot "
                             f"(snapshot {final['index']}, sha256 {final['sha256']}); attest with the verified weights",
                             409)
    count = request["count"]
    if count > settings["max_attested_outputs"]:
        raise ChaincodeError(f"limits: count {count} is over the consortium's max_attested_outputs "
                             f"{settings['max_attested_outputs']}; split the batch")
    single = request.get("output")
    if count == 1 and single is None:
        raise ChaincodeError("output: a batch of one output carries it (output.input_sha256, output.output_sha256)")
    if count > 1 and single is not None:
        raise ChaincodeError(f"output: only a batch of one carries its output; this batch has {count} "
                             "(each output's receipt carries its Merkle inclusion path instead)")
    if single is not None:
        values, shape = single.get("values"), single.get("shape")
        if (values is None) != (shape is None):
            raise ChaincodeError("output: values and shape come together")
        if values is not None and _product(shape) != len(values):
            raise ChaincodeError(f"output: shape {shape} holds {_product(shape)} values, {len(values)} given")
        leaf = leaf_hash(single["input_sha256"], single["output_sha256"])
        if leaf != request["root"]:
            raise ChaincodeError(f"root: a batch of one has root SHA-256(0x00 ‖ input ‖ output) = {leaf}, "
                                 f"not {request['root']}")
    batch = request["batch"]
    stored = batch.get("sealed") or batch  # a sealed batch's uri addresses its ciphertext
    allowed = {f"{prefix}{stored['sha256']}" for prefix in settings["storage_uri_prefixes"]}
    if batch["uri"] not in allowed or not batch["uri"].endswith("/sha256/" + stored["sha256"]):
        raise ChaincodeError(f"storage: batch uri {batch['uri'][:200]!r} is not the network's storage; expected "
                             f"one of {', '.join(sorted(allowed))}")
    if max(batch["size"], stored["size"]) > settings["max_dataset_bytes"]:
        raise ChaincodeError(f"limits: the batch file is {max(batch['size'], stored['size'])} bytes, over the "
                             f"consortium's max_dataset_bytes {settings['max_dataset_bytes']}")
    return state, final


def _product(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def attest(stub: Stub) -> dict[str, Any]:
    """AttestOutput(json request, see schema/attestation_request.json) by a client identity."""
    (text,) = texts(stub.args, "AttestOutput(json: see schema/attestation_request.json)", 1, 1)
    who = caller(stub)
    require_client(who)
    request = json_object(text, "attestation")
    schemas.validate(schemas.ATTESTATION_REQUEST, request)
    check_text("attestation", request)
    settings = config.effective(stub)
    state, final = _check_request(stub, request, settings)
    check_clock(stub, settings["clock_skew_seconds"])
    aid = stub.tx_id
    if not HEX64_RE.fullmatch(aid) or store.get(stub, keys.attestation(aid)) is not None:
        raise ChaincodeError(f"attestation id: transaction id {aid[:80]!r} is not a fresh 64-hex id", 409)
    record = {
        "attestation_id": aid,
        **{k: request[k] for k in ("model_id", "weights_sha256", "count", "root", "batch", "execution")},
        **({"output": request["output"]} if "output" in request else {}),
        **({"note": request["note"]} if "note" in request else {}),
        # What the endorsing peers found, signed with the record: the receipt names the model by it.
        "model": {"name": state["name"], "version": state["version"], "status": state["status"],
                  "certificate_sha256": state["certificate_sha256"], "final_snapshot": final["index"]},
        "attester": who.ref(),
        "tx_id": stub.tx_id,
        "timestamp": stub.tx_timestamp,
        "audit": {"state": AWAITING_DRAW, "fraction": settings["attest_audit_fraction"],
                  "deadline_seconds": settings["deadline_seconds"], "max_reassignments": settings["max_reassignments"]},
    }
    save(stub, None, record)
    stub.put_state(keys.model_attestation(request["model_id"], aid), keys.INDEX_VALUE)
    events.emit(stub, events.OUTPUT_ATTESTED, _event(record))
    return record


def _event(record: dict[str, Any]) -> dict[str, Any]:
    """Every attestation event: enough for the dispatcher (seed round, draw) and the assigned verifier."""
    return {"attestation_id": record["attestation_id"], "model_id": record["model_id"], "submitter": record["attester"],
            "count": record["count"], "root": record["root"], "audit": record["audit"]}


def _pool(stub: Stub, record: dict[str, Any], exclude: list[str]) -> list[dict[str, Any]]:
    """Active verifiers that may check the attestation: never its attester, nor ``exclude``."""
    barred = {record["attester"]["fingerprint"], *exclude}
    return [v for v in verifiers.active(stub) if v["fingerprint"] not in barred]


def audit(stub: Stub) -> dict[str, Any]:
    """AuditAttestation(attestation_id): the draw, once its seed round is ready; again on an
    AUDITING attestation past its deadline, a new verifier (the late one is recorded)."""
    (text,) = texts(stub.args, "AuditAttestation(attestation_id)", 1, 1)
    aid = attestation_id(text)
    who = caller(stub)
    record = require(stub, aid)
    current = record["audit"]
    subject = {"submitter": record["attester"], "model_id": record["model_id"]}
    by = assignment.authorize(stub, who, subject, _pool(stub, record, []), what=f"attestation {aid}")
    settings = config.effective(stub)
    check_clock(stub, settings["clock_skew_seconds"])
    now, attester_msp = stub.tx_timestamp, record["attester"]["mspid"]
    if current["state"] == AWAITING_DRAW:
        seed, summary = seeding.ready(stub, seeding.Subject.of_attestation(record), settings["seed_reveal_seconds"])
        threshold = round(current["fraction"] * DRAW_SCALE)
        draw = HashStream(seed, "attest/audit").below(DRAW_SCALE)
        new = {**current, "seed": seed.hex(), "withheld": summary["withheld"], "draw": draw, "threshold": threshold,
               "drawn_by": by, "drawn_tx": stub.tx_id, "drawn_at": now}
        if draw >= threshold:
            new["state"] = NOT_SAMPLED
        else:
            new.update(_staff(HashStream(seed, "attest/verifier"), _pool(stub, record, []), attester_msp, aid,
                              round_=0, deadline=now + current["deadline_seconds"]))
    elif current["state"] == AUDITING:
        if now < current["deadline"]:
            raise ChaincodeError(f"deadline: attestation {aid}'s check by {current['verifier']} is due at "
                                 f"{current['deadline']} (transaction time {now})", 409)
        late = current["previous"] + [{"round": current["round"], "verifier": current["verifier"],
                                       "deadline": current["deadline"]}]
        if current["round"] >= current["max_reassignments"]:
            new = {**current, "state": UNCHECKED, "previous": late,
                   "reason": f"no check after {current['round'] + 1} assignment(s); the audit gave up"}
        else:
            stream = HashStream(bytes.fromhex(current["seed"]), f"attest/verifier/{current['round'] + 1}")
            tried = [p["verifier"] for p in late]
            pool = _pool(stub, record, tried) or _pool(stub, record, [])
            new = {**current, **_staff(stream, pool, attester_msp, aid, round_=current["round"] + 1,
                                       deadline=now + current["deadline_seconds"]), "previous": late}
    else:
        raise ChaincodeError(f"once: attestation {aid}'s audit is {current['state']}; AuditAttestation draws once "
                             "and re-staffs only an AUDITING check past its deadline", 409)
    updated = {**record, "audit": new}
    save(stub, record, updated)
    events.emit(stub, events.ATTESTATION_AUDIT, _event(updated))
    return updated


def _staff(stream: HashStream, pool: list[dict[str, Any]], attester_msp: str, aid: str, round_: int,
           deadline: float) -> dict[str, Any]:
    chosen = assignment.pick(stream, pool, 1, attester_msp)
    if chosen is None:
        raise ChaincodeError(f"quorum: no active verifier other than the attester can check attestation {aid}; "
                             "register or reactivate one", 409)
    mspid = next(v["mspid"] for v in pool if v["fingerprint"] == chosen[0])
    return {"state": AUDITING, "verifier": chosen[0], "verifier_mspid": mspid, "independent": mspid != attester_msp,
            "round": round_, "deadline": deadline, "previous": []}


def check_consistent(verdict: str, evidence: dict[str, Any], root: str) -> None:
    """Refuse a check its own evidence contradicts (as votes.check_consistent does for replays)."""
    same = evidence["output_root"] == root
    if verdict == DISPUTED and same:
        raise ChaincodeError("evidence: a DISPUTED check must show a difference, but its output_root is the attested "
                             "root (bit-identical outputs)")
    if verdict == CONFIRMED and not same and (evidence["exact"] or evidence["max_abs_diff"] > evidence["tolerance"]):
        raise ChaincodeError("evidence: a CONFIRMED check with another output_root must be a tolerance match "
                             "(exact false, max_abs_diff within tolerance)")


def confirm(stub: Stub) -> dict[str, Any]:
    """ConfirmAttestation(attestation_id, CONFIRMED|DISPUTED, evidence_json) by the assigned verifier."""
    aid_text, verdict, evidence_text = texts(
        stub.args, "ConfirmAttestation(attestation_id, CONFIRMED|DISPUTED, evidence_json)", 3, 3)
    aid = attestation_id(aid_text)
    if verdict not in CHECK_VERDICTS:
        raise ChaincodeError(f"verdict: {verdict[:32]!r} is not CONFIRMED or DISPUTED")
    who = caller(stub)
    verifier = verifiers.require_active(stub, who)
    evidence = json_object(evidence_text, "evidence")
    schemas.validate(schemas.ATTESTATION_CHECK, evidence)
    check_text("evidence", evidence)
    record = require(stub, aid)
    current = record["audit"]
    if current["state"] != AUDITING:
        raise ChaincodeError(f"state: attestation {aid}'s audit is {current['state']}; checks are taken while it is "
                             f"{AUDITING}", 409)
    if who.fingerprint != current["verifier"]:
        raise ChaincodeError(f"assignment: identity {who.fingerprint} is not assigned to check attestation {aid} "
                             f"(round {current['round']})", 403)
    check_consistent(verdict, evidence, record["root"])
    check = {"verdict": verdict, "evidence": evidence, "verifier": {**who.ref(), "name": verifier["name"]},
             "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}
    updated = {**record, "audit": {**current, "state": verdict, "check": check}}
    save(stub, record, updated)
    events.emit(stub, events.ATTESTATION_CHECKED, _event(updated))
    return updated


def get_attestation(stub: Stub) -> dict[str, Any]:
    """GetAttestation(attestation_id): the record with its audit, plus the model's status now."""
    (text,) = texts(stub.args, "GetAttestation(attestation_id)", 1, 1)
    record = require(stub, attestation_id(text))
    state = require_state(stub, record["model_id"])
    return {**record, "model_status": state["status"], "model_reason": state["reason"]}


def list_attestations(stub: Stub) -> dict[str, Any]:
    """ListAttestations(json {model_id? | audit?, page_size?, bookmark?}): one model's attestations,
    or every attestation in one audit state (what the dispatcher reconciles), by id."""
    (text,) = texts(stub.args, 'ListAttestations(json: {"model_id"? | "audit"?, "page_size"?, "bookmark"?})', 1, 1)
    query = json_object(text, "filter")
    if set(query) - {"model_id", "audit", "page_size", "bookmark"} or ("model_id" in query) == ("audit" in query):
        raise ChaincodeError("filter: give exactly one of model_id or audit, and optionally page_size and bookmark")
    if "model_id" in query:
        mid = model_id(str(query["model_id"]))
        require_state(stub, mid)
        index, attrs = keys.BY_MODEL_ATTESTATION, [mid]
    else:
        if query["audit"] not in AUDIT_STATES:
            raise ChaincodeError(f"filter: audit must be one of {', '.join(AUDIT_STATES)}")
        index, attrs = keys.BY_AUDIT_STATE, [query["audit"]]
    size = query.get("page_size", DEFAULT_PAGE)
    if not (isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_PAGE):
        raise ChaincodeError(f"filter: page_size must be an integer in [1, {MAX_PAGE}]")
    bookmark = query.get("bookmark", "")
    if not isinstance(bookmark, str) or (bookmark and not bookmark.startswith(keys.key(index, *attrs))):
        raise ChaincodeError("filter: bookmark does not belong to this query; pass back the one the previous page returned")
    found, more = stub.get_state_by_partial_composite_key_with_pagination(index, attrs, size, bookmark)
    rows = []
    for key, _ in found:
        record = require(stub, Stub.split_composite_key(key)[1][-1])
        rows.append({k: record[k] for k in ("attestation_id", "model_id", "count", "root", "attester", "tx_id",
                                            "timestamp")} | {"audit": record["audit"]})
    return {"attestations": rows, "bookmark": more}
