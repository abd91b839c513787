"""What the contract must decide: who is malicious, the exact expected share judged correctly
(over every audit sample and a hypergeometric sub-quorum draw), and each model's predicted
verdict from the sub-quorums actually drawn, by the contract's own selection rules and tally."""
from __future__ import annotations

import itertools
import math
import random
from typing import Optional

from bench.robustness.adversary import cast_verdict
from bench.robustness.scenarios import ModelSpec
from trainproof.chaincode.contract import decisions, selection


def org_of(identity: str) -> str:
    return identity.split("-")[0]


def malicious_order(identities: list[str], seed: int) -> list[str]:
    """A seeded random order that alternates the orgs: every prefix is spread evenly over them."""
    rng = random.Random(f"bench.robustness/malicious/{seed}")
    orgs = sorted({org_of(i) for i in identities})
    rng.shuffle(orgs)
    queues = {org: rng.sample(sorted(i for i in identities if org_of(i) == org),
                              sum(org_of(i) == org for i in identities)) for org in orgs}
    order = []
    while any(queues.values()):
        for org in orgs:
            if queues[org]:
                order.append(queues[org].pop(0))
    return order


def malicious_set(order: list[str], fraction: float) -> list[str]:
    return sorted(order[:round(fraction * len(order))])


def p_malicious_majority(pool: int, bad: int, size: int) -> float:
    """Hypergeometric: P(at least a majority of a ``size`` sub-quorum drawn from ``pool`` is malicious)."""
    need = size // 2 + 1
    total = math.comb(pool, size)
    return sum(math.comb(bad, j) * math.comb(pool - bad, size - j) for j in range(need, size + 1)) / total


def selections(claims: dict, cfg: dict) -> tuple[set[int], list[int], int]:
    """The contract's deterministic picks (``selection.deterministic`` of ``selection.claims``), the
    rest, the audit size."""
    n = len(claims["scores"])
    fixed = set(selection.deterministic(**claims, **selection.settings(cfg)))
    rest = [i for i in range(n) if i not in fixed]
    return fixed, rest, min(len(rest), selection.audit_size(n, cfg["audit_fraction"]))


def expected_correct(spec: ModelSpec, cfg: dict, pool: int, bad: int, mode: Optional[str]) -> tuple[float, float]:
    """(P(judged correctly), P(a poisoned interval is selected)) over all audit samples and sub-quorums."""
    fixed, rest, k = selections(spec.claims, cfg)
    q = p_malicious_majority(pool, bad, cfg["sub_quorum_size"]) if mode else 0.0
    poisoned = set(spec.poisoned)
    total = hit = correct = 0.0
    combos = itertools.combinations(rest, k) if math.comb(len(rest), k) <= 50000 else None
    samples = combos or (random.Random(0).sample(rest, k) for _ in range(20000))
    for audit in samples:
        chosen = fixed | set(audit)
        p_verified = 1.0
        for i in chosen:
            honest_reject = i in poisoned
            if mode == "chaotic":
                p_verified *= q if honest_reject else 1 - q
            elif honest_reject:  # ordered (or honest: q = 0) covers a bad interval only with a majority
                p_verified *= q
        if mode == "chaotic":  # every other interval's score check: a chaotic majority rejects honest scores
            p_verified *= (1 - q) ** (len(spec.claims["scores"]) - len(chosen))
        total += 1
        hit += bool(chosen & poisoned)
        correct += (1 - p_verified) if poisoned else p_verified
    return correct / total, hit / total



def predicted_status(spec: ModelSpec, assignment: dict, names: dict[str, str], bad: dict[str, str]) -> str:
    """The verdict the contract must reach, given the members seated and who is malicious ("" when
    it cannot be told: a seated pair that disagrees, on a model another interval already settled,
    was never joined by the third member whose vote would have decided it)."""
    outcomes = []
    for rec in assignment.get("intervals", []):
        # A score check finds honest scores on a poisoned interval too: only its replay rejects it.
        replayed = rec.get("kind", "replay") == "replay"
        honest = "REJECT" if replayed and int(rec["interval"]) in spec.poisoned else "ACCEPT"
        votes = [cast_verdict(honest, bad.get(names.get(fp, ""))) for fp in rec["verifiers"]]
        outcomes.append(decisions.majority(decisions.tally(votes, rec["size"])))
    if decisions.INTERVAL_REJECTED in outcomes:
        return "REJECTED"
    return "VERIFIED" if all(o == decisions.ACCEPTED for o in outcomes) else ""
