"""Attestations (signed outputs, issue 17) in the explorer, without the network: the projection follows
an attestation's record through its audit (AWAITING_DRAW → AUDITING → DISPUTED) on SQLite and
PostgreSQL, an index made before attestations were projected gets them from its stored blocks, and
the pages say DISPUTED wherever the attestation is shown, with the ledger's text escaped.

Write sets are built from the contract's own key layout (chaincode/contract/keys.py) and records
of the shape attestations.py writes; the live chain's attestations are covered by tests/e2e."""
from __future__ import annotations

import base64
import copy
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2

from trainproof.chaincode.contract import keys
from trainproof.explorer import pages
from trainproof.explorer.db import SCHEMA_VERSION, Database
from trainproof.explorer.decode import Tx, Write
from trainproof.explorer.indexer import Indexer
from trainproof.explorer.project import project
from trainproof.explorer.web import App, serve

pytestmark = pytest.mark.unit

CC = "trainproof"
MODEL = "33333333-3333-3333-3333-333333333333"
AID = "a1" * 32
ATTESTER = {"fingerprint": "f1" * 32, "mspid": "Org1MSP", "common_name": "user1"}
VERIFIER = {"fingerprint": "f2" * 32, "mspid": "Org2MSP", "common_name": "verifier2"}
EVIL = '<script>alert("x")</script>'


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def awaiting(attester: dict[str, str] = ATTESTER, note: str | None = None) -> dict[str, Any]:
    """The record AttestOutput writes."""
    record = {
        "attestation_id": AID, "model_id": MODEL, "weights_sha256": "c3" * 32, "count": 10, "root": "d4" * 32,
        "batch": {"sha256": "e5" * 32, "size": 4096, "uri": f"s3://trainproof/sha256/{'e5' * 32}"},
        "execution": {"device": "cpu", "torch": "2.4"},
        "model": {"name": "digits", "version": "1", "status": "VERIFIED", "certificate_sha256": "b2" * 32,
                  "final_snapshot": 3},
        "attester": attester, "tx_id": AID, "timestamp": 1000.0,
        "audit": {"state": "AWAITING_DRAW", "fraction": 1.0, "deadline_seconds": 600, "max_reassignments": 2},
    }
    if note is not None:
        record["note"] = note
    return record


def auditing(record: dict[str, Any]) -> dict[str, Any]:
    """The record AuditAttestation writes when the draw samples it."""
    out = copy.deepcopy(record)
    out["audit"].update({"state": "AUDITING", "seed": "00" * 32, "withheld": [], "draw": 12, "threshold": 1000000,
                         "drawn_by": {**VERIFIER, "role": "verifier"}, "drawn_tx": "a3" * 32, "drawn_at": 1010.0,
                         "verifier": VERIFIER["fingerprint"], "verifier_mspid": "Org2MSP", "independent": True,
                         "round": 0, "deadline": 1610.0, "previous": []})
    return out


