"""Entry point: ``handle(stub)`` dispatches on ``stub.function`` and returns canonical JSON.

Every refusal is a ChaincodeError whose message starts with the transaction's name and then
names the rule, e.g. "SubmitVote refused: assignment: identity … is not assigned to interval 3
of model …". Transactions validate everything before their first write.
"""
from __future__ import annotations

from typing import Any, Callable

from trainproof.chaincode.contract import (assignment, attestations, config, datakeys, lineage, models, queries, seeding,
                                          verifiers, votes)
from trainproof.chaincode.contract.args import check_sizes
from trainproof.chaincode.contract.codec import canonical
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

Transaction = Callable[[Stub], Any]

WRITES: dict[str, Transaction] = {
    "RegisterVerifier": verifiers.register,
    "ActivateVerifier": verifiers.activate,
    "SetVerifierStatus": verifiers.set_status,
    "SubmitModel": models.submit,
    "CommitSeed": seeding.commit,
    "RevealSeed": seeding.reveal,
    "AssignVerifiers": assignment.assign,
    "SubmitVote": votes.submit_vote,
    "ExpireAssignment": assignment.expire,
    "ProposeConfig": config.propose_config,
    "ApproveConfig": config.approve_config,
    "AttestOutput": attestations.attest,
    "AuditAttestation": attestations.audit,
    "ConfirmAttestation": attestations.confirm,
    "DeliverDataKeys": datakeys.deliver,
    "DeliverAttestationKey": datakeys.deliver_attestation_key,
    "GrantAccess": datakeys.grant_access,
}
QUERIES: dict[str, Transaction] = {
    "GetModel": queries.get_model,
    "ListModels": queries.list_models,
    "GetLineage": lineage.get_lineage,
    "GetVotes": queries.get_votes,
    "GetAssignment": queries.get_assignment,
    "GetSeedRound": seeding.get_seed_round,
    "GetHistory": queries.get_history,
    "ListVerifiers": verifiers.list_verifiers,
    "GetConfig": config.get_config,
    "GetConfigProposal": config.get_config_proposal,
    "ListConfigProposals": config.list_config_proposals,
    "GetAttestation": attestations.get_attestation,
    "ListAttestations": attestations.list_attestations,
    "GetDataKeys": datakeys.get_data_keys,
    "GetAttestationKey": datakeys.get_attestation_key,
    "ListGrants": datakeys.list_grants,
}
TRANSACTIONS = {**WRITES, **QUERIES}


def handle(stub: Stub) -> bytes:
    transaction = TRANSACTIONS.get(stub.function)
    if transaction is None:
        raise ChaincodeError(
            f"{stub.function[:64]!r} refused: unknown transaction; known: {', '.join(sorted(TRANSACTIONS))}", 404
        )
    try:
        check_sizes(stub.args)
        return canonical(transaction(stub))
    except ChaincodeError as exc:
        raise ChaincodeError(f"{stub.function} refused: {exc.message}", exc.status) from None
