"""Contract settings and how the consortium changes them: ProposeConfig → ApproveConfig.

No single org's admin changes the rules: an admin proposes a change (its org approving it), and
the change takes effect in the transaction that brings the approvals of the member orgs' admins
to what ``approval_rule`` asks (a majority of the member orgs, or all of them). Every proposal,
approval and application is a ledger record (GetConfigProposal, ListConfigProposals). Bounds
keep every value meaningful (no audit of 1 %, no sub-quorum of one, no one-second deadline), and
are checked again when a change applies, because the registry may have changed meanwhile.

The member orgs are the deployment's (the chaincode server's ``--members``; both orgs' servers
must agree, since every write needs both orgs' endorsements and differing results fail the
endorsement policy). Each proposal freezes the member list and the approvals it needs.

AssignVerifiers copies the settings in force into the assignment, so changing them later never
changes the rules of a model already being verified.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Callable

from trainproof.chaincode.contract import keys, store, verifiers
from trainproof.chaincode.contract.args import json_object, optional_json_object, texts
from trainproof.chaincode.contract.identity import caller, require_admin
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

MEMBERS_ENV = "TRAINPROOF_MEMBER_MSPS"  # comma-separated MSP ids of the consortium's member orgs
PROPOSAL_TTL = 7 * 86400  # transaction time a proposal stays open for approvals
PENDING, APPLIED, EXPIRED = "PENDING", "APPLIED", "EXPIRED"
PROPOSAL_ID_RE = re.compile(r"[0-9A-Za-z]{1,128}")  # the proposing transaction's id

# The five rule settings are bench-detection's choice on its calibration half (seed 14, 448 runs).
DEFAULTS: dict[str, Any] = {
    "k": 4.0,  # outlier threshold: robust sds of log(change ÷ learning rate) above the local trend
    "shift_k": 5.0,  # input-shift threshold: robust sds of log input shift above the run's median
    "low_k": 3.0,  # too-small-change threshold: robust sds of log change below the local trend
    "joint_k": 5.0,  # joint threshold: size excess + input-shift excess, in robust sds (selection.joint_outliers)
    "probe_rise": 0.04,  # probe-loss rise over one interval, as a fraction of the initial probe loss (selection.probe_rises)
    "audit_fraction": 0.2,  # random audit sample, as a fraction of all intervals (at least one)
    "sub_quorum_size": 3,  # verifiers per selected interval (odd)
    "replication": "majority-first",  # seat a bare majority first, the rest on disagreement (replication.py) | full
    "deadline_seconds": 86400,  # time, in transaction time, to vote before ExpireAssignment may act
    "max_reassignments": 2,  # re-assignments of an interval before it is INCONCLUSIVE
    "clock_skew_seconds": 300,  # how far a deadline-setting tx's time may be from each endorsing peer's clock
    "seed_reveal_seconds": 900,  # after the last seed commitment: time to reveal before a withheld reveal is skipped
    "approval_rule": "majority",  # member orgs whose admins must approve a change: majority | all
    # Consortium limits on the work one submission may cost a verifier (limits.py; issue 15, finding 11).
    "max_steps_per_interval": 100_000,  # optimizer steps one replay task runs
    "max_parameters": 100_000_000,  # parameters of the architecture (counted by verifiers without allocating)
    "max_dataset_bytes": 1 << 30,  # bytes of the dataset each verifier downloads
    "max_snapshot_bytes": 1 << 30,  # bytes of each snapshot
    # Signed outputs (attestations.py): the share of attestations a verifier recomputes, and the batch limit.
    "attest_audit_fraction": 0.1,
    "max_attested_outputs": 1_000_000,
    # Where certificate artifacts may live: the network's own storage (limits.check_uris).
    "storage_uri_prefixes": ["s3://datasets/sha256/", "s3://snapshots/sha256/"],
}


_URI_PREFIX = re.compile(r"[a-z][a-z0-9+.-]*://[!-~]{1,200}/")


def _number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _integer(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Each setting: (check, rule as shown in refusals, normalisation). The bounds are what keeps the
# system meaningful whatever a majority agrees on: outlier rules that can still fire, an audit
# sample that still samples, a real sub-quorum, time to vote and at least one re-staffing round.
RULES: dict[str, tuple[Callable[[Any], bool], str, Callable[[Any], Any]]] = {
    "k": (lambda v: _number(v) and 1 <= v <= 10, "a number in [1, 10]", float),
    "shift_k": (lambda v: _number(v) and 1 <= v <= 10, "a number in [1, 10]", float),
    "low_k": (lambda v: _number(v) and 1 <= v <= 10, "a number in [1, 10]", float),
    "joint_k": (lambda v: _number(v) and 1 <= v <= 20, "a number in [1, 20]", float),
    "probe_rise": (lambda v: _number(v) and 0.001 <= v <= 10, "a number in [0.001, 10]", float),
    "audit_fraction": (lambda v: _number(v) and 0.05 <= v <= 1, "a number in [0.05, 1]", float),
    "sub_quorum_size": (lambda v: _integer(v) and 3 <= v <= 51 and v % 2 == 1, "an odd integer in [3, 51]", int),
    "replication": (lambda v: v in ("majority-first", "full"), "'majority-first' or 'full'", str),
    "deadline_seconds": (lambda v: _integer(v) and 60 <= v <= 31_536_000, "an integer in [60, 31536000]", int),
    "max_reassignments": (lambda v: _integer(v) and 1 <= v <= 10, "an integer in [1, 10]", int),
    "clock_skew_seconds": (lambda v: _integer(v) and 1 <= v <= 86400, "an integer in [1, 86400]", int),
    "seed_reveal_seconds": (lambda v: _integer(v) and 30 <= v <= 604_800, "an integer in [30, 604800]", int),
    "approval_rule": (lambda v: v in ("majority", "all"), "'majority' or 'all'", str),
    "max_steps_per_interval": (lambda v: _integer(v) and 1 <= v <= 10_000_000, "an integer in [1, 10000000]", int),
    "max_parameters": (lambda v: _integer(v) and 1 <= v <= 2_000_000_000, "an integer in [1, 2000000000]", int),
    "max_dataset_bytes": (lambda v: _integer(v) and 1 <= v <= 1 << 40, "an integer in [1, 2^40]", int),
    "max_snapshot_bytes": (lambda v: _integer(v) and 1 <= v <= 1 << 40, "an integer in [1, 2^40]", int),
    "attest_audit_fraction": (lambda v: _number(v) and 0.01 <= v <= 1, "a number in [0.01, 1]", float),
    "max_attested_outputs": (lambda v: _integer(v) and 1 <= v <= 100_000_000, "an integer in [1, 100000000]", int),
    "storage_uri_prefixes": (lambda v: isinstance(v, list) and 1 <= len(v) <= 16 and all(
        isinstance(p, str) and _URI_PREFIX.fullmatch(p) for p in v),
        "a list of 1-16 URI prefixes such as \"s3://snapshots/sha256/\" (scheme://, up to 200 characters, ending in /)",
        list),
}


def members() -> list[str]:
    """The consortium's member MSPs, as the chaincode server was started with."""
    return sorted({m.strip() for m in os.environ.get(MEMBERS_ENV, "").split(",") if m.strip()})


