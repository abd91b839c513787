"""Interval decisions and the model verdict they add up to.

An interval's decision is written once, by the transaction that settles it (a vote completing a
majority, or ExpireAssignment giving up). The model verdict follows: any interval REJECTED →
model REJECTED at once (one proven bad interval is enough); every interval ACCEPTED → VERIFIED;
every interval decided, none rejected, some INCONCLUSIVE → INCONCLUSIVE.
"""
from __future__ import annotations

from typing import Any, Iterable

from trainproof.chaincode.contract import keys, store
from trainproof.chaincode.contract.models import INCONCLUSIVE, REJECTED, VERIFIED, seated_intervals, update_status
from trainproof.chaincode.shim.stub import Stub

ACCEPT = "ACCEPT"  # a verifier's vote
REJECT = "REJECT"
VERDICTS = (ACCEPT, REJECT)
ACCEPTED = "ACCEPTED"  # an interval's outcome
INTERVAL_REJECTED = "REJECTED"
INTERVAL_INCONCLUSIVE = "INCONCLUSIVE"


def tally(verdicts: Iterable[str], size: int) -> dict[str, Any]:
    """Vote counts against the sub-quorum size; a majority is more than half of the sub-quorum."""
    counted = list(verdicts)
    return {
        "tally": {ACCEPT: counted.count(ACCEPT), REJECT: counted.count(REJECT)},
        "size": size,
        "needed": size // 2 + 1,
    }



def majority(count: dict[str, Any]) -> str | None:
    """The interval outcome a ``tally`` settles (ACCEPTED, REJECTED), or None while it is open."""
    if count["tally"][ACCEPT] >= count["needed"]:
        return ACCEPTED
    if count["tally"][REJECT] >= count["needed"]:
        return INTERVAL_REJECTED
    return None

def load(stub: Stub, model_id: str, interval: int) -> dict[str, Any] | None:
    return store.get(stub, keys.decision(model_id, interval))


def record(stub: Stub, model_id: str, interval: int, outcome: str, reason: str, **details: Any) -> dict[str, Any]:
    decision = {
        "model_id": model_id,
        "interval": interval,
        "outcome": outcome,
        "reason": reason,
        "tx_id": stub.tx_id,
        "timestamp": stub.tx_timestamp,
        **details,
    }
    store.put(stub, keys.decision(model_id, interval), decision)
    return decision


def summary(decision: dict[str, Any]) -> dict[str, Any]:
    """What events carry about a decision."""
    fields = ("interval", "outcome", "reason", "tally", "size", "needed", "round")
    return {f: decision.get(f) for f in fields}


def conclude(
    stub: Stub, state: dict[str, Any], settled: dict[int, dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[int, str | None]]:
    """Apply the verdict rule after this transaction settled ``settled``.

    Returns the new model state (None while undecided) and every seated interval's outcome
    (None = pending). Other intervals' decisions are read only when needed: a rejection decides
    alone, so a rejecting vote never depends on (or conflicts with) other intervals' votes.
    """
    rejected = sorted(i for i, d in settled.items() if d["outcome"] == INTERVAL_REJECTED)
    outcomes: dict[int, str | None] = {}
    for i in seated_intervals(state):
        if i in settled:
            outcomes[i] = settled[i]["outcome"]
        elif not rejected:
            other = load(stub, state["model_id"], i)
            outcomes[i] = other["outcome"] if other else None
        else:
            outcomes[i] = None  # not read: the verdict is already REJECTED
    if rejected:
        first = settled[rejected[0]]
        reason = f"interval {rejected[0]} rejected: {first['reason']}"
        return update_status(stub, state, REJECTED, reason=reason, rejected_intervals=rejected), outcomes
    if any(o is None for o in outcomes.values()):
        return None, outcomes
    inconclusive = sorted(i for i, o in outcomes.items() if o == INTERVAL_INCONCLUSIVE)
    if inconclusive:
        reason = f"interval(s) {', '.join(map(str, inconclusive))} inconclusive; no interval rejected"
        return update_status(stub, state, INCONCLUSIVE, reason=reason, inconclusive_intervals=inconclusive), outcomes
    replayed = len(state["selected"])
    reason = f"all {replayed} selected interval(s) accepted by sub-quorum majority"
    if len(outcomes) > replayed:
        reason += f", and the claimed scores of the other {len(outcomes) - replayed} confirmed"
    return update_status(stub, state, VERIFIED, reason=reason), outcomes
