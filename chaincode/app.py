"""What the chaincode server runs: plumbing transactions, then the trainproof contract."""
from __future__ import annotations

from chaincode import plumbing
from chaincode.shim.stub import Stub


def handle(stub: Stub) -> bytes:
    if stub.function in plumbing.TRANSACTIONS:
        return plumbing.TRANSACTIONS[stub.function](stub)
    from chaincode.contract.router import handle as contract_handle

    return contract_handle(stub)
