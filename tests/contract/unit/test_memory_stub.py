"""The in-memory ledger keeps the Fabric semantics the contract relies on."""
from __future__ import annotations

import pytest

from tests.fakes.memory_ledger import MemoryLedger, MVCCReadConflict
from trainproof.chaincode.shim.stub import ChaincodeError, Creator, Stub

pytestmark = pytest.mark.unit
ME = Creator("Org1MSP", b"-")


def run(ledger: MemoryLedger, body, **kw) -> bytes:
    def contract(stub: Stub) -> bytes:
        return body(stub) or b"ok"
    return ledger.invoke(contract, ME, "f", [], **kw)


def put(ledger: MemoryLedger, **values: str) -> None:
    run(ledger, lambda s: [s.put_state(k, v.encode()) for k, v in values.items()] and None)


def test_reads_see_committed_state_only():
    ledger = MemoryLedger()
    seen = []

    def body(stub):
        stub.put_state("a", b"1")
        seen.append(stub.get_state("a"))
    run(ledger, body)
    assert seen == [None]
    assert ledger.committed("a") == b"1"


def test_failed_transaction_applies_nothing_and_keeps_its_writes_for_inspection():
    ledger = MemoryLedger()
    put(ledger, a="1")

    def contract(stub):
        stub.put_state("a", b"2")
        stub.set_event("E", b"{}")
        raise ChaincodeError("no")
    before = ledger.snapshot()
    endorsement = ledger.endorse(contract, ME, "f", [])
    assert endorsement.error is not None and endorsement.stub.writes == {"a": b"2"}
    with pytest.raises(ChaincodeError):
        ledger.commit(endorsement)
    assert ledger.snapshot() == before


def test_history_is_newest_first_with_tx_ids_timestamps_and_deletes():
    ledger = MemoryLedger()
    run(ledger, lambda s: s.put_state("k", b"1"), tx_id="t1", timestamp=10.0)
    run(ledger, lambda s: s.put_state("k", b"2"), tx_id="t2", timestamp=20.0)
    run(ledger, lambda s: s.del_state("k"), tx_id="t3", timestamp=30.0)
    seen = []
    run(ledger, lambda s: seen.extend(s.get_history_for_key("k")))
    assert [(m.tx_id, m.value, m.timestamp, m.is_delete) for m in seen] == [
        ("t3", b"", 30.0, True), ("t2", b"2", 20.0, False), ("t1", b"1", 10.0, False)]
    assert ledger.committed("k") is None


def test_plain_ranges_skip_composite_keys_and_partial_keys_match_whole_attributes():
    ledger = MemoryLedger()
    ck = Stub.create_composite_key
    run(ledger, lambda s: [s.put_state(k, b"x") for k in
                           ["b", "a", ck("t", ["x", "1"]), ck("t", ["x", "2"]), ck("t", ["xy", "1"])]] and None)
    out = {}

    def body(stub):
        out["plain"] = [k for k, _ in stub.get_state_by_range("", "")]
        out["bounded"] = [k for k, _ in stub.get_state_by_range("a", "b")]
        out["partial"] = [Stub.split_composite_key(k) for k, _ in stub.get_state_by_partial_composite_key("t", ["x"])]
    run(ledger, body)
    assert out["plain"] == ["a", "b"]
    assert out["bounded"] == ["a"]
    assert out["partial"] == [("t", ["x", "1"]), ("t", ["x", "2"])]


def test_pagination_hands_out_bookmarks_until_done_and_forbids_later_writes():
    ledger = MemoryLedger()
    ck = Stub.create_composite_key
    run(ledger, lambda s: [s.put_state(ck("t", [str(i)]), b"x") for i in range(5)] and None)
    pages = []

    def body(stub):
        bookmark = ""
        while True:
            rows, bookmark = stub.get_state_by_partial_composite_key_with_pagination("t", [], 2, bookmark)
            pages.append([Stub.split_composite_key(k)[1][0] for k, _ in rows])
            if not bookmark:
                break
        with pytest.raises(ChaincodeError, match="paginated"):
            stub.put_state("z", b"1")
    run(ledger, body)
    assert pages == [["0", "1"], ["2", "3"], ["4"]]


def test_one_event_per_transaction_the_last_wins():
    ledger = MemoryLedger()
    run(ledger, lambda s: (s.set_event("A", b"1"), s.set_event("B", b"2")) and None, tx_id="t")
    assert ledger.events == [("t", "B", b"2")]


def test_mvcc_conflict_on_a_key_read_then_changed_including_absent_keys():
    ledger = MemoryLedger()

    def reader_writer(stub):
        stub.get_state("k")
        stub.put_state("other", b"1")
        return b"ok"
    first = ledger.endorse(reader_writer, ME, "f", [])
    run(ledger, lambda s: s.put_state("k", b"new"))
    with pytest.raises(MVCCReadConflict):
        ledger.commit(first)
    assert ledger.committed("other") is None


def test_phantom_read_conflict_on_a_range():
    ledger = MemoryLedger()
    ck = Stub.create_composite_key

    def scanner(stub):
        list(stub.get_state_by_partial_composite_key("t", []))
        stub.put_state("done", b"1")
        return b"ok"
    first = ledger.endorse(scanner, ME, "f", [])
    run(ledger, lambda s: s.put_state(ck("t", ["new"]), b"x"))
    with pytest.raises(MVCCReadConflict, match="phantom"):
        ledger.commit(first)


def test_blind_writes_do_not_conflict_and_duplicate_tx_ids_are_refused():
    ledger = MemoryLedger()
    a = ledger.endorse(lambda s: s.put_state("k", b"a") or b"ok", ME, "f", [])
    b = ledger.endorse(lambda s: s.put_state("k", b"b") or b"ok", ME, "f", [])
    ledger.commit(a)
    ledger.commit(b)
    assert ledger.committed("k") == b"b"
    with pytest.raises(MVCCReadConflict, match="duplicate"):
        run(ledger, lambda s: None, tx_id=a.stub.tx_id)


def test_empty_values_are_refused_because_fabric_reads_them_as_deletes():
    with pytest.raises(ValueError):
        run(MemoryLedger(), lambda s: s.put_state("k", b""))
