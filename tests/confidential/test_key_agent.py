"""The submitter's key agent (issue 18): it delivers a confidential model's keys to the verifiers
assigned now, and again to the newcomers a re-staffing brings in, on the in-memory ledger."""
from __future__ import annotations

import os

import pytest

from trainproof.chaincode.contract.config import MEMBERS_ENV
from trainproof.confidential.artifacts import KeyAgent, KeyStore, assigned_now
from trainproof.chaincode.shim.stub import ChaincodeError
from trainproof.contract import TrainproofContract
from tests.confidential.test_client import LedgerContract
from tests.contract.factories import Cast, Net, confirm_score_checks, model_payload, sealed_payload

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}


def submitted_with_agent(monkeypatch, tmp_path, intervals: int = 10) -> tuple[Net, dict, str, KeyAgent]:
    """A sealed model submitted by Org1's client, its keys in the submitter's store, and its key agent."""
    monkeypatch.setenv(MEMBERS_ENV, "Org1MSP,Org2MSP")
    net = Net()
    net.register_verifiers()
    payload = sealed_payload(model_payload(intervals=intervals))
    net.call(Cast.client1, "SubmitModel", payload)
    mid = payload["model_id"]
    store = KeyStore(tmp_path, "org1-user1")
    store.save(mid, {payload["dataset"]["sha256"]: os.urandom(32)} | {s["sha256"]: os.urandom(32) for s in payload["snapshots"]})
    ledger = TrainproofContract(LedgerContract(net, Cast.client1))
    agent = KeyAgent(ledger, store)
    return net, payload, mid, agent


def test_the_agent_delivers_after_the_assignment_and_after_each_restaffing(monkeypatch, tmp_path):
    # Five smooth intervals: one replayed (the audit), four score-checked. With the checks settled,
    # one interval is open, seated by two of Org2's four verifiers, so its re-staffing seats the other
    # two. (With two open intervals the two pairs could cover all four, and nobody new would be seated.)
    net, payload, mid, agent = submitted_with_agent(monkeypatch, tmp_path, intervals=5)
    ledger = agent.ledger
    assert agent.run_once() == {}, "nothing is assigned yet"

    confirm_score_checks(net, net.call(Cast.admin2, "AssignVerifiers", mid))
    first = set(assigned_now(ledger, mid))
    assert len(first) == 2
    out = agent.run_once()
    assert set(out[mid]) == first
    assert agent.run_once() == {}, "the same staffing is not delivered twice"
    some = next(iter(first))
    assert TrainproofContract(LedgerContract(net, BY_FP[some])).get_data_keys(mid)["keys"]

    net.ledger.clock += 86400 + 1  # nobody voted: every interval is re-staffed with fresh verifiers
    net.call(Cast.admin2, "ExpireAssignment", mid)
    now = set(assigned_now(ledger, mid))
    newcomers = now - first
    assert newcomers
    newcomer = TrainproofContract(LedgerContract(net, BY_FP[next(iter(newcomers))]))
    with pytest.raises(ChaincodeError, match="not delivered yet"):  # the in-memory ledger's own error
        newcomer.get_data_keys(mid)
    assert set(agent.run_once()[mid]) == now
    assert len(newcomer.get_data_keys(mid)["keys"]) == len(payload["snapshots"]) + 1


def test_the_agent_leaves_out_a_suspended_verifier_and_delivers_once_it_is_active_again(monkeypatch, tmp_path):
    net, payload, mid, agent = submitted_with_agent(monkeypatch, tmp_path)
    ledger = agent.ledger
    net.call(Cast.admin2, "AssignVerifiers", mid)
    assigned = sorted(assigned_now(ledger, mid))
    gone = BY_FP[assigned[0]]
    net.call(Cast.admin1 if gone.mspid == "Org1MSP" else Cast.admin2, "SetVerifierStatus", gone.fingerprint, "SUSPENDED")

    # One suspended verifier does not hold up the others' keys (the contract refuses a whole delivery naming it).
    assert set(agent.run_once()[mid]) == set(assigned) - {gone.fingerprint}
    with pytest.raises(ChaincodeError, match="is SUSPENDED; only ACTIVE verifiers receive data keys"):
        TrainproofContract(LedgerContract(net, gone)).get_data_keys(mid)
    assert TrainproofContract(LedgerContract(net, BY_FP[assigned[1]])).get_data_keys(mid)["keys"]
    assert agent.run_once() == {}

    net.call(Cast.admin1 if gone.mspid == "Org1MSP" else Cast.admin2, "SetVerifierStatus", gone.fingerprint, "ACTIVE")
    assert set(agent.run_once()[mid]) == set(assigned)
    assert TrainproofContract(LedgerContract(net, gone)).get_data_keys(mid)["role"] == "verifier"


