"""classify(): every kind of gateway failure lands in one of the typed client's classes (no network)."""
from __future__ import annotations

import json

import pytest

from trainproof.contract import Conflict, ContractError, NotFound, Refused, TrainproofContract, Transient, classify
from trainproof.gateway import (
    CommitError, CommitStatusError, EndorseError, ErrorDetail, EvaluateError, GatewayError, SubmitError,
)

pytestmark = pytest.mark.unit


def answered(status: int, message: str, kind: type[GatewayError] = EndorseError) -> GatewayError:
    return kind(f"{message.split(' ', 1)[0]} was not endorsed", [ErrorDetail("peer0.org1", message, status, "Org1MSP")])


@pytest.mark.parametrize("status, cls", [(400, Refused), (403, Refused), (413, Refused), (401, Refused),
                                         (404, NotFound), (409, Conflict), (500, Transient)])
def test_contract_statuses(status, cls):
    exc = answered(status, "SubmitVote refused: assignment: not assigned to interval 3")
    error = classify(exc)
    assert type(error) is cls and error.status == status
    assert error.__cause__ is exc and error.gateway_error is exc and error.details == exc.details


def test_a_refusal_names_its_transaction_rule_and_reason():
    error = classify(answered(400, "SubmitModel refused: schema model_submission: 'model_id' is required"))
    assert (error.transaction, error.rule) == ("SubmitModel", "schema model_submission")
    assert error.reason == "SubmitModel refused: schema model_submission: 'model_id' is required"


def test_a_peer_that_cannot_launch_the_chaincode_is_transient():
    message = "error in simulation: could not launch chaincode trainproof_1.0:ab: connection refused"
    assert isinstance(classify(EvaluateError(f"GetModel failed: {message}", [ErrorDetail("p", message, 500)])),
                      Transient)
    assert isinstance(classify(EndorseError("no answer", [ErrorDetail("p", message)])), Transient)


def test_the_first_contract_answer_wins_over_transport_failures():
    exc = EndorseError("x", [ErrorDetail("peer0.org2", "UNAVAILABLE: down"),
                             ErrorDetail("peer0.org1", "GetModel refused: unknown model: m", 404)])
    assert isinstance(classify(exc), NotFound)


@pytest.mark.parametrize("exc", [
    EvaluateError("GetModel: no peer could evaluate it", [ErrorDetail("peer0.org1", "UNAVAILABLE: no route")]),
    EndorseError("no endorsement", [ErrorDetail("peer0.org1", "DEADLINE_EXCEEDED: slow")]),
    SubmitError("no orderer accepted the transaction", []),
    CommitStatusError("commit status unknown", [], tx_id="t1"),
])
def test_no_contract_status_is_transient(exc):
    error = classify(exc)
    assert isinstance(error, Transient) and error.status is None and error.tx_id == exc.tx_id


@pytest.mark.parametrize("code, cls", [("MVCC_READ_CONFLICT", Conflict), ("PHANTOM_READ_CONFLICT", Conflict),
                                       ("ENDORSEMENT_POLICY_FAILURE", ContractError)])
def test_commit_codes(code, cls):
    error = classify(CommitError(f"committed as invalid: {code}", "t1", code, 7))
    assert type(error) is cls and error.status is None


def test_classify_is_idempotent_and_errors_stay_gateway_errors():
    error = classify(answered(409, "SubmitVote refused: double vote: already voted"))
    assert classify(error) is error and isinstance(error, GatewayError)


class FakeContract:
    """A gateway Contract that answers from a script: (function, args) -> bytes or an exception."""

    def __init__(self, answers):
        self.answers, self.calls = list(answers), []

    def _next(self, function, args):
        self.calls.append((function, list(args)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return json.dumps(answer).encode()

    evaluate = submit = _next


def test_methods_encode_arguments_and_raise_classified_errors():
    fake = FakeContract([{"votes": [{"verdict": "ACCEPT"}]}, answered(404, "GetModel refused: unknown model: m",
                                                                        EvaluateError)])
    ledger = TrainproofContract(fake)
    assert ledger.get_votes("m", 3) == [{"verdict": "ACCEPT"}]
    assert ledger.find_model("m") is None
    assert fake.calls == [("GetVotes", ["m", "3"]), ("GetModel", ["m"])]


def test_wait_for_verdict_rides_out_a_transient_failure_and_drops_the_certificate():
    down = EvaluateError("GetModel failed", [ErrorDetail("p", "could not launch chaincode", 500)])
    fake = FakeContract([{"status": "ASSIGNED", "certificate": {}}, down, {"status": "VERIFIED", "certificate": {}}])
    seen = []
    state = TrainproofContract(fake).wait_for_verdict("m", timeout=10, poll=0,
                                                      on_update=lambda s: seen.append(s["status"]))
    assert state == {"status": "VERIFIED"} and seen == ["ASSIGNED", "VERIFIED"]


def test_wait_for_verdict_stops_at_a_refusal():
    fake = FakeContract([answered(404, "GetModel refused: unknown model: m", EvaluateError)])
    with pytest.raises(NotFound):
        TrainproofContract(fake).wait_for_verdict("m", timeout=10, poll=0)
