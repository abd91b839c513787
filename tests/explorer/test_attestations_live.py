"""Signed outputs on the live network, as the explorer sees them: an indexer follows the channel
while an honest and a forged attestation are audited by the real workers; its rows go through
every audit state in block order, end as the ledger's records, and the pages say DISPUTED.

The draw must pick both attestations, so attest_audit_fraction is raised to 1 through the
consortium's ProposeConfig/ApproveConfig for the two AttestOutput calls, then put back."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from tests.e2e.conftest import set_attest_audit_fraction, store, submitter, verified, wait_for_audit  # noqa: F401 (fixtures)
from tests.explorer.conftest import chain_height, wait_until
from trainproof.contract import TrainproofContract
from trainproof.explorer import pages
from trainproof.explorer.db import Database
from trainproof.explorer.indexer import Indexer, Outcome

pytestmark = [pytest.mark.explorer, pytest.mark.network, pytest.mark.e2e]


def test_the_index_follows_audits_to_confirmed_and_disputed(tmp_path, network, connect, profile, submitter, store,
                                                            verified):
    from sklearn.datasets import load_digits

    from trainproof.attestation.attest import attest

    db = Database(tmp_path / "explorer.db")
    indexer = Indexer(db, profile.chaincode)
    seen: dict[str, list[str]] = {}  # each attestation's audit states, as the index held them block by block

    def record_states(outcome: Outcome) -> None:
        if outcome.accepted:
            for r in db.rows("SELECT attestation_id, audit_state FROM attestations"):
                states = seen.setdefault(r["attestation_id"], [])
                if not states or states[-1] != r["audit_state"]:
                    states.append(r["audit_state"])

    indexer.listeners.append(record_states)
    stop = threading.Event()
    follower = threading.Thread(target=indexer.follow, args=(network, stop), daemon=True)
    follower.start()
    ledger = TrainproofContract(submitter)
    inputs = (load_digits().data[:20] / 16.0).astype(np.float32)
    try:
        before = ledger.get_config()["values"]["attest_audit_fraction"]
        set_attest_audit_fraction(connect, profile, 1.0)
        try:
            honest = attest(submitter, store, verified, inputs[:10])
            forged_outputs = attest(submitter, store, verified, inputs[10:]).outputs.copy()
            forged_outputs[3, 0] += 0.5  # the attester lies about one output
            forged = attest(submitter, store, verified, inputs[10:], outputs=forged_outputs)
        finally:
            set_attest_audit_fraction(connect, profile, before)
        records = {a.attestation_id: wait_for_audit(ledger, a.attestation_id) for a in (honest, forged)}
        height = chain_height(network)
        wait_until(lambda: indexer.next_block >= height, 120, f"the indexer to reach block {height - 1}")
    finally:
        stop.set()
        follower.join(10)
    assert records[honest.attestation_id]["audit"]["state"] == "CONFIRMED"
    assert records[forged.attestation_id]["audit"]["state"] == "DISPUTED"
    assert seen[honest.attestation_id] == ["AWAITING_DRAW", "AUDITING", "CONFIRMED"]
    assert seen[forged.attestation_id] == ["AWAITING_DRAW", "AUDITING", "DISPUTED"]
    for a in (honest, forged):
        row = db.row("SELECT * FROM attestations WHERE attestation_id = ?", (a.attestation_id,))
        ledger_record = {k: v for k, v in records[a.attestation_id].items() if k not in ("model_status", "model_reason")}
        assert json.loads(row["record"]) == ledger_record  # the write set is the state
        assert (row["block_number"], row["tx_id"], row["model_id"], row["root"], row["count"]) == \
            (a.block, a.attestation_id, verified, a.root, 10)
        assert row["verdict"] == row["audit_state"] and row["verifier_msp"] == "Org2MSP"
        calls = [r["function"] for r in db.rows(
            "SELECT t.function FROM attestation_txs x JOIN txs t ON t.block_number = x.block_number "
            "AND t.tx_index = x.tx_index WHERE x.attestation_id = ? ORDER BY t.block_number, t.tx_index",
            (a.attestation_id,))]
        assert calls[0] == "AttestOutput" and calls[-2:] == ["AuditAttestation", "ConfirmAttestation"]
        assert {"CommitSeed", "RevealSeed"} <= set(calls), calls  # the draw's seed round is part of its history
    page = pages.attestation_page(db, forged.attestation_id)
    assert 'id="disputed-banner"' in page and "1 of 10 outputs differ" in page
    assert 'id="disputed-banner"' not in pages.attestation_page(db, honest.attestation_id)
    model = pages.model_page(db, verified)
    assert model.count('<tr class="disputed">') == 1 and 'id="disputed-count">1 of this model' in model
    db.close()
