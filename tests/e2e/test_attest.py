"""Signed outputs end to end (issue 17): attest on a VERIFIED model, check the receipt offline and
online, tamper with it part by part, batch receipts, and audits through the real workers.

The audits need the draw to pick the attestation, so one test raises attest_audit_fraction to 1
through the consortium's own ProposeConfig/ApproveConfig and puts it back afterwards.
"""
from __future__ import annotations

import base64
import copy

import numpy as np
import pytest
from fabric_protos.common import common_pb2

from tests.e2e.conftest import set_attest_audit_fraction, wait_for_audit
from trainproof.attestation import receipt as receipts
from trainproof.attestation.attest import AttestError, attest
from trainproof.contract import TrainproofContract
from trainproof.explorer.decode import decode_block

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data[:100] / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def single(verified, submitter, store, inputs):
    return attest(submitter, store, verified, inputs[:1])


def parts(report: receipts.Report) -> set[str]:
    return {p.part for p in report.problems}


def with_block(receipt: dict, mutate) -> dict:
    """A copy of ``receipt`` whose block bytes went through ``mutate(bytearray)``."""
    raw = bytearray(base64.b64decode(receipt["block"]["raw"]))
    mutate(raw)
    changed = copy.deepcopy(receipt)
    changed["block"]["raw"] = base64.b64encode(bytes(raw)).decode()
    return changed


def flip_at(raw: bytearray, needle: bytes, offset: int = 0) -> None:
    at = bytes(raw).find(needle)
    assert at >= 0
    raw[at + offset] ^= 0x01


def test_a_receipt_verifies_offline_with_its_input_and_output(single, verified, inputs):
    report = receipts.verify(single.receipt, inputs[0], single.outputs[0])
    assert report.ok, report.problems
    assert report.model_id == verified and report.model["status"] == "VERIFIED"
    assert report.endorsed_by == ["Org1MSP", "Org2MSP"] and report.matched_item == 0
    assert single.receipt["items"][0]["output"]["values"] == single.outputs[0].tolist()
    trusted = {m: set(fps) for m, fps in single.receipt["roots"].items()}
    assert receipts.verify(single.receipt, trusted=trusted).ok