def test_the_agent_delivers_the_final_key_to_an_attestations_auditor_once(monkeypatch, tmp_path):
    from tests.contract.unit.test_attestations import audited, settle

    net, payload, mid, agent = submitted_with_agent(monkeypatch, tmp_path, intervals=1)
    assert settle(net, mid) == "VERIFIED"
    assert agent.run_once() == {}, "a VERIFIED model with nothing audited needs no delivery"
    aid, audit = audited(net, payload)
    auditor = TrainproofContract(LedgerContract(net, BY_FP[audit["verifier"]]))

    assert agent.run_once() == {mid: [audit["verifier"]]}
    final = payload["snapshots"][-1]["sha256"]
    assert final in auditor.get_data_keys(mid)["keys"]
    assert agent.run_once() == {}, "the same audit is not delivered twice"


def test_the_agent_delivers_the_final_key_to_the_lineage_verifiers_of_its_own_and_its_grantees_children(
        monkeypatch, tmp_path):
    from tests.contract.factories import model_payload
    from tests.contract.unit.test_attestations import settle

    net, payload, mid, agent = submitted_with_agent(monkeypatch, tmp_path, intervals=1)
    assert settle(net, mid) == "VERIFIED"
    final = payload["snapshots"][-1]["sha256"]

    def child_of(submitter, same_file: bool = False) -> tuple[str, set[str]]:
        child = model_payload(parent=mid, intervals=2)
        if same_file:
            child["snapshots"][0] = {**child["snapshots"][0], "sha256": final, "uri": f"s3://snapshots/sha256/{final}"}
        net.call(submitter, "SubmitModel", child)
        out = net.call(Cast.admin1 if submitter.mspid == "Org2MSP" else Cast.admin2, "AssignVerifiers", child["model_id"])
        return child["model_id"], set(next(r["verifiers"] for r in out["intervals"] if r["interval"] == 0))

    own, seats = child_of(Cast.client1)
    child_of(Cast.client1, same_file=True)  # its verifiers compare by hash: no key
    stranger, stranger_seats = child_of(Cast.client2)  # not granted: its verifiers get nothing
    assert set(agent.run_once()[mid]) == seats
    for fp in seats:
        mine = TrainproofContract(LedgerContract(net, BY_FP[fp])).get_data_keys(mid, own)
        assert mine["role"] == "lineage" and list(mine["keys"]) == [final]
    assert agent.run_once() == {}, "the same seats are not delivered twice"

    net.call(Cast.client1, "GrantAccess", mid, {"fingerprint": Cast.client2.fingerprint, "mspid": "Org2MSP"})
    assert set(agent.run_once()[mid]) == stranger_seats, "a grantee's child is the submitter's to open"


def test_the_agent_delivers_a_sealed_batch_files_key_to_the_attestations_auditor_once(monkeypatch, tmp_path):
    from tests.contract.unit.test_attestation_keys import SEALED
    from tests.contract.unit.test_attestations import attest, seed, settle

    net, payload, mid, agent = submitted_with_agent(monkeypatch, tmp_path, intervals=1)
    assert settle(net, mid) == "VERIFIED"
    net.set_config({"attest_audit_fraction": 1.0})
    agent.store.save_batch_key(SEALED["sha256"], os.urandom(32))
    aid = attest(net, payload, batch=SEALED)["attestation_id"]
    seed(net, aid)
    auditor = net.call(Cast.admin2, "AuditAttestation", aid)["audit"]["verifier"]

    assert set(agent.run_once()[mid]) == {auditor}  # the final snapshot's key and the batch's
    got = TrainproofContract(LedgerContract(net, BY_FP[auditor])).get_attestation_key(aid)
    assert got["role"] == "auditor" and list(got["keys"]) == [SEALED["sha256"]]
    assert agent.run_once() == {}, "the same audit is not delivered twice"
