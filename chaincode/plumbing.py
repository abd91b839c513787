"""Plumbing transactions that prove the path peer → chaincode → ledger → events works.

They live beside the contract, under their own names, so network tests never depend on
the business logic. ``Ping``, ``GetValue`` and ``WhoAmI`` read only and every network serves
them (readiness probes endorse Ping). ``PutValue`` (emits ``ValuePut``) writes any key under
``plumbing~``: only a test network's chaincode server (``--test-plumbing``) serves it.
"""
from __future__ import annotations

import json

from trainproof.chaincode.contract.identity import caller
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

PREFIX = "plumbing~"


def _args(stub: Stub, count: int) -> list[str]:
    if len(stub.args) != count:
        raise ChaincodeError(f"{stub.function} takes {count} argument(s), got {len(stub.args)}")
    try:
        return [a.decode("utf-8") for a in stub.args]
    except UnicodeDecodeError as exc:
        raise ChaincodeError(f"{stub.function}: arguments must be UTF-8 text") from exc


def ping(stub: Stub) -> bytes:
    return b"pong"


def put_value(stub: Stub) -> bytes:
    key, value = _args(stub, 2)
    if key.startswith("fail:"):
        raise ChaincodeError(f"PutValue refused key {key!r}: keys starting with 'fail:' are rejected on purpose")
    stub.put_state(PREFIX + key, value.encode())
    stub.set_event("ValuePut", json.dumps({"key": key, "value": value}, sort_keys=True).encode())
    return value.encode()


def get_value(stub: Stub) -> bytes:
    (key,) = _args(stub, 1)
    value = stub.get_state(PREFIX + key)
    if value is None:
        raise ChaincodeError(f"GetValue: no value stored under {key!r}", status=404)
    return value


def who_am_i(stub: Stub) -> bytes:
    who = caller(stub)
    return json.dumps({"mspid": who.mspid, "fingerprint": who.fingerprint, "common_name": who.common_name}).encode()


TRANSACTIONS = {"Ping": ping, "GetValue": get_value, "WhoAmI": who_am_i}
TEST_TRANSACTIONS = {"PutValue": put_value}
