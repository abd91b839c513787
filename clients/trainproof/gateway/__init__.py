"""A Fabric client of the peers' Gateway service, shaped like the official fabric-gateway APIs.

    gateway = connect(identity, signer, peers)
    contract = gateway.get_network("trainproof").get_contract("trainproof")
    contract.submit("PutValue", ["k", "v"]); contract.evaluate("GetValue", ["k"])
    for event in gateway.get_network("trainproof").chaincode_events("trainproof", checkpointer=cp): ...
    for block in gateway.get_network("trainproof").blocks(start_block=0, checkpointer=cp): ...
"""
from trainproof.gateway.checkpoint import FileCheckpointer, InMemoryCheckpointer
from trainproof.gateway.client import BlockStream, Contract, Gateway, Network, Proposal, SubmittedTransaction, Timeouts, Transaction, connect
from trainproof.gateway.endpoints import Endpoint
from trainproof.gateway.errors import (
    CommitError, CommitStatusError, EndorseError, ErrorDetail, EvaluateError, GatewayError, Status, SubmitError,
)
from trainproof.gateway.events import ChaincodeEvent
from trainproof.gateway.identity import Identity, Signer, signer_from_key_file, signer_from_pem

__all__ = [
    "BlockStream", "ChaincodeEvent", "CommitError", "CommitStatusError", "Contract", "EndorseError", "Endpoint", "ErrorDetail",
    "EvaluateError", "FileCheckpointer", "Gateway", "GatewayError", "Identity", "InMemoryCheckpointer", "Network",
    "Proposal", "Signer", "Status", "SubmitError", "SubmittedTransaction", "Timeouts", "Transaction", "connect",
    "signer_from_key_file", "signer_from_pem",
]
