"""Chaincode events and full blocks: delivered after a submit, and resumed from a checkpoint
without duplicates or gaps."""
from __future__ import annotations

import json
import queue
import threading
import uuid

import pytest

from tests.network.ledger import height
from trainproof.gateway import FileCheckpointer

pytestmark = pytest.mark.network


def _collect(stream, out: queue.Queue) -> threading.Thread:
    thread = threading.Thread(target=lambda: [out.put(e) for e in stream], daemon=True)
    thread.start()
    return thread


def _next_value_put(events: queue.Queue, timeout: float = 30):
    while True:
        event = events.get(timeout=timeout)
        if event.event_name == "ValuePut":
            return event


def test_event_received_after_submit(profile, connect, contract):
    network = connect().get_network(profile.channel)
    stream = network.chaincode_events(profile.chaincode, start_block=height(connect(), profile.channel))
    events: queue.Queue = queue.Queue()
    _collect(stream, events)
    key = f"e-{uuid.uuid4()}"
    submitted = contract.submit_async("PutValue", [key, "evented"])
    assert submitted.get_status().successful
    event = _next_value_put(events)
    stream.close()
    assert json.loads(event.payload) == {"key": key, "value": "evented"}
    assert event.transaction_id == submitted.tx_id
    assert event.chaincode_name == profile.chaincode


def test_restart_from_checkpoint_has_no_duplicate(profile, connect, contract, tmp_path):
    checkpoint_file = tmp_path / "checkpoint.json"
    start = height(connect(), profile.channel)
    first_key, second_key = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    contract.submit("PutValue", [first_key, "1"])

    # First "process": handle the first event, checkpoint it, stop.
    checkpointer = FileCheckpointer(checkpoint_file)
    stream = connect().get_network(profile.channel).chaincode_events(profile.chaincode, start_block=start,
                                                                      checkpointer=checkpointer)
    events: queue.Queue = queue.Queue()
    _collect(stream, events)
    first = _next_value_put(events)
    assert json.loads(first.payload)["key"] == first_key
    checkpointer.checkpoint_chaincode_event(first)
    stream.close()

    contract.submit("PutValue", [second_key, "2"])

    # Second "process": a new checkpointer read from the file resumes right after the first event.
    resumed = FileCheckpointer(checkpoint_file)
    assert resumed.transaction_id == first.transaction_id
    stream = connect().get_network(profile.channel).chaincode_events(profile.chaincode, checkpointer=resumed)
    events = queue.Queue()
    _collect(stream, events)
    received = _next_value_put(events)
    stream.close()
    assert json.loads(received.payload)["key"] == second_key


def test_full_blocks_resume_after_a_checkpoint_with_no_gap(profile, connect, contract, tmp_path):
    """The block reader the audit explorer builds on: whole blocks from a number, checkpointed."""
    start = height(connect(), profile.channel)
    for i in range(3):
        contract.submit("PutValue", [f"blk-{uuid.uuid4()}", str(i)])
    checkpointer = FileCheckpointer(tmp_path / "blocks.json")
    stream = connect().get_network(profile.channel).blocks(start_block=start, checkpointer=checkpointer)
    received = []
    for block in stream:
        received.append(block.header.number)
        checkpointer.checkpoint_block(block.header.number)
        if len(received) == 2:
            break
    stream.close()
    assert received == [start, start + 1]
    resumed = connect().get_network(profile.channel).blocks(checkpointer=FileCheckpointer(tmp_path / "blocks.json"))
    following = next(iter(resumed))
    resumed.close()
    assert following.header.number == start + 2
    assert following.header.previous_hash  # a real block of the chain, not a status