def disputed(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """The record ConfirmAttestation writes for a DISPUTED check."""
    out = copy.deepcopy(record)
    evidence = {"output_root": "99" * 32, "exact": False, "max_abs_diff": 0.5, "tolerance": 0.0, "checked": 10,
                "mismatched": 1, "reason": reason}
    out["audit"].update({"state": "DISPUTED", "check": {
        "verdict": "DISPUTED", "evidence": evidence, "verifier": {**VERIFIER, "name": "verifier-org2"},
        "tx_id": "a4" * 32, "timestamp": 1020.0}})
    return out


def put(key: str, value: Any) -> tuple[str, Write]:
    return CC, Write(key, value if isinstance(value, bytes) else canonical(value), False)


def delete(key: str) -> tuple[str, Write]:
    return CC, Write(key, b"", True)


def tx(tx_id: str, function: str, writes: list[tuple[str, Write]], timestamp: float, index: int = 0) -> Tx:
    # A block's write set is sorted by key, as the peer's is.
    return Tx(index, tx_id, "ENDORSER_TRANSACTION", timestamp, None, b"", b"", b"", chaincode=CC, function=function,
              writes=sorted(writes, key=lambda w: w[1].key))


def attest_tx(record: dict[str, Any]) -> Tx:
    return tx(AID, "AttestOutput", [put(keys.attestation(AID), record),
                                    put(keys.audit_state("AWAITING_DRAW", AID), keys.INDEX_VALUE),
                                    put(keys.model_attestation(MODEL, AID), keys.INDEX_VALUE)], 1000.0)


def audit_txs(reason: str, note: str | None = None) -> list[tuple[int, Tx, dict[str, Any]]]:
    """(block, transaction, the record after it): AttestOutput, a seed commitment, the draw, the check."""
    first = awaiting(note=note)
    second = auditing(first)
    third = disputed(second, reason)
    return [
        (5, attest_tx(first), first),
        (6, tx("a2" * 32, "CommitSeed", [put(keys.seed_round(AID), {"commitments": {"Org1MSP": "11" * 32}})], 1005.0),
         first),
        (7, tx("a3" * 32, "AuditAttestation", [put(keys.attestation(AID), second),
                                               delete(keys.audit_state("AWAITING_DRAW", AID)),
                                               put(keys.audit_state("AUDITING", AID), keys.INDEX_VALUE)], 1010.0), second),
        (8, tx("a4" * 32, "ConfirmAttestation", [put(keys.attestation(AID), third),
                                                 delete(keys.audit_state("AUDITING", AID)),
                                                 put(keys.audit_state("DISPUTED", AID), keys.INDEX_VALUE)], 1020.0), third),
    ]


def test_the_row_follows_the_record_through_its_audit(empty_db):
    db = empty_db
    expected = {
        5: ("AWAITING_DRAW", "", "", "", ""),
        6: ("AWAITING_DRAW", "", "", "", ""),
        7: ("AUDITING", VERIFIER["fingerprint"], "Org2MSP", "", ""),
        8: ("DISPUTED", VERIFIER["fingerprint"], "Org2MSP", "DISPUTED", "one output differs by 0.5"),
    }
    for block, t, record in audit_txs("one output differs by 0.5"):
        with db.transaction() as cur:
            project(cur, t, block, CC)
        row = db.row("SELECT * FROM attestations WHERE attestation_id = ?", (AID,))
        assert (row["audit_state"], row["verifier"], row["verifier_msp"], row["verdict"], row["reason"]) == expected[block]
        assert json.loads(row["record"]) == record
        assert row["block_number"] == 5 and row["tx_id"] == AID  # the AttestOutput's, kept
        assert row["updated_block"] == (5 if block == 6 else block)  # a seed commitment leaves the record alone
        assert (row["model_id"], row["count"], row["root"], row["batch_sha256"]) == (MODEL, 10, "d4" * 32, "e5" * 32)
        assert (row["attester_msp"], row["attester_cn"], row["attester_fingerprint"]) == ("Org1MSP", "user1", "f1" * 32)
    history = db.rows("SELECT block_number, tx_id FROM attestation_txs WHERE attestation_id = ? ORDER BY block_number",
                      (AID,))
    assert [(h["block_number"], h["tx_id"][:2]) for h in history] == [(5, "a1"), (6, "a2"), (7, "a3"), (8, "a4")]
    assert db.scalar("SELECT COUNT(*) FROM attestations") == 1
    assert db.scalar("SELECT COUNT(*) FROM model_txs") == 0  # a model's own history stays its records'


def test_an_unchecked_audit_keeps_why(empty_db):
    record = auditing(awaiting())
    record["audit"].update({"state": "UNCHECKED", "reason": "no check after 3 assignment(s); the audit gave up"})
    with empty_db.transaction() as cur:
        project(cur, attest_tx(awaiting()), 5, CC)
        project(cur, tx("a5" * 32, "AuditAttestation", [put(keys.attestation(AID), record)], 2000.0), 9, CC)
    row = empty_db.row("SELECT audit_state, verdict, reason, block_number FROM attestations")
    assert row == {"audit_state": "UNCHECKED", "verdict": "", "reason": record["audit"]["reason"], "block_number": 5}


# ---- an index made at schema 1 -------------------------------------------------------------------------

def _envelope(t: Tx) -> bytes:
    """An endorser transaction carrying ``t``'s call and write set (unsigned: only decoding is exercised)."""
    kv = kv_rwset_pb2.KVRWSet(writes=[kv_rwset_pb2.KVWrite(key=w.key, value=w.value, is_delete=w.is_delete)
                                      for _, w in t.writes])
    results = rwset_pb2.TxReadWriteSet(ns_rwset=[rwset_pb2.NsReadWriteSet(namespace=CC, rwset=kv.SerializeToString())])
    action = proposal_pb2.ChaincodeAction(results=results.SerializeToString(), chaincode_id=chaincode_pb2.ChaincodeID(name=CC))
    spec = chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=chaincode_pb2.ChaincodeSpec(
        chaincode_id=chaincode_pb2.ChaincodeID(name=CC), input=chaincode_pb2.ChaincodeInput(args=[t.function.encode()])))
    payload = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=proposal_pb2.ChaincodeProposalPayload(input=spec.SerializeToString()).SerializeToString(),
        action=transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=proposal_response_pb2.ProposalResponsePayload(
            extension=action.SerializeToString()).SerializeToString()))
    transaction = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(payload=payload.SerializeToString())])
    channel = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, tx_id=t.tx_id, channel_id="trainproof")
    channel.timestamp.seconds = int(t.timestamp)
    header = common_pb2.Header(channel_header=channel.SerializeToString(),
                               signature_header=common_pb2.SignatureHeader().SerializeToString())
    return common_pb2.Envelope(payload=common_pb2.Payload(header=header, data=transaction.SerializeToString())
                               .SerializeToString()).SerializeToString()