def needed(rule: str, count: int) -> int:
    return count if rule == "all" else count // 2 + 1


def effective(stub: Stub) -> dict[str, Any]:
    record = store.get(stub, keys.config())
    return {**DEFAULTS, **(record["values"] if record else {})}


def _view(record: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "values": {**DEFAULTS, **(record["values"] if record else {})},
        "defaults": dict(DEFAULTS),
        "members": members(),
        "updated": None if record is None else {k: record[k] for k in ("by", "tx_id", "timestamp", "proposal_id")
                                                if k in record},
    }


def get_config(stub: Stub) -> dict[str, Any]:
    texts(stub.args, "GetConfig()", 0, 0)
    return _view(store.get(stub, keys.config()))


def _check_values(stub: Stub, changes: dict[str, Any], status: int = 400) -> None:
    """Each value within its bounds; a sub-quorum no larger than the active verifiers."""
    for name in sorted(changes):
        if name not in RULES:
            raise ChaincodeError(f"settings: unknown setting {name[:64]!r}; known settings: {', '.join(sorted(RULES))}")
        check, rule, _ = RULES[name]
        if not check(changes[name]):
            raise ChaincodeError(f"settings: {name} must be {rule}, got {str(changes[name])[:64]}")
    size = changes.get("sub_quorum_size")
    if size is not None:
        count = len(verifiers.active(stub))
        if size > count - 1:  # the submitter may itself be a verifier and is never drawn
            raise ChaincodeError(f"settings: sub_quorum_size {size} needs at least {size + 1} active verifiers, "
                                 f"{count} are active; no model could be assigned", status)


def _require_member(who_mspid: str, member_list: list[str]) -> None:
    if not member_list:
        raise ChaincodeError(f"governance: no member orgs are configured (chaincode server's {MEMBERS_ENV}); "
                             "settings cannot change", 409)
    if who_mspid not in member_list:
        raise ChaincodeError(f"governance: {who_mspid[:128]} is not a member org ({', '.join(member_list)})", 403)


def _apply(stub: Stub, proposal: dict[str, Any]) -> dict[str, Any]:
    """Write the new settings; the proposal becomes APPLIED. Bounds are checked again first."""
    _check_values(stub, proposal["changes"], status=409)
    values = effective(stub)
    values.update({name: RULES[name][2](value) for name, value in proposal["changes"].items()})
    store.put(stub, keys.config(), {"values": values, "by": proposal["proposer"], "tx_id": stub.tx_id,
                                    "timestamp": stub.tx_timestamp, "proposal_id": proposal["proposal_id"]})
    return {**proposal, "status": APPLIED, "applied_tx": stub.tx_id, "applied_at": stub.tx_timestamp}


