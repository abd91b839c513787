"""The one place the contract reads a peer's own clock: to refuse a transaction whose
client-set time is implausible.

Why: Fabric leaves the transaction time to the sending client. Deadlines and submission times
are in transaction time, so without a bound an assigner could stamp ExpireAssignment past every
deadline, and a submitter could date its copy of someone else's run years back. Every org's
peer must endorse, so one honest peer's refusal blocks a forged stamp; the check only refuses,
so accepted results stay deterministic.
"""
from __future__ import annotations

from trainproof.chaincode.shim.stub import ChaincodeError, Stub


def check_clock(stub: Stub, skew: int) -> None:
    """Refuse (409 ``clock:``) a transaction stamped more than ``skew`` seconds from this peer's clock."""
    offset = stub.tx_timestamp - stub.peer_time()
    if abs(offset) > skew:
        raise ChaincodeError(
            f"clock: transaction time {stub.tx_timestamp:.3f} is {offset:+.1f} s from this peer's clock; "
            f"{stub.function} accepts at most ±{skew} s (clock_skew_seconds): sync the sender's clock and retry", 409)
