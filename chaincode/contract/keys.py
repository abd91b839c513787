"""Key layout. Every record lives under a Fabric composite key (object type + attributes).

| object type      | attributes                      | value                                        |
|------------------|---------------------------------|----------------------------------------------|
| config           | –                               | contract settings in force                   |
| configproposal   | proposal id (proposing tx id)   | a settings change and its approvals          |
| verifier         | fingerprint                     | verifier record (activated by the verifier)  |
| verifierauth     | mspid, fingerprint              | an admin's authorization of a verifier       |
| model            | model_id                        | birth certificate (immutable)                |
| modelstate       | model_id                        | summary and status (small, mutable)          |
| child            | parent_id, rank, child_id       | INDEX_VALUE (family tree; rank 0: VERIFIED)  |
| artifact         | sha256                          | the first model to claim a snapshot          |
| counter          | name                            | {"next": n} (the order of record)            |
| idx-order        | seq (12 digits), model_id       | INDEX_VALUE (models in block order)          |
| idx-status       | status, model_id                | INDEX_VALUE                                  |
| idx-submitter    | fingerprint, model_id           | INDEX_VALUE                                  |
| idx-name         | name, model_id                  | INDEX_VALUE                                  |
| assignment       | model_id                        | who assigned, seed, selection (immutable)    |
| interval         | model_id, interval              | current sub-quorum, round, deadline          |
| decision         | model_id, interval              | the interval's outcome (written once)        |
| vote             | model_id, interval, fingerprint | one vote (written once)                      |
| seedround        | model_id or attestation_id      | a draw's commitments and reveals             |
| attestation      | attestation_id                  | an attested output batch and its audit       |
| idx-attestation  | model_id, attestation_id        | INDEX_VALUE (a model's attestations)         |
| idx-attestaudit  | audit state, attestation_id     | INDEX_VALUE (attestations by audit state)    |
| datakeys         | model_id, recipient fingerprint | data keys wrapped to one recipient (#18)     |
| datagrant        | model_id, grantee fingerprint   | the submitter's grant of its model's keys    |
| attestkey        | attestation_id, fingerprint     | a sealed batch file's key, wrapped to one    |

Intervals are zero-padded to 8 digits so they sort numerically.
"""
from __future__ import annotations

from trainproof.chaincode.shim.stub import Stub

CONFIG = "config"
CONFIG_PROPOSAL = "configproposal"
VERIFIER = "verifier"
VERIFIER_AUTH = "verifierauth"
MODEL = "model"
MODEL_STATE = "modelstate"
CHILD = "child"
ARTIFACT = "artifact"
COUNTER = "counter"
BY_ORDER = "idx-order"
BY_STATUS = "idx-status"
BY_SUBMITTER = "idx-submitter"
BY_NAME = "idx-name"
ASSIGNMENT = "assignment"
SEED_ROUND = "seedround"
INTERVAL = "interval"
DECISION = "decision"
VOTE = "vote"
ATTESTATION = "attestation"
BY_MODEL_ATTESTATION = "idx-attestation"
BY_AUDIT_STATE = "idx-attestaudit"
BY_MODEL_AUDITOR = "idx-attestauditor"  # (model, verifier, attestation) while that verifier checks it
DATA_KEYS = "datakeys"
DATA_GRANT = "datagrant"
ATTESTATION_KEY = "attestkey"

# Fabric treats an empty value as a delete, so index entries hold one NUL byte.
INDEX_VALUE = b"\x00"


def part(interval: int) -> str:
    return f"{interval:08d}"


def key(object_type: str, *attributes: str) -> str:
    return Stub.create_composite_key(object_type, list(attributes))


def config() -> str:
    return key(CONFIG)


def config_proposal(proposal_id: str) -> str:
    return key(CONFIG_PROPOSAL, proposal_id)


def verifier(fingerprint: str) -> str:
    return key(VERIFIER, fingerprint)


def verifier_authorization(mspid: str, fingerprint: str) -> str:
    return key(VERIFIER_AUTH, mspid, fingerprint)


def model(model_id: str) -> str:
    return key(MODEL, model_id)


def model_state(model_id: str) -> str:
    return key(MODEL_STATE, model_id)


def child(parent_id: str, rank: str, child_id: str) -> str:
    return key(CHILD, parent_id, rank, child_id)


def artifact(sha256: str) -> str:
    return key(ARTIFACT, sha256)


def counter(name: str) -> str:
    return key(COUNTER, name)


def order(seq: int) -> str:
    return f"{seq:012d}"


def assignment(model_id: str) -> str:
    return key(ASSIGNMENT, model_id)


def interval(model_id: str, index: int) -> str:
    return key(INTERVAL, model_id, part(index))


def decision(model_id: str, index: int) -> str:
    return key(DECISION, model_id, part(index))


def vote(model_id: str, index: int, fingerprint: str) -> str:
    return key(VOTE, model_id, part(index), fingerprint)


def seed_round(model_id: str) -> str:
    return key(SEED_ROUND, model_id)


def attestation(attestation_id: str) -> str:
    return key(ATTESTATION, attestation_id)


def model_attestation(model_id: str, attestation_id: str) -> str:
    return key(BY_MODEL_ATTESTATION, model_id, attestation_id)


def audit_state(state: str, attestation_id: str) -> str:
    return key(BY_AUDIT_STATE, state, attestation_id)


def model_auditor(model_id: str, fingerprint: str, attestation_id: str) -> str:
    return key(BY_MODEL_AUDITOR, model_id, fingerprint, attestation_id)


def data_keys(model_id: str, fingerprint: str) -> str:
    return key(DATA_KEYS, model_id, fingerprint)


def data_grant(model_id: str, fingerprint: str) -> str:
    return key(DATA_GRANT, model_id, fingerprint)


def attestation_key(attestation_id: str, fingerprint: str) -> str:
    return key(ATTESTATION_KEY, attestation_id, fingerprint)
