"""SubmitVote: one vote per assigned verifier per interval, and the decisions it can trigger.

MVCC design. Each vote is its own key (vote/model/interval/verifier), written once; no vote
rewrites a shared counter. A vote reads the other sub-quorum members' vote keys to see whether
it completes a majority; if it does, the same transaction writes the interval's decision (and the
model verdict when that settles the model). Two votes on the same interval endorsed at the same
time therefore conflict at commit: the second fails with MVCC_READ_CONFLICT and its client
resubmits, now seeing the first vote (or the decision, and is then refused as late). Votes on
different intervals never conflict unless one of them settles the model. Votes are accepted
until the interval is decided or re-assigned, even past the deadline.

Under majority-first replication (replication.py) a vote that leaves the seated members unable to
reach a majority also seats the rest of the sub-quorum, in the same transaction.
"""
from __future__ import annotations

from typing import Any

from trainproof.chaincode.contract import assignment, decisions, events, keys, replication, schemas, store, verifiers
from trainproof.chaincode.contract.args import interval, json_object, model_id, texts
from trainproof.chaincode.contract.clock import check_clock
from trainproof.chaincode.contract.identity import Identity, caller
from trainproof.chaincode.contract.models import ASSIGNED, load_certificate, require_state, seated_intervals
from trainproof.chaincode.contract.text import check_text
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

USAGE = "SubmitVote(model_id, interval, ACCEPT|REJECT, evidence_json)"
NO_REPLAY = "0" * 64  # replay_sha256 of a vote cast without replaying (its reason says why)


def check_consistent(verdict: str, evidence: dict[str, Any], end_sha256: str, kind: str = "replay") -> None:
    """Refuse a vote its own evidence contradicts.

    Why: a verdict is only as good as the replay behind it, and a ledger that stored "REJECT:
    my replay was bit-identical" would hold a claim nobody can act on. A lying verifier must
    at least forge its evidence, which then stands on the ledger against the evidence
    artifact it uploaded and against the other members' replays.
    """
    identical = evidence["replay_sha256"] == end_sha256
    scores_ok = evidence.get("scores_match") is not False
    if verdict == "REJECT" and identical and scores_ok:
        raise ChaincodeError("evidence: a REJECT must show a difference, but its replay_sha256 is the submitted end "
                             "snapshot's (a bit-identical replay) and the claimed scores match")
    if verdict == "ACCEPT" and not scores_ok:
        raise ChaincodeError("evidence: an ACCEPT cannot carry scores_match false (the claimed scores are wrong)")
    if verdict == "ACCEPT" and evidence["replay_sha256"] == NO_REPLAY and kind != assignment.SCORES:
        # (a score check replays nothing: its ACCEPT says the claimed scores match the snapshots)
        raise ChaincodeError(f"evidence: an ACCEPT needs a replay; replay_sha256 {NO_REPLAY[:8]}… means none was run")


