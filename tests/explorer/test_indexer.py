"""The indexer on the real channel's blocks, on SQLite and PostgreSQL: every check passes on the
genuine chain, an altered block is flagged and not accepted, and a restart resumes exactly."""
from __future__ import annotations

import copy
import itertools
import json
import threading

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from tests.explorer.conftest import chain_height, wait_until
from trainproof.contract import TrainproofContract
from trainproof.explorer.decode import block_hash, data_hash
from trainproof.explorer.indexer import Indexer

pytestmark = [pytest.mark.explorer, pytest.mark.network]


def _counts(db) -> dict[str, int]:
    return {t: db.scalar(f"SELECT COUNT(*) FROM {t}") for t in
            ("blocks", "txs", "endorsements", "models", "intervals", "votes", "decisions", "verifiers", "model_txs", "hashes")}


def test_follows_the_network_and_checks_every_block(empty_db, network, contract, chain, profile):
    """From block 0 off the peers' Deliver service: hash chain, data hashes, orderer, creator and
    endorser signatures all verify; trainproof's records match what the contract answers."""
    indexer = Indexer(empty_db, profile.chaincode)
    stop = threading.Event()
    follower = threading.Thread(target=indexer.follow, args=(network, stop), daemon=True)
    follower.start()
    try:
        wait_until(lambda: indexer.next_block >= len(chain), 120, "the indexer to catch up")
    finally:
        stop.set()
        follower.join(10)
    db = empty_db
    blocks = db.rows("SELECT number, hash, previous_hash, orderer_signatures FROM blocks ORDER BY number")
    assert [b["number"] for b in blocks] == list(range(len(blocks)))
    assert all(b["previous_hash"] == a["hash"] for a, b in zip(blocks, blocks[1:]))
    assert all(b["hash"] == block_hash(chain[b["number"]].header).hex() for b in blocks[: len(chain)])
    assert all(json.loads(b["orderer_signatures"]) and all(o["ok"] for o in json.loads(b["orderer_signatures"]))
               for b in blocks[1:])
    assert db.scalar("SELECT COUNT(*) FROM flagged_blocks") == 0
    assert db.scalar("SELECT COUNT(*) FROM txs WHERE creator_ok = 0") == 0
    assert db.scalar("SELECT COUNT(*) FROM endorsements WHERE ok = 0") == 0
    # Transactions that need both orgs (SubmitVote) carry one verified endorsement of each.
    vote = db.row("SELECT block_number, tx_index FROM txs WHERE function = 'SubmitVote' AND validation_code = 'VALID'")
    msps = {r["mspid"] for r in db.rows("SELECT mspid FROM endorsements WHERE block_number = ? AND tx_index = ? AND ok = 1",
                                        (vote["block_number"], vote["tx_index"]))}
    assert msps == {"Org1MSP", "Org2MSP"}
    ledger = TrainproofContract(contract)
    rejected = db.row("SELECT model_id, reason, state FROM models WHERE status = 'REJECTED' AND name = 'digits-backdoor'")
    state = ledger.model_state(rejected["model_id"])
    assert state["status"] == "REJECTED" and state["reason"] == rejected["reason"]
    bad = json.loads(rejected["state"])["rejected_intervals"]
    decided = db.rows("SELECT interval, outcome FROM decisions WHERE model_id = ? AND outcome = 'REJECTED'",
                      (rejected["model_id"],))
    assert [d["interval"] for d in decided] == bad
    votes = db.rows("SELECT verdict FROM votes WHERE model_id = ? AND interval = ?", (rejected["model_id"], bad[0]))
    assert sum(v["verdict"] == "REJECT" for v in votes) >= 2
    active = ledger.list_verifiers(status="ACTIVE")
    assert db.scalar("SELECT COUNT(*) FROM verifiers WHERE status = 'ACTIVE'") == len(active)
    assert db.row("SELECT certificate FROM models WHERE model_id = ?", (rejected["model_id"],))["certificate"]