def _status(proposal: dict[str, Any], now: float) -> dict[str, Any]:
    """A pending proposal past its expiry reads as EXPIRED (nothing is written for that)."""
    if proposal["status"] == PENDING and now >= proposal["expires_at"]:
        return {**proposal, "status": EXPIRED}
    return proposal


def propose_config(stub: Stub) -> dict[str, Any]:
    """ProposeConfig(json changes[, json {"note"}]) by a member org's admin; its org approves it."""
    args = texts(stub.args, 'ProposeConfig(json: {"k"?, "audit_fraction"?, ...}[, json: {"note"?}])', 1, 2)
    who = caller(stub)
    require_admin(who)
    member_list = members()
    _require_member(who.mspid, member_list)
    changes = json_object(args[0], "settings")
    if not changes:
        raise ChaincodeError(f"settings: no setting given; known settings: {', '.join(sorted(RULES))}")
    _check_values(stub, changes)
    extra = optional_json_object(args[1] if len(args) == 2 else None, "options")
    if set(extra) - {"note"} or not isinstance(extra.get("note", ""), str) or len(extra.get("note", "")) > 2048:
        raise ChaincodeError("options: only {\"note\": text of at most 2048 characters} is allowed")
    rule = effective(stub)["approval_rule"]
    proposal = {
        "proposal_id": stub.tx_id,
        "changes": changes,
        "note": extra.get("note"),
        "proposer": who.ref(),
        "proposed_tx": stub.tx_id,
        "proposed_at": stub.tx_timestamp,
        "expires_at": stub.tx_timestamp + PROPOSAL_TTL,
        "members": member_list,
        "approval_rule": rule,
        "needed": needed(rule, len(member_list)),
        "approvals": [{**who.ref(), "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}],
        "status": PENDING,
    }
    if len(proposal["approvals"]) >= proposal["needed"]:  # a one-org consortium
        proposal = _apply(stub, proposal)
    store.put(stub, keys.config_proposal(stub.tx_id), proposal)
    return proposal


def approve_config(stub: Stub) -> dict[str, Any]:
    """ApproveConfig(proposal_id) by the admin of a member org that has not approved it yet."""
    (text,) = texts(stub.args, "ApproveConfig(proposal_id)", 1, 1)
    if not PROPOSAL_ID_RE.fullmatch(text):
        raise ChaincodeError(f"proposal id: {text[:80]!r} is not a transaction id (the proposing transaction's)")
    who = caller(stub)
    require_admin(who)
    proposal = store.get(stub, keys.config_proposal(text))
    if proposal is None:
        raise ChaincodeError(f"unknown proposal: no configuration proposal {text}", 404)
    _require_member(who.mspid, proposal["members"])
    proposal = _status(proposal, stub.tx_timestamp)
    if proposal["status"] != PENDING:
        raise ChaincodeError(f"state: proposal {text} is {proposal['status']}; only a PENDING proposal is approved", 409)
    if who.mspid in {a["mspid"] for a in proposal["approvals"]}:
        raise ChaincodeError(f"already approved: {who.mspid} has approved proposal {text}; "
                             f"it needs {proposal['needed']} of {len(proposal['members'])} member orgs", 409)
    proposal = {**proposal, "approvals": proposal["approvals"] + [
        {**who.ref(), "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}]}
    if len(proposal["approvals"]) >= proposal["needed"]:
        proposal = _apply(stub, proposal)
    store.put(stub, keys.config_proposal(text), proposal)
    return proposal


def get_config_proposal(stub: Stub) -> dict[str, Any]:
    (text,) = texts(stub.args, "GetConfigProposal(proposal_id)", 1, 1)
    if not PROPOSAL_ID_RE.fullmatch(text):
        raise ChaincodeError(f"proposal id: {text[:80]!r} is not a transaction id (the proposing transaction's)")
    proposal = store.get(stub, keys.config_proposal(text))
    if proposal is None:
        raise ChaincodeError(f"unknown proposal: no configuration proposal {text}", 404)
    return _status(proposal, stub.tx_timestamp)


def list_config_proposals(stub: Stub) -> dict[str, Any]:
    """ListConfigProposals([json {"status"?}]): every proposal, oldest first."""
    args = texts(stub.args, 'ListConfigProposals([json: {"status"?}])', 0, 1)
    query = optional_json_object(args[0] if args else None, "filter")
    if set(query) - {"status"} or query.get("status", PENDING) not in (PENDING, APPLIED, EXPIRED):
        raise ChaincodeError("filter: only {\"status\": PENDING|APPLIED|EXPIRED} is allowed")
    rows = [_status(p, stub.tx_timestamp) for _, p in store.scan(stub, keys.CONFIG_PROPOSAL)]
    rows = [p for p in rows if query.get("status", p["status"]) == p["status"]]
    return {"proposals": sorted(rows, key=lambda p: (p["proposed_at"], p["proposal_id"]))}
