"""What the chaincode server runs: plumbing transactions, then the trainproof contract."""
from __future__ import annotations

from typing import Callable

from trainproof.chaincode import plumbing
from trainproof.chaincode.shim.stub import Stub


def handler(test_plumbing: bool = False) -> Callable[[Stub], bytes]:
    """The transaction handler; ``test_plumbing`` adds PutValue, which only test networks serve."""
    table = {**plumbing.TRANSACTIONS, **(plumbing.TEST_TRANSACTIONS if test_plumbing else {})}

    def handle(stub: Stub) -> bytes:
        if stub.function in table:
            return table[stub.function](stub)
        from trainproof.chaincode.contract.router import handle as contract_handle

        return contract_handle(stub)

    return handle