def test_an_index_from_before_attestations_gets_them_from_its_blocks(empty_db):
    db = empty_db
    with db.transaction() as cur:
        for number, t, _ in audit_txs("recomputed outputs differ"):
            block = common_pb2.Block()
            block.header.number = number
            block.data.data.append(_envelope(t))
            while len(block.metadata.metadata) <= common_pb2.TRANSACTIONS_FILTER:
                block.metadata.metadata.append(b"")
            block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes([transaction_pb2.VALID])
            cur.upsert("blocks", {"number": number, "hash": "", "previous_hash": "", "data_hash": "", "tx_count": 1,
                                  "timestamp": t.timestamp, "orderer_signatures": "[]", "is_config": 0, "indexed_at": 0.0,
                                  "raw": base64.b64encode(block.SerializeToString()).decode()}, ["number"])
            cur.upsert("txs", {"block_number": number, "tx_index": 0, "tx_id": t.tx_id, "type": t.type,
                               "timestamp": t.timestamp, "creator_msp": "", "creator_subject": "",
                               "creator_fingerprint": "", "creator_ok": 1, "creator_why": "", "validation_code": "VALID",
                               "chaincode": CC, "function": t.function, "args": "[]", "response_status": 200,
                               "response_message": "", "event_name": "", "event_payload": "", "rwset": "[]"},
                       ["block_number", "tx_index"])
        cur.upsert("meta", {"key": "schema_version", "value": "1"}, ["key"])  # as the older explorer left it
    Indexer(db, CC)
    row = db.row("SELECT audit_state, reason, block_number, updated_block FROM attestations WHERE attestation_id = ?", (AID,))
    assert row == {"audit_state": "DISPUTED", "reason": "recomputed outputs differ", "block_number": 5, "updated_block": 8}
    assert db.scalar("SELECT COUNT(*) FROM attestation_txs") == 4
    assert db.meta("schema_version") == SCHEMA_VERSION
    Indexer(db, CC)  # once only: a second start finds schema 2 and leaves the rows alone
    assert db.scalar("SELECT COUNT(*) FROM attestation_txs") == 4


# ---- the pages -------------------------------------------------------------------------------------

