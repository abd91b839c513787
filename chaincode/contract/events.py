"""Chaincode events. Fabric keeps one event per transaction, so when a transaction does several
things it emits the most significant one (ModelVerdict > IntervalDecided > IntervalEscalated > VoteCast; for
ExpireAssignment ModelVerdict > IntervalDecided > IntervalsAssigned) and that payload carries
everything a listener needs: it never has to know that a lesser event was folded in.
"""
from __future__ import annotations

from typing import Any

from trainproof.chaincode.contract.codec import canonical
from trainproof.chaincode.shim.stub import Stub

MODEL_SUBMITTED = "ModelSubmitted"
SEED_COMMITTED = "SeedCommitted"
SEED_REVEALED = "SeedRevealed"
INTERVALS_ASSIGNED = "IntervalsAssigned"
VOTE_CAST = "VoteCast"
INTERVAL_ESCALATED = "IntervalEscalated"  # a vote that seated the rest of a sub-quorum (replication.py)
INTERVAL_DECIDED = "IntervalDecided"
MODEL_VERDICT = "ModelVerdict"
OUTPUT_ATTESTED = "OutputAttested"
ATTESTATION_AUDIT = "AttestationAudit"  # the draw (NOT_SAMPLED or AUDITING by whom), or a re-staffing
ATTESTATION_CHECKED = "AttestationChecked"  # CONFIRMED or DISPUTED
DATA_KEYS_DELIVERED = "DataKeysDelivered"  # wrapped data keys of a confidential model, for whom
ACCESS_GRANTED = "AccessGranted"  # a submitter's grant: its key agent wraps to the grantee next


def emit(stub: Stub, name: str, payload: dict[str, Any]) -> None:
    stub.set_event(name, canonical({"event": name, "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp, **payload}))