def test_one_changed_byte_anywhere_fails_naming_the_part(single, inputs):
    receipt = single.receipt
    block = decode_block(common_pb2.Block.FromString(base64.b64decode(receipt["block"]["raw"])))
    tx = block.txs[receipt["block"]["tx_index"]]
    # Any byte of the envelope: the block's data hash no longer covers it.
    for offset in sorted({0, len(tx.envelope) // 3, len(tx.envelope) // 2, len(tx.envelope) - 1}):
        try:
            report = receipts.verify(with_block(receipt, lambda raw, o=offset: flip_at(raw, tx.envelope, o)))
        except receipts.ReceiptError:
            continue  # the envelope no longer parses: refused as a damaged receipt
        assert "envelope" in parts(report), (offset, report.problems)
    # A byte of the signed request (the weights hash): the creator's signature fails with it.
    report = receipts.verify(with_block(receipt, lambda raw: flip_at(raw, receipt["weights_sha256"].encode(), 5)))
    assert {"envelope", "creator signature"} <= parts(report), report.problems
    report = receipts.verify(with_block(receipt, lambda raw: flip_at(raw, tx.signature, len(tx.signature) - 1)))
    assert "creator signature" in parts(report), report.problems
    endorsement = tx.endorsements[1]
    report = receipts.verify(with_block(receipt, lambda raw: flip_at(raw, endorsement.signature, 10)))
    assert "endorsement" in parts(report) and any(endorsement.signer.mspid in p.message for p in report.problems)
    header = block.data_hash
    report = receipts.verify(with_block(receipt, lambda raw: flip_at(raw, header, 3)))
    assert {"block"} <= parts(report), report.problems
    # The receipt's own fields, and the files it is checked against.
    changed = copy.deepcopy(receipt)
    digest = changed["items"][0]["output_sha256"]
    changed["items"][0]["output_sha256"] = ("1" if digest[0] == "0" else "0") + digest[1:]  # one hex digit changed
    assert {"item 0"} <= parts(receipts.verify(changed))
    changed = copy.deepcopy(receipt)
    changed["items"][0]["output"]["values"][0] += 1.0
    assert "item 0" in parts(receipts.verify(changed))
    changed = copy.deepcopy(receipt)
    changed["root"] = "ab" * 32
    assert "record" in parts(receipts.verify(changed))
    other_input = inputs[0].copy()
    other_input[7] = np.nextafter(other_input[7], np.float32(2))
    assert parts(receipts.verify(receipt, other_input)) == {"input"}
    other_output = single.outputs[0].copy()
    other_output[0] += 1e-3
    assert parts(receipts.verify(receipt, outputs=other_output)) == {"output"}
    assert parts(receipts.verify(receipt, trusted={"Org1MSP": {"00" * 32}})) == {"trust"}


def test_a_batch_receipt_verifies_one_output_by_its_inclusion_path(verified, submitter, store, inputs):
    batch = attest(submitter, store, verified, inputs)
    assert batch.count == 100 and len(batch.receipt["items"]) == 100
    one = copy.deepcopy(receipts.extract(batch.receipt, [37]))
    report = receipts.verify(one, inputs[37], batch.outputs[37])
    assert report.ok and report.items_checked == [37] and report.matched_item == 37, report.problems
    assert parts(receipts.verify(one, inputs[36])) == {"input"}
    one["items"][0]["path"][2] = "00" * 32
    assert parts(receipts.verify(one)) == {"item 37"}
    whole = receipts.verify(batch.receipt, inputs, batch.outputs)
    assert whole.ok and len(whole.items_checked) == 100, whole.problems


def test_a_model_that_is_not_verified_is_not_attested(submitter, store, inputs, train, submit, verdict):
    run = train("attest-poisoned", poison_intervals=[0, 1, 2, 3], poison_fraction=1.0, intervals=4)
    for _ in range(5):  # which intervals are checked is the draw's; every interval here is poisoned
        model_id = submit(run).model_id
        if verdict(model_id)["status"] == "REJECTED":
            break
    else:
        pytest.fail("no poisoned submission was rejected")
    with pytest.raises(AttestError, match=f"model {model_id} is REJECTED"):
        attest(submitter, store, model_id, inputs[:1])
    assert TrainproofContract(submitter).list_attestations(model_id=model_id)["attestations"] == []


def test_audited_attestations_are_confirmed_and_a_forged_output_disputed(verified, submitter, store, inputs,
                                                                        connect, profile):
    ledger = TrainproofContract(submitter)
    before = ledger.get_config()["values"]["attest_audit_fraction"]
    set_attest_audit_fraction(connect, profile, 1.0)
    try:
        honest = attest(submitter, store, verified, inputs[:10])
        forged_outputs = attest(submitter, store, verified, inputs[10:20]).outputs.copy()
        forged_outputs[3, 0] += 0.5  # the attester lies about one output
        forged = attest(submitter, store, verified, inputs[10:20], outputs=forged_outputs)
    finally:
        set_attest_audit_fraction(connect, profile, before)
    record = wait_for_audit(ledger, honest.attestation_id)
    audit = record["audit"]
    assert audit["state"] == "CONFIRMED", audit
    assert audit["independent"] and audit["verifier_mspid"] == "Org2MSP"  # the attester is Org1's
    assert audit["check"]["evidence"]["exact"] and audit["check"]["evidence"]["output_root"] == honest.root
    record = wait_for_audit(ledger, forged.attestation_id)
    assert record["audit"]["state"] == "DISPUTED", record["audit"]
    evidence = record["audit"]["check"]["evidence"]
    assert evidence["mismatched"] == 1 and evidence["output_root"] != forged.root
    # Offline the forged receipt still shows what was signed; online the dispute is reported.
    report = receipts.verify(forged.receipt)
    assert report.ok
    qscc = submitter.network.get_contract("qscc")
    online = receipts.check_online(report, forged.receipt, ledger, qscc, profile.channel)
    assert online.online["audit"] == "DISPUTED" and "ledger" in parts(online)
    clean = receipts.check_online(receipts.verify(honest.receipt), honest.receipt, ledger, qscc, profile.channel)
    assert clean.ok and clean.online["audit"] == "CONFIRMED" and clean.online["block_hash_matches"]