@pytest.fixture
def disputed_db(tmp_path):
    """A model whose attestation went to DISPUTED; the model's name, the attester's CN, the note and the
    verifier's reason are all markup a submitter or verifier could write."""
    db = Database(tmp_path / "pages.db")
    with db.transaction() as cur:
        cur.upsert("models", {"model_id": MODEL, "name": EVIL, "version": "1", "parent_id": None,
                              "submitter_fingerprint": ATTESTER["fingerprint"], "submitter_msp": "Org1MSP",
                              "submitter_cn": EVIL, "status": "VERIFIED", "reason": "", "intervals": 4,
                              "state": json.dumps({"certificate_sha256": "b2" * 32}), "certificate": json.dumps({}),
                              "submitted_tx": "00" * 32, "submitted_at": 900.0, "updated_at": 950.0,
                              "updated_block": 4}, ["model_id"])
        records = audit_txs(EVIL, note=EVIL)
        for number, t, _ in records:
            evil_attester = {**ATTESTER, "common_name": EVIL}
            for _, w in t.writes:  # the attester's CN as the ledger would carry it
                if w.key == keys.attestation(AID):
                    value = json.loads(w.value)
                    value["attester"] = evil_attester
                    w.value = canonical(value)
            project(cur, t, number, CC)
            cur.upsert("txs", {"block_number": number, "tx_index": 0, "tx_id": t.tx_id, "type": t.type,
                               "timestamp": t.timestamp, "creator_msp": "Org1MSP", "creator_subject": "",
                               "creator_fingerprint": "", "creator_ok": 1, "creator_why": "", "validation_code": "VALID",
                               "chaincode": CC, "function": t.function, "args": "[]", "response_status": 200,
                               "response_message": "", "event_name": "", "event_payload": "", "rwset": "[]"},
                       ["block_number", "tx_index"])
    yield db
    db.close()


def _escaped(html: str) -> None:
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html


def test_the_pages_say_disputed_with_escaped_text(disputed_db):
    db = disputed_db
    httpd = serve(App(db), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def get(path: str) -> str:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            assert r.status == 200, path
            return r.read().decode()

    try:
        model = get(f"/model/{MODEL}")
        _escaped(model)
        table = model.split('id=model-attestations')[1].split("</table>")[0]
        assert '<tr class="disputed">' in table and '<span class="badge bad">DISPUTED</span>' in table
        assert '<span class="disputed-reason">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</span>' in table
        assert f'href="/attestations/{AID}"' in table and "Org1MSP &lt;script&gt;" in table
        assert 'id="disputed-count">1 of this model' in model
        assert 'id="disputed-count"' in get(f"/model/{MODEL}/live")  # the part a model page refreshes live

        page = get(f"/attestations/{AID}")
        _escaped(page)
        banner = page.split('id="disputed-banner"')[1].split("</div>")[0]
        assert "DISPUTED: verifier verifier-org2 (Org2MSP) recomputed the outputs" in banner
        assert "1 of 10 outputs differ" in banner and "reason: &lt;script&gt;alert(&quot;x&quot;)" in banner
        assert 'id="check-verdict"><span class="badge bad">DISPUTED</span>' in page
        assert '<span class="flag">≠ the attested root</span>' in page
        history = page.split("id=attestation-history")[1].split("</table>")[0]
        assert [f.split("<")[0] for f in history.split("<td>")[1:] if f.split("<")[0] in
                ("AttestOutput", "CommitSeed", "AuditAttestation", "ConfirmAttestation")] == \
            ["AttestOutput", "CommitSeed", "AuditAttestation", "ConfirmAttestation"]
        assert 'href="/block/5"' in page and f'href="/tx/{"a4" * 32}"' in page
        assert "<title>attestation a1a1a1a1a1a1 DISPUTED" in page

        listing = get("/attestations?audit=DISPUTED")
        _escaped(listing)
        assert '<tr class="disputed">' in listing and f'href="/model/{MODEL}"' in listing
        assert AID not in get("/attestations?audit=CONFIRMED")
        assert f'/attestations/{AID}' in get(f"/tx/{'a3' * 32}")
        assert 'id="n-disputed">1<' in get("/")
        with urllib.request.urlopen(f"{base}/search?q={AID}", timeout=30) as r:  # the id leads to its page
            assert r.url.endswith(f"/attestations/{AID}")
        assert f'/attestations/{AID}' in get(f"/search?q={'d4' * 32}")  # and so does its root
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/attestations/{'ff' * 32}", timeout=30)
        assert missing.value.code == 404
    finally:
        httpd.shutdown()


def test_a_model_without_attestations_says_so(tmp_path):
    db = Database(tmp_path / "none.db")
    assert "no outputs of this model are attested" in pages.model_attestations(db, MODEL)
    db.close()
