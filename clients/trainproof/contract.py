"""The trainproof contract as typed Python calls: one method per transaction, one error taxonomy.

    ledger = TrainproofContract(gateway.get_network("trainproof").get_contract("trainproof"))
    state = ledger.wait_for_verdict(model_id, timeout=600)
    try:
        ledger.submit_vote(model_id, 3, "ACCEPT", evidence)
    except Conflict: ...     # 409, or a read conflict at commit: the ledger moved, look again
    except Refused: ...      # 400/403/413: the contract's rules say no; retrying changes nothing
    except Transient: ...    # a node, the orderer or the chaincode server did not answer

The transaction table of ``chaincode/contract/README.md`` is the specification: arguments are
encoded here and answers decoded from JSON, so no caller spells a transaction name or its JSON.
Answers stay the contract's dicts (the README's records): they are what the CLI prints with
``--json`` and what tests compare, and modelling every field twice would only drift.

Every failure of a call is raised as a ``ContractError`` built by ``classify`` from the
gateway's error, like the fabric-gateway SDKs' typed errors: ``NotFound`` (404), ``Conflict``
(409; MVCC/phantom read conflicts at commit), ``Refused`` (other 4xx) and ``Transient`` (no
contract status: unreachable nodes, a peer's 5xx such as "could not launch chaincode", an
unknown commit status, an orderer that refused the envelope). The gateway's error stays
reachable as ``__cause__`` and ``.gateway_error``; ``ContractError`` is itself a
``GatewayError`` with the same ``details``, so node-by-node answers can still be shown.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Optional

from trainproof.gateway import CommitError, Contract, GatewayError, SubmittedTransaction

FINAL_STATUSES = ("VERIFIED", "REJECTED", "INCONCLUSIVE")
# need an MSP admin
ADMIN_TRANSACTIONS = frozenset({"RegisterVerifier", "SetVerifierStatus", "ProposeConfig", "ApproveConfig"})
CLIENT_TRANSACTIONS = frozenset({"SubmitModel", "AttestOutput"})  # need a client identity (OU=client)
CONFLICT_CODES = frozenset({"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"})
# The transaction whose committed envelope is an output receipt's subject (receipt.verify checks it).
ATTEST_OUTPUT = "AttestOutput"
# Every transaction that writes an attestation's records, its seed round included (the explorer projects them).
ATTESTATION_TRANSACTIONS = (ATTEST_OUTPUT, "AuditAttestation", "ConfirmAttestation", "CommitSeed", "RevealSeed")
_REFUSAL = re.compile(r"(\w+) refused: ([^:]+): (.*)", re.DOTALL)

Record = dict[str, Any]


class ContractError(GatewayError):
    """A failed contract call, classified; ``status``/``rule``/``reason`` come from the contract's
    "<Transaction> refused: <rule>: <detail>" message when a peer returned one."""

    def __init__(self, exc: GatewayError, status: int | None = None, message: str | None = None) -> None:
        super().__init__(exc.message, exc.details, exc.tx_id)
        self.gateway_error = exc
        self.status = status
        self.reason = message if message is not None else exc.message
        match = _REFUSAL.match(self.reason)
        self.transaction = match.group(1) if match else exc.message.split(" ", 1)[0].rstrip(":")
        self.rule = match.group(2) if match else ""
        self.__cause__ = exc


class Refused(ContractError):
    """The contract said no (400 bad input, 403 wrong role or assignment, 413 too large)."""


class NotFound(ContractError):
    """The contract knows no such model, verifier or assignment (404)."""


class Conflict(ContractError):
    """The ledger's state forbids it now (409) or moved under the transaction (read conflict)."""


class Transient(ContractError):
    """Nothing the contract decided: a node, the orderer or the chaincode server did not answer."""


class VerdictTimeout(TimeoutError):
    """No verdict in time; ``state`` is the model's last state seen on the ledger."""

    def __init__(self, model_id: str, timeout: float, state: Record) -> None:
        super().__init__(f"no verdict for model {model_id} after {timeout:g}s (status {state.get('status')})")
        self.model_id, self.timeout, self.state = model_id, timeout, state


