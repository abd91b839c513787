"""How the layers' exceptions become one line, a hint and an exit code (no network needed)."""
from __future__ import annotations

import pytest

from trainproof.storage import IntegrityError, StorageUnavailable
from trainproof.cli.errors import translate
from trainproof.cli.output import Exit
from trainproof.gateway import EndorseError, ErrorDetail, EvaluateError, SubmitError
from trainproof.submission import is_transient

pytestmark = pytest.mark.cli


def refused(function: str, status: int, message: str) -> EndorseError:
    return EndorseError(f"{function} was not endorsed: {message}", [ErrorDetail("peer0.org1", message, status)])


@pytest.mark.parametrize("status, code", [(400, Exit.REFUSED), (403, Exit.DENIED), (404, Exit.NOT_FOUND),
                                          (409, Exit.REFUSED), (413, Exit.REFUSED)])
def test_contract_statuses(status, code):
    error = translate(refused("SubmitModel", status, "SubmitModel refused: rule: detail"), "org1-user1", "client")
    assert error.code == code and error.message == "SubmitModel refused: rule: detail" and error.hint


def test_admin_functions_point_at_the_admin_identity():
    error = translate(refused("RegisterVerifier", 403, "RegisterVerifier refused: role: …"), "org1-user1", "client")
    assert "org1-user1 is a client" in error.hint and "--identity org1-admin" in error.hint


def test_a_peer_that_cannot_reach_the_chaincode_server_is_an_outage():
    message = "error in simulation: could not launch chaincode trainproof_1.0:ab: connection refused"
    exc = EvaluateError(f"GetModel failed: {message}", [ErrorDetail("peer0.org1", message, 500)])
    assert translate(exc).code == Exit.UNAVAILABLE and is_transient(exc)
    assert not is_transient(refused("GetModel", 404, "GetModel refused: unknown model: x"))


def test_unreachable_nodes_and_orderers():
    down = EvaluateError("GetModel: no peer could evaluate it",
                         [ErrorDetail("peer0.org1", "UNAVAILABLE: failed to connect to all addresses")])
    error = translate(down)
    assert error.code == Exit.UNAVAILABLE and error.message == "the network does not answer: peer0.org1: UNAVAILABLE"
    assert "make network-up" in error.hint
    assert translate(SubmitError("no orderer accepted the transaction", [])).code == Exit.UNAVAILABLE


def test_storage_errors():
    assert translate(StorageUnavailable("MinIO at 127.0.0.1:17900 does not answer")).code == Exit.UNAVAILABLE
    bad = IntegrityError("bytes differ", object_uri="s3://snapshots/sha256/00", expected="00", actual="11")
    assert translate(bad).code == Exit.INTEGRITY
