"""The indexer on the real channel's blocks, on SQLite and PostgreSQL: it follows the network from
block 0, resumes exactly after a restart, every check passes on the genuine chain, and an
altered block (endorser signature, previous hash, write set) is flagged and not accepted.

One pass over the chain per engine (the chain holds whatever the suite committed before)."""
from __future__ import annotations

import copy
import itertools
import json
import threading
import uuid

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from tests.explorer.conftest import chain_height, fetch_blocks, wait_until
from trainproof.contract import TrainproofContract
from trainproof.explorer.decode import block_hash, data_hash
from trainproof.explorer.indexer import Indexer

pytestmark = [pytest.mark.explorer, pytest.mark.network]
TABLES = ("blocks", "txs", "endorsements", "models", "assignments", "intervals", "votes", "decisions", "verifiers",
          "model_txs", "hashes")


def _counts(db) -> dict[str, int]:
    return {t: db.scalar(f"SELECT COUNT(*) FROM {t}") for t in TABLES}


def _reseal(block: common_pb2.Block) -> None:
    """Recompute the data hash, as a forger would, so only the signatures can tell."""
    block.header.data_hash = data_hash(block)


def _forge_endorsement(block: common_pb2.Block) -> None:
    """One endorser's signature altered (still well-formed DER), the data hash recomputed."""
    env = common_pb2.Envelope.FromString(block.data.data[0])
    payload = common_pb2.Payload.FromString(env.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    sig = bytearray(action.action.endorsements[0].signature)
    sig[-1] ^= 0x01
    action.action.endorsements[0].signature = bytes(sig)
    tx.actions[0].payload = action.SerializeToString()
    payload.data = tx.SerializeToString()
    env.payload = payload.SerializeToString()
    block.data.data[0] = env.SerializeToString()
    _reseal(block)


def _forge_previous_hash(block: common_pb2.Block) -> None:
    block.header.previous_hash = bytes(32)


def _forge_write(block: common_pb2.Block) -> None:
    """The written value changed in the block, the data hash left alone."""
    raw = block.data.data[0]
    block.data.data[0] = raw.replace(b"explorer-test-value", b"explorer-test-VALUE")
    assert block.data.data[0] != raw


FORGERIES = [(_forge_endorsement, "endorsement by"), (_forge_previous_hash, "previous_hash"), (_forge_write, "data_hash")]


def test_follow_restart_check_and_refuse(empty_db, network, contract, chain, indexed, profile):
    db = empty_db
    # 1. Follow the network from block 0 (Deliver), stopped about halfway.
    first = Indexer(db, profile.chaincode)
    stop = threading.Event()
    follower = threading.Thread(target=first.follow, args=(network, stop), daemon=True)
    follower.start()
    try:
        wait_until(lambda: first.next_block >= len(chain) // 2, 300, "the indexer to reach half the chain")
    finally:
        stop.set()
        follower.join(10)
    half = first.next_block
    # A block delivered again changes nothing; one past the checkpoint is a gap, refused.
    before = _counts(db)
    assert first.ingest(chain[half - 1]).duplicate
    if half + 1 < len(chain):
        assert first.ingest(chain[half + 1]).reasons == [f"gap: block {half} is next"]
    assert _counts(db) == before
    # 2. A restart (a new Indexer: checkpoint and channel config from the database) resumes exactly there.
    resumed = Indexer(db, profile.chaincode)
    assert resumed.next_block == half and resumed.config is not None
    stream = network.blocks(start_block=resumed.next_block)
    try:
        assert resumed.ingest_all(itertools.islice(stream, len(chain) - half)) is None
    finally:
        stream.close()
    assert _counts(db) == _counts(indexed)  # the same rows as one uninterrupted pass
    # 3. Every check held on the genuine chain.
    blocks = db.rows("SELECT number, hash, previous_hash, orderer_signatures FROM blocks ORDER BY number")
    assert [b["number"] for b in blocks] == list(range(len(chain)))
    assert all(b["previous_hash"] == a["hash"] for a, b in zip(blocks, blocks[1:]))
    assert all(b["hash"] == block_hash(chain[b["number"]].header).hex() for b in blocks)
    assert all(all(o["ok"] for o in json.loads(b["orderer_signatures"])) and json.loads(b["orderer_signatures"])
               for b in blocks[1:])
    assert db.scalar("SELECT COUNT(*) FROM flagged_blocks") == 0
    assert db.scalar("SELECT COUNT(*) FROM txs WHERE creator_ok = 0") == 0
    assert db.scalar("SELECT COUNT(*) FROM endorsements WHERE ok = 0") == 0
    # 4. trainproof's records are the contract's: the demo's REJECTED model, its votes, the verifiers.
    ledger = TrainproofContract(contract)
    rejected = db.row("SELECT model_id, reason, state FROM models WHERE status = 'REJECTED' AND name = 'digits-backdoor' "
                      "ORDER BY submitted_at DESC")
    assert ledger.model_state(rejected["model_id"])["reason"] == rejected["reason"]
    bad = json.loads(rejected["state"])["rejected_intervals"]
    decided = db.rows("SELECT interval FROM decisions WHERE model_id = ? AND outcome = 'REJECTED'", (rejected["model_id"],))
    assert [d["interval"] for d in decided] == bad
    votes = db.rows("SELECT verdict, tx_id FROM votes WHERE model_id = ? AND interval = ?", (rejected["model_id"], bad[0]))
    assert sum(v["verdict"] == "REJECT" for v in votes) >= 2
    ends = db.rows("SELECT e.mspid FROM endorsements e JOIN txs t ON t.block_number = e.block_number "
                   "AND t.tx_index = e.tx_index WHERE t.tx_id = ? AND e.ok = 1", (votes[0]["tx_id"],))
    assert {e["mspid"] for e in ends} == {"Org1MSP", "Org2MSP"}
    assert db.scalar("SELECT COUNT(*) FROM verifiers WHERE status = 'ACTIVE'") == len(ledger.list_verifiers(status="ACTIVE"))
    # 5. The next block, altered three ways: flagged, not accepted; the genuine one then is.
    contract.submit("PutValue", [f"explorer-{uuid.uuid4()}", "explorer-test-value"])
    target = next(b for b in fetch_blocks(network, len(chain), chain_height(network))
                  if b"explorer-test-value" in b.data.data[0])
    resumed.ingest_all(fetch_blocks(network, len(chain), target.header.number))  # any blocks in between
    before = _counts(db)
    for forge, expected in FORGERIES:
        forged = copy.deepcopy(target)
        forge(forged)
        outcome = resumed.ingest(forged)
        assert not outcome.accepted and any(expected in r for r in outcome.reasons), (expected, outcome.reasons)
        if forge is _forge_endorsement:  # a resealed header also breaks the orderers' signature on it
            assert any("orderer signature" in r for r in outcome.reasons), outcome.reasons
        assert _counts(db) == before and resumed.next_block == target.header.number
        flagged = db.rows("SELECT reasons FROM flagged_blocks WHERE number = ?", (target.header.number,))
        assert any(expected in f["reasons"] for f in flagged)
    assert resumed.ingest(target).accepted and resumed.next_block == target.header.number + 1


def test_height_is_recorded_for_indexed_to(empty_db, network, profile):
    from trainproof.explorer.indexer import poll_height

    stop = threading.Event()
    thread = threading.Thread(target=poll_height, args=(empty_db, network, profile.channel, stop, 0.2), daemon=True)
    thread.start()
    try:
        wait_until(lambda: empty_db.meta("chain_height"), 30, "the height")
    finally:
        stop.set()
        thread.join(5)
    assert int(empty_db.meta("chain_height")) >= chain_height(network) - 5