def classify(exc: GatewayError) -> ContractError:
    """The one classification every caller uses; an already classified error is returned as is."""
    if isinstance(exc, ContractError):
        return exc
    answered = [d for d in exc.details if d.status is not None and d.status >= 400]
    if answered:
        first = answered[0]
        kind = {404: NotFound, 409: Conflict}.get(first.status) or (Refused if first.status < 500 else Transient)
        return kind(exc, first.status, first.message)
    if isinstance(exc, CommitError):
        return (Conflict if exc.code in CONFLICT_CODES else ContractError)(exc)
    # No contract status: unreachable nodes, SubmitError, CommitStatusError — the outcome is unknown or nil.
    return Transient(exc)


def _call(send: Callable[[], bytes]) -> Any:
    try:
        return json.loads(send())
    except GatewayError as exc:
        raise classify(exc) from exc


class TrainproofContract:
    """Typed calls of the trainproof contract over a gateway ``Contract``."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def _evaluate(self, function: str, *args: str) -> Any:
        return _call(lambda: self.contract.evaluate(function, list(args)))

    def _submit(self, function: str, *args: str) -> Any:
        return _call(lambda: self.contract.submit(function, list(args)))

    def endorse_ping(self) -> None:
        """Have every org endorse a Ping, never ordered: shows the gateway can collect the
        endorsements a transaction needs (``trainproof network ready``)."""
        try:
            self.contract.new_proposal("Ping").endorse()
        except GatewayError as exc:
            raise classify(exc) from exc

    # Verifiers
    def register_verifier(self, cert_pem: str, name: str, mspid: str | None = None) -> Record:
        """Authorize a certificate of this admin's org (PENDING until its holder activates it)."""
        body = {"cert_pem": cert_pem, "name": name, **({"mspid": mspid} if mspid else {})}
        return self._submit("RegisterVerifier", json.dumps(body))

    def activate_verifier(self) -> Record:
        """ActivateVerifier as this gateway's own identity: turns its org admin's authorization into
        a registry record bound to the MSP Fabric validated for this identity."""
        return self._submit("ActivateVerifier")

    def set_verifier_status(self, fingerprint: str, status: str, reason: str | None = None) -> Record:
        return self._submit("SetVerifierStatus", fingerprint, status, *([reason] if reason else []))

    def list_verifiers(self, status: str | None = None, mspid: str | None = None) -> list[Record]:
        query = {k: v for k, v in (("status", status), ("mspid", mspid)) if v}
        return self._evaluate("ListVerifiers", *([json.dumps(query)] if query else []))["verifiers"]

    # Models
    def submit_model_async(self, certificate: Record) -> SubmittedTransaction:
        """Endorse and send SubmitModel; the caller waits for the commit (``submission`` retries conflicts)."""
        body = json.dumps(certificate, sort_keys=True, allow_nan=False)
        try:
            return self.contract.submit_async("SubmitModel", [body])
        except GatewayError as exc:
            raise classify(exc) from exc

    def get_model(self, model_id: str) -> Record:
        """Model state plus its ``certificate``."""
        return self._evaluate("GetModel", model_id)

    def model_state(self, model_id: str) -> Record:
        """The model's state without its certificate; NotFound if there is no such model."""
        state = self.get_model(model_id)
        state.pop("certificate", None)
        return state

    def find_model(self, model_id: str) -> Record | None:
        """As ``model_state``, but None if the ledger has no such model."""
        try:
            return self.model_state(model_id)
        except NotFound:
            return None

    def list_models(self, query: Record | None = None) -> Record:
        """``{"models", "bookmark"}``; query keys as in the README (status, submitter, name, page_size, bookmark)."""
        return self._evaluate("ListModels", *([json.dumps(query)] if query else []))

    def get_lineage(self, model_id: str, page_size: int | None = None, bookmark: str | None = None) -> Record:
        """Ancestors, descendants (VERIFIED children first) and one page of direct ``children``."""
        page = {k: v for k, v in (("page_size", page_size), ("bookmark", bookmark)) if v}
        return self._evaluate("GetLineage", model_id, *([json.dumps(page)] if page else []))

    def get_history(self, model_id: str) -> Record:
        return self._evaluate("GetHistory", model_id)

    # Verification
    def commit_seed(self, model_id: str, commitment: str) -> Record:
        """This org's SHA-256(secret) (64 hex digits) to the model's seed round; returns the round."""
        return self._submit("CommitSeed", model_id, commitment)

    def reveal_seed(self, model_id: str, secret: str) -> Record:
        """This org's secret (64 hex digits), once every member org has committed; returns the round."""
        return self._submit("RevealSeed", model_id, secret)

    def get_seed_round(self, model_id: str) -> Record:
        """``{"members", "commitments", "reveals", "closed_at"}``; NotFound before the first commitment."""
        return self._evaluate("GetSeedRound", model_id)

    def assign_verifiers(self, model_id: str) -> Record:
        return self._submit("AssignVerifiers", model_id)

    def expire_assignment(self, model_id: str) -> Record:
        return self._submit("ExpireAssignment", model_id)

    def submit_vote(self, model_id: str, interval: int, verdict: str, evidence: Record) -> Record:
        return self._submit("SubmitVote", model_id, str(interval), verdict, json.dumps(evidence, sort_keys=True))

    def get_assignment(self, model_id: str) -> Record:
        return self._evaluate("GetAssignment", model_id)

    def get_votes(self, model_id: str, interval: int | None = None) -> list[Record]:
        return self._evaluate("GetVotes", model_id, *([str(interval)] if interval is not None else []))["votes"]

    # Signed outputs
    def attest_output_async(self, request: Record) -> SubmittedTransaction:
        """Endorse and send AttestOutput; its transaction id is the attestation id, and the
        committed transaction (block, endorsements) is what a receipt is built from."""
        try:
            return self.contract.submit_async(ATTEST_OUTPUT, [json.dumps(request, sort_keys=True, allow_nan=False)])
        except GatewayError as exc:
            raise classify(exc) from exc

    def audit_attestation(self, attestation_id: str) -> Record:
        """The audit draw once the attestation's seed round is ready (or a re-staffing past its deadline)."""
        return self._submit("AuditAttestation", attestation_id)

    def confirm_attestation(self, attestation_id: str, verdict: str, evidence: Record) -> Record:
        """CONFIRMED or DISPUTED, by the verifier the draw assigned."""
        return self._submit("ConfirmAttestation", attestation_id, verdict, json.dumps(evidence, sort_keys=True))

    def get_attestation(self, attestation_id: str) -> Record:
        """The attestation with its audit, plus ``model_status`` now."""
        return self._evaluate("GetAttestation", attestation_id)

    def list_attestations(self, model_id: str | None = None, audit: str | None = None, page_size: int | None = None,
                          bookmark: str | None = None) -> Record:
        """``{"attestations", "bookmark"}``: one page of a model's attestations, or of those in one audit state."""
        query = {k: v for k, v in (("model_id", model_id), ("audit", audit), ("page_size", page_size),
                                   ("bookmark", bookmark)) if v}
        return self._evaluate("ListAttestations", json.dumps(query))

    # Confidential models (#18): data keys wrapped to their readers (trainproof.confidential.keywrap)
    def deliver_data_keys(self, model_id: str, keys: dict[str, dict[str, Record]], child: str | None = None) -> Record:
        """As the submitter: ``{fingerprint: {artifact plaintext sha256: wrapped}}`` to verifiers assigned
        now, itself or granted identities, or (``child``) the final snapshot's key to the verifiers of that
        child's interval 0; returns ``{"recipients": [{fingerprint, role, artifacts, …}]}``."""
        body = {"keys": keys} | ({"child": child} if child else {})
        return self._submit("DeliverDataKeys", model_id, json.dumps(body, sort_keys=True))

    def get_data_keys(self, model_id: str, child: str | None = None) -> Record:
        """This identity's wrapped keys of the model: ``{"role", "keys", "missing", …}``; with ``child``,
        the final snapshot's key as a verifier of that child's lineage. Refused or NotFound ("not
        delivered yet") with the reason otherwise."""
        return self._evaluate("GetDataKeys", model_id, *([child] if child else []))

    def deliver_attestation_key(self, attestation_id: str, keys: dict[str, dict[str, Record]]) -> Record:
        """As the attester: a sealed batch file's key ``{fingerprint: {batch sha256: wrapped}}`` to itself
        or to the verifier checking the attestation now."""
        return self._submit("DeliverAttestationKey", attestation_id, json.dumps({"keys": keys}, sort_keys=True))

    def get_attestation_key(self, attestation_id: str) -> Record:
        """This identity's wrapped copy of a sealed batch file's key (the attester's, or its auditor's)."""
        return self._evaluate("GetAttestationKey", attestation_id)

    def grant_access(self, model_id: str, mspid: str, cert_pem: str | None = None, fingerprint: str | None = None,
                     note: str | None = None) -> Record:
        """As the submitter: let one identity (its certificate, or only its fingerprint) receive the keys."""
        body = {k: v for k, v in (("cert_pem", cert_pem), ("fingerprint", fingerprint), ("note", note)) if v}
        return self._submit("GrantAccess", model_id, json.dumps({**body, "mspid": mspid}))

    def list_grants(self, model_id: str) -> list[Record]:
        return self._evaluate("ListGrants", model_id)["grants"]

    # Configuration
    def get_config(self) -> Record:
        """``{"values", "defaults", "updated"}``."""
        return self._evaluate("GetConfig")

    def propose_config(self, changes: Record, note: str | None = None) -> Record:
        """Propose a settings change; it takes effect once enough member orgs' admins approved it
        (the proposer's org counts). Returns the proposal (``status`` APPLIED if that was enough)."""
        return self._submit("ProposeConfig", json.dumps(changes), *([json.dumps({"note": note})] if note else []))

    def approve_config(self, proposal_id: str) -> Record:
        """Approve a pending proposal for this admin's org; the approval that completes it applies it."""
        return self._submit("ApproveConfig", proposal_id)

    def get_config_proposal(self, proposal_id: str) -> Record:
        return self._evaluate("GetConfigProposal", proposal_id)

    def list_config_proposals(self, status: str | None = None) -> list[Record]:
        return self._evaluate("ListConfigProposals", *([json.dumps({"status": status})] if status else []))["proposals"]

    def wait_for_verdict(self, model_id: str, timeout: float = 600.0, poll: float = 2.0,
                         on_update: Optional[Callable[[Record], None]] = None) -> Record:
        """Poll GetModel until the status is final; raises VerdictTimeout with the last state seen.

        A moment without an answer (a node or the chaincode server restarting) does not end the
        wait; if nothing ever answers, the last error is raised at the deadline.
        """
        deadline = time.monotonic() + timeout
        state: Record | None = None
        while True:
            try:
                state = self.model_state(model_id)
            except Transient:
                if state is None and time.monotonic() >= deadline:
                    raise
            else:
                if on_update:
                    on_update(state)
                if state["status"] in FINAL_STATUSES:
                    return state
            left = deadline - time.monotonic()
            if left <= 0 and state is not None:
                raise VerdictTimeout(model_id, timeout, state)
            time.sleep(max(0.0, min(poll, left)))


__all__ = ["ADMIN_TRANSACTIONS", "ATTESTATION_TRANSACTIONS", "ATTEST_OUTPUT", "CLIENT_TRANSACTIONS", "CONFLICT_CODES", "Conflict", "ContractError", "FINAL_STATUSES",
           "NotFound", "Refused", "TrainproofContract", "Transient", "VerdictTimeout", "classify"]
