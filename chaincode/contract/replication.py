"""How many verifiers replay a selected interval: a bare majority first, the rest on disagreement.

Why: an honest replay is bit-exact, so honest verifiers agree, and a sub-quorum's decision is
fixed as soon as a majority of its members agree; the other members' replays cannot change it.
Under ``majority-first`` (the default) an interval therefore starts with only ``needed`` =
⌊size/2⌋+1 of its ``size`` seats filled. When they all vote alike, that is a majority of the
full sub-quorum and the interval is decided exactly as if every seat had voted. As soon as their
votes disagree, so that no verdict can reach ``needed`` among them, the vote that shows it
escalates the interval: the remaining seats are drawn (from the model's seed, stream
``escalate/<interval>/<round>``, other orgs than the submitter's first) in the same
transaction, and the majority of the full sub-quorum decides. A REJECT that the other first
members confirm is already a majority, so only a disagreement escalates. The outcome is the
majority of the same number of independently drawn members as under ``full`` (every seat at
once): a malicious minority flips no more verdicts, and a clean model costs ``needed`` replays
per selected interval instead of ``size``. The argument and its limits are in ASSIGNMENT.md.
"""
from __future__ import annotations

from typing import Any, Iterable

from trainproof.chaincode.contract import decisions
from trainproof.chaincode.contract.prng import HashStream

MAJORITY_FIRST = "majority-first"
FULL = "full"
MODES = (MAJORITY_FIRST, FULL)


def first_seats(cfg: dict[str, Any]) -> int:
    """The seats filled at assignment: a bare majority of the sub-quorum, or all of it."""
    size = cfg["sub_quorum_size"]
    return size // 2 + 1 if cfg.get("replication", FULL) == MAJORITY_FIRST else size


def deadlocked(rec: dict[str, Any], verdicts: Iterable[str]) -> bool:
    """True when the members seated now cannot reach a majority of the full sub-quorum whatever
    the ones still to vote say: the disagreement that calls in the remaining seats."""
    open_seats = rec["size"] - len(rec["verifiers"])
    if open_seats <= 0:
        return False
    count = decisions.tally(verdicts, rec["size"])
    to_vote = len(rec["verifiers"]) - sum(count["tally"].values())
    return all(count["tally"][side] + to_vote < count["needed"] for side in decisions.VERDICTS)


def escalation_stream(seed_hex: str, interval: int, round_: int) -> HashStream:
    """The draw of the remaining seats: fixed by the model's seed, so the voter that triggers it chooses nobody."""
    return HashStream(bytes.fromhex(seed_hex), f"escalate/{interval}/{round_}")