def submit_vote(stub: Stub) -> dict[str, Any]:
    mid_text, interval_text, verdict, evidence_text = texts(stub.args, USAGE, 4, 4)
    mid, i = model_id(mid_text), interval(interval_text)
    if verdict not in decisions.VERDICTS:
        raise ChaincodeError(f"verdict: {verdict[:32]!r} is not ACCEPT or REJECT")
    who = caller(stub)
    verifier = verifiers.require_active(stub, who)
    evidence = json_object(evidence_text, "evidence")
    schemas.validate(schemas.VOTE_EVIDENCE, evidence)
    check_text("evidence", evidence)

    state = require_state(stub, mid)
    if state["status"] != ASSIGNED:
        raise ChaincodeError(f"closed: model {mid} is {state['status']}; votes are taken only while it is ASSIGNED", 409)
    if i not in seated_intervals(state):
        raise ChaincodeError(f"assignment: interval {i} of model {mid} has no verifiers seated", 403)
    rec = store.get(stub, keys.interval(mid, i))
    if who.fingerprint not in rec["verifiers"]:
        raise ChaincodeError(
            f"assignment: identity {who.fingerprint} is not assigned to interval {i} of model {mid} (round {rec['round']})",
            403,
        )
    if store.get(stub, keys.vote(mid, i, who.fingerprint)) is not None:
        raise ChaincodeError(f"double vote: verifier {who.fingerprint} already voted on interval {i} of model {mid}", 409)
    decided = decisions.load(stub, mid, i)
    if decided is not None:
        raise ChaincodeError(
            f"decided: interval {i} of model {mid} is already {decided['outcome']}; no votes after a decision", 409
        )
    snapshots = {snap["index"]: snap for snap in load_certificate(stub, mid)["certificate"]["snapshots"]}
    check_consistent(verdict, evidence, snapshots[i + 1]["sha256"], rec.get("kind", assignment.REPLAY))

    vote = {
        "model_id": mid,
        "interval": i,
        "verdict": verdict,
        "evidence": evidence,
        "verifier": {**who.ref(), "name": verifier["name"]},
        "round": rec["round"],
        "tx_id": stub.tx_id,
        "timestamp": stub.tx_timestamp,
    }
    # Reading the other members' vote keys is what makes concurrent votes on one interval conflict.
    ballots = [v for fp in rec["verifiers"] if fp != who.fingerprint if (v := store.get(stub, keys.vote(mid, i, fp)))]
    ballots.append(vote)
    count = decisions.tally([b["verdict"] for b in ballots], rec["size"])
    outcome = decisions.majority(count)
    escalating = outcome is None and replication.deadlocked(rec, [b["verdict"] for b in ballots])
    record = store.get(stub, keys.assignment(mid)) if escalating else None
    if record is not None:  # the new seats' deadline comes from this transaction's time
        check_clock(stub, record["config"]["clock_skew_seconds"])
    store.put(stub, keys.vote(mid, i, who.fingerprint), vote)
    cast_event = {"interval": i, "verifier": who.fingerprint, "mspid": who.mspid, "verdict": verdict,
                  "round": rec["round"], **count}

    if record is not None:
        seated = escalate(stub, who, state, rec, record)
        if seated is None:
            reason = (f"the {len(rec['verifiers'])} seated verifiers disagree and no other active verifier is "
                      f"eligible to take the sub-quorum's {rec['size'] - len(rec['verifiers'])} open seat(s)")
            cast = {b["verifier"]["fingerprint"]: b["verdict"] for b in ballots}
            return _decide(stub, state, rec, i, decisions.INTERVAL_INCONCLUSIVE, reason, cast, count, vote, cast_event)
        events.emit(stub, events.INTERVAL_ESCALATED, {
            "model_id": mid, "status": state["status"], "submitter": state["submitter"], "vote": cast_event,
            "escalations": [{f: seated[f] for f in ("interval", "round", "size", "verifiers", "deadline")}
                            | {"added": seated["escalated"]["added"]}],
        })
        return {"vote": vote, "decision": None, "model": state, "escalated": seated}
    if outcome is None:
        events.emit(stub, events.VOTE_CAST, {"model_id": mid, "status": state["status"], **cast_event})
        return {"vote": vote, "decision": None, "model": state}

    side = decisions.ACCEPT if outcome == decisions.ACCEPTED else decisions.REJECT
    reason = f"sub-quorum majority: {count['tally'][side]} of {count['size']} verifiers voted {side}"
    notes = sorted({b["evidence"]["reason"] for b in ballots if b["verdict"] == side and b["evidence"].get("reason")})
    if notes:
        reason += f" ({'; '.join(notes)[:500]})"
    cast = {b["verifier"]["fingerprint"]: b["verdict"] for b in ballots}
    return _decide(stub, state, rec, i, outcome, reason, cast, count, vote, cast_event)


def _decide(stub: Stub, state: dict[str, Any], rec: dict[str, Any], i: int, outcome: str, reason: str,
            cast: dict[str, str], count: dict[str, Any], vote: dict[str, Any],
            cast_event: dict[str, Any]) -> dict[str, Any]:
    """Record interval ``i``'s decision, the model verdict it may settle, and their event."""
    mid = state["model_id"]
    decision = decisions.record(stub, mid, i, outcome, reason, round=rec["round"], votes=cast, **count)
    new_state, outcomes = decisions.conclude(stub, state, {i: decision})
    payload = {
        "model_id": mid,
        "submitter": state["submitter"],
        "vote": cast_event,
        "decided": [decisions.summary(decision)],
        "outcomes": [{"interval": j, "outcome": o} for j, o in sorted(outcomes.items())],
    }
    if new_state is not None:
        events.emit(stub, events.MODEL_VERDICT, {**payload, "status": new_state["status"], "reason": new_state["reason"]})
    else:
        events.emit(stub, events.INTERVAL_DECIDED, {**payload, "status": state["status"]})
    return {"vote": vote, "decision": decision, "model": new_state or state}


def escalate(stub: Stub, who: Identity, state: dict[str, Any], rec: dict[str, Any],
             record: dict[str, Any]) -> dict[str, Any] | None:
    """Seat the rest of the interval's sub-quorum (as many as are eligible); None if nobody is.

    The new members come from the model's seed (in the assignment ``record``), so the voter
    whose vote escalates chooses none of them. Their deadline is set from this transaction's
    time, which is why the caller checked it against the peer's clock (as AssignVerifiers and
    ExpireAssignment do): a vote dated in the past would otherwise hand a colluding expirer an
    already-passed deadline.
    """
    cfg = record["config"]
    candidates = [v for v in assignment.eligible(stub, state) if v["fingerprint"] not in rec["verifiers"]]
    stream = replication.escalation_stream(record["seed"], rec["interval"], rec["round"])
    wanted = min(rec["size"] - len(rec["verifiers"]), len(candidates))
    added = assignment.pick(stream, candidates, wanted, state["submitter"]["mspid"]) if wanted else None
    if not added:
        return None
    seated = {
        **rec,
        "verifiers": sorted(rec["verifiers"] + added),
        "deadline": stub.tx_timestamp + cfg["deadline_seconds"],
        "escalated": {"tx_id": stub.tx_id, "at": stub.tx_timestamp, "by": who.fingerprint, "added": added,
                      "open_seats": rec["size"] - len(rec["verifiers"]) - len(added)},
    }
    store.put(stub, keys.interval(state["model_id"], rec["interval"]), seated)
    return seated