def test_restart_resumes_exactly_after_the_checkpoint(empty_db, network, chain, tmp_path, profile):
    """Stopped halfway and started again (a new Indexer on the same database, blocks from the
    peer from its checkpoint): the same rows as one pass, no block twice, none missing."""
    half = len(chain) // 2
    first = Indexer(empty_db, profile.chaincode)
    assert first.ingest_all(itertools.islice(chain, half)) is None
    assert first.next_block == half
    # A block delivered again (a reconnect replays from the checkpoint) changes nothing.
    before = _counts(empty_db)
    assert first.ingest(chain[half - 1]).duplicate
    assert first.ingest(chain[half + 1]).reasons == [f"gap: block {half} is next"]
    assert _counts(empty_db) == before
    resumed = Indexer(empty_db, profile.chaincode)  # as after a restart: config and checkpoint from the database
    assert resumed.next_block == half and resumed.config is not None
    stream = network.blocks(start_block=resumed.next_block)
    try:
        assert resumed.ingest_all(itertools.islice(stream, len(chain) - half)) is None
    finally:
        stream.close()
    from trainproof.explorer.db import Database

    once = Database(tmp_path / "once.db")
    assert Indexer(once, profile.chaincode).ingest_all(chain) is None
    assert _counts(empty_db) == _counts(once)
    numbers = [r["number"] for r in empty_db.rows("SELECT number FROM blocks ORDER BY number")]
    assert numbers == list(range(len(chain)))
    once.close()


def _first_vote(chain) -> tuple[int, int]:
    """(block, position) of the chain's first SubmitVote: a VALID transaction endorsed by both orgs."""
    for block in chain:
        for i, raw in enumerate(block.data.data):
            payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(raw).payload)
            if b"SubmitVote" in payload.data:
                return block.header.number, i
    raise AssertionError("no SubmitVote in the chain")


def _reseal(block: common_pb2.Block) -> None:
    """Recompute the data hash, as a forger would, so only the signatures can tell."""
    block.header.data_hash = data_hash(block)


def _forge_endorsement(block: common_pb2.Block, i: int) -> None:
    """One endorser's signature altered (still well-formed DER), the data hash recomputed."""
    env = common_pb2.Envelope.FromString(block.data.data[i])
    payload = common_pb2.Payload.FromString(env.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    sig = bytearray(action.action.endorsements[0].signature)
    sig[-1] ^= 0x01
    action.action.endorsements[0].signature = bytes(sig)
    tx.actions[0].payload = action.SerializeToString()
    payload.data = tx.SerializeToString()
    env.payload = payload.SerializeToString()
    block.data.data[i] = env.SerializeToString()
    _reseal(block)


def _forge_previous_hash(block: common_pb2.Block, i: int) -> None:
    block.header.previous_hash = bytes(32)


def _forge_write(block: common_pb2.Block, i: int) -> None:
    """A vote's verdict flipped in the block, data hash left alone."""
    raw = block.data.data[i]
    flipped = raw.replace(b'"verdict":"REJECT"', b'"verdict":"ACCEPT"') if b'"verdict":"REJECT"' in raw \
        else raw.replace(b'"verdict":"ACCEPT"', b'"verdict":"REJECT"')
    assert flipped != raw
    block.data.data[i] = flipped


@pytest.mark.parametrize("forge, expected", [
    (_forge_endorsement, "endorsement by"),
    (_forge_previous_hash, "previous_hash"),
    (_forge_write, "data_hash"),
], ids=["endorser-signature", "previous-hash", "write-set"])
def test_an_altered_block_is_flagged_not_accepted(empty_db, chain, forge, expected, profile):
    number, position = _first_vote(chain)
    indexer = Indexer(empty_db, profile.chaincode)
    assert indexer.ingest_all(chain[:number]) is None
    before = _counts(empty_db)
    forged = copy.deepcopy(chain[number])
    forge(forged, position)
    outcome = indexer.ingest(forged)
    assert not outcome.accepted and any(expected in r for r in outcome.reasons), outcome.reasons
    if forge is not _forge_previous_hash:  # a changed header also breaks the orderers' signature on it
        assert forge is _forge_write or any("orderer signature" in r for r in outcome.reasons), outcome.reasons
    assert _counts(empty_db) == before and indexer.next_block == number
    flagged = empty_db.row("SELECT number, hash, reasons FROM flagged_blocks")
    assert flagged["number"] == number and expected in flagged["reasons"]
    # The genuine block, delivered again, is accepted and the index goes on.
    assert indexer.ingest(chain[number]).accepted
    assert indexer.next_block == number + 1


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
