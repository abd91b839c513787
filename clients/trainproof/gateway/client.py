"""The client: connect → network → contract → evaluate / submit, shaped like fabric-gateway.

Fabric 2.1 peers (what this network runs; see network/README) have no Gateway service, so
the client does the Gateway's work itself: endorse on one peer per org, check that they
agree, send the transaction to an orderer (failing over between orderers), and learn the
commit status from a filtered block stream.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import FIRST_COMPLETED, TimeoutError as FutureTimeout
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Iterator, Sequence

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc
from fabric_protos.peer import peer_pb2_grpc, proposal_pb2, proposal_response_pb2

from trainproof.gateway import messages
from trainproof.gateway.blocks import ChaincodeEvent, chaincode_events
from trainproof.gateway.checkpoint import InMemoryCheckpointer
from trainproof.gateway.deliver import BlockSource, CommitListener, blocks
from trainproof.gateway.endpoints import Endpoint
from trainproof.gateway.errors import (
    CommitError, CommitStatusError, EndorseError, ErrorDetail, EvaluateError, Status, SubmitError,
)
from trainproof.gateway.identity import Identity, Signer, digest

log = logging.getLogger("trainproof.gateway")
Args = Sequence[str | bytes]
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_RETRYABLE_STATUS = {common_pb2.SERVICE_UNAVAILABLE, common_pb2.INTERNAL_SERVER_ERROR}


@dataclass
class Timeouts:
    evaluate: float = 30.0
    endorse: float = 30.0
    submit: float = 30.0
    commit_status: float = 60.0


def _encode(args: Args) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode("utf-8") for a in args]


class Gateway:
    """A connection to the network's peers and orderers for one identity."""

    def __init__(self, identity: Identity, signer: Signer | None, peers: list[Endpoint],
                 orderers: list[Endpoint], timeouts: Timeouts | None = None, retries: int = 3) -> None:
        if not peers or not orderers:
            raise ValueError("a gateway needs at least one peer and one orderer")
        self.identity, self.signer = identity, signer
        self.peers, self.orderers = peers, orderers
        self.timeouts = timeouts or Timeouts()
        self.retries = retries
        self._channels = {e.address: e.open_channel() for e in [*peers, *orderers]}
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="gateway")
        self._networks: dict[str, Network] = {}

    def get_network(self, name: str) -> Network:
        if name not in self._networks:
            self._networks[name] = Network(self, name)
        return self._networks[name]

    def close(self) -> None:
        for network in self._networks.values():
            network.close()
        for channel in self._channels.values():
            channel.close()
        self._pool.shutdown(wait=False)

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sign(self, message: bytes) -> bytes:
        if self.signer is None:
            raise ValueError("this gateway has no signer: sign the digest offline and pass the signature")
        return self.signer(digest(message))

    # Node calls, with retries on transport errors.
    def _call(self, endpoint: Endpoint, fn, request, timeout: float):
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return fn(request, timeout=timeout)
            except grpc.RpcError as exc:
                if exc.code() not in _RETRYABLE or attempt == self.retries:
                    raise
                log.info("%s unavailable (%s); retry %d", endpoint.label, exc.details(), attempt + 1)
                time.sleep(delay)
                delay *= 2

    def process_proposal(self, peer: Endpoint, signed: proposal_pb2.SignedProposal,
                         timeout: float) -> proposal_response_pb2.ProposalResponse:
        stub = peer_pb2_grpc.EndorserStub(self._channels[peer.address])
        return self._call(peer, stub.ProcessProposal, signed, timeout)

    def broadcast(self, envelope: common_pb2.Envelope, tx_id: str) -> None:
        """Hand the transaction to the first orderer that accepts it.

        While Raft elects a new leader (seconds, after losing one) every orderer answers
        SERVICE_UNAVAILABLE; those rounds are retried until the submit timeout runs out.
        """
        deadline = time.monotonic() + self.timeouts.submit
        delay = 0.25
        while True:
            details = []
            for orderer in self.orderers:
                stub = ab_pb2_grpc.AtomicBroadcastStub(self._channels[orderer.address])
                try:
                    responses = list(stub.Broadcast(iter([envelope]), timeout=self.timeouts.submit))
                except grpc.RpcError as exc:
                    details.append(ErrorDetail(orderer.label, f"{exc.code().name}: {exc.details()}"))
                    continue
                status = responses[0].status if responses else common_pb2.SERVICE_UNAVAILABLE
                if status == common_pb2.SUCCESS:
                    return
                info = responses[0].info if responses else "no answer"
                details.append(ErrorDetail(orderer.label, f"{common_pb2.Status.Name(status)}: {info}", status))
                if status not in _RETRYABLE_STATUS:
                    raise SubmitError(f"orderer refused the transaction: {info}", details, tx_id)
            if time.monotonic() + delay > deadline:
                raise SubmitError("no orderer accepted the transaction", details, tx_id)
            log.info("no orderer accepted %s yet (%s); retrying", tx_id[:12], details[-1].message)
            time.sleep(delay)
            delay = min(delay * 2, 4.0)


class Network:
    """One channel."""

    def __init__(self, gateway: Gateway, name: str) -> None:
        self.gateway, self.name = gateway, name
        self._listeners: list[CommitListener] = []
        self._lock = threading.Lock()

    def get_contract(self, chaincode: str) -> Contract:
        return Contract(self, chaincode)

    def _peers_own_org_first(self) -> list[Endpoint]:
        gw = self.gateway
        return sorted(gw.peers, key=lambda p: p.mspid != gw.identity.mspid)

    def block_source(self, peers: list[Endpoint] | None = None) -> BlockSource:
        gw = self.gateway
        return BlockSource(peers or self._peers_own_org_first(), gw._channels, self.name, gw.identity, gw.sign)

    def commit_listeners(self) -> list[CommitListener]:
        """One filtered-block stream per peer, so a submit can wait until every peer has committed."""
        with self._lock:
            if not self._listeners:
                self._listeners = [CommitListener(self.block_source([p])) for p in self._peers_own_org_first()]
        for listener in self._listeners:
            listener.start(self.gateway.timeouts.commit_status)
        return self._listeners

    def chaincode_events(self, chaincode: str, start_block: int | None = None,
                         checkpointer: InMemoryCheckpointer | None = None) -> ChaincodeEventStream:
        """Events of ``chaincode`` from ``start_block`` (default: new blocks only) or after a checkpoint."""
        return ChaincodeEventStream(self, chaincode, start_block, checkpointer)

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()


class ChaincodeEventStream:
    """Iterate to receive events; ``close()`` ends the stream. Resumes after a checkpoint exactly."""

    def __init__(self, network: Network, chaincode: str, start_block: int | None,
                 checkpointer: InMemoryCheckpointer | None) -> None:
        self._network, self._chaincode = network, chaincode
        self._skip_through = ""
        if checkpointer is not None and checkpointer.block_number is not None:
            start_block, self._skip_through = checkpointer.block_number, checkpointer.transaction_id
        self._start = start_block
        self._stop = threading.Event()
        self._cancel = lambda: None

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        skipping = bool(self._skip_through)
        for block in blocks(self._network.block_source(), self._start, False, self._stop, self._set_cancel):
            for event in chaincode_events(block):
                if skipping and block.header.number == self._start:
                    if event.transaction_id == self._skip_through:
                        skipping = False
                    continue
                if event.chaincode_name == self._chaincode:
                    yield event
            skipping = False

    def _set_cancel(self, cancel) -> None:
        self._cancel = cancel

    def close(self) -> None:
        self._stop.set()
        self._cancel()


class Contract:
    """A chaincode on a channel."""

    def __init__(self, network: Network, name: str) -> None:
        self.network, self.name = network, name
        self.gateway = network.gateway

    def new_proposal(self, function: str, args: Args = (), transient: dict[str, bytes] | None = None) -> Proposal:
        prop, tx_id = messages.proposal(
            self.network.name, self.name, _encode([function, *args]), self.gateway.identity.serialize(), transient
        )
        return Proposal(self, prop, tx_id, function)

    def evaluate(self, function: str, args: Args = (), transient: dict[str, bytes] | None = None) -> bytes:
        return self.new_proposal(function, args, transient).evaluate()

    def submit(self, function: str, args: Args = (), transient: dict[str, bytes] | None = None) -> bytes:
        """Endorse, order and wait for the commit; raises CommitError if the transaction is invalid."""
        submitted = self.submit_async(function, args, transient)
        status = submitted.get_status()
        if not status.successful:
            raise CommitError(
                f"transaction {status.tx_id} committed as invalid: {status.code} (block {status.block_number})",
                status.tx_id, status.code, status.block_number,
            )
        return submitted.result

    def submit_async(self, function: str, args: Args = (), transient: dict[str, bytes] | None = None) -> SubmittedTransaction:
        return self.new_proposal(function, args, transient).endorse().submit()


class Proposal:
    """A proposal not yet sent; ``bytes``/``digest`` allow signing it offline."""

    def __init__(self, contract: Contract, proposal: proposal_pb2.Proposal, tx_id: str, function: str) -> None:
        self.contract, self.tx_id, self.function = contract, tx_id, function
        self.bytes = proposal.SerializeToString()
        self._proposal = proposal

    @property
    def digest(self) -> bytes:
        return digest(self.bytes)

    def _signed(self, signature: bytes | None) -> proposal_pb2.SignedProposal:
        sig = signature if signature is not None else self.contract.gateway.sign(self.bytes)
        return proposal_pb2.SignedProposal(proposal_bytes=self.bytes, signature=sig)

    def evaluate(self, signature: bytes | None = None) -> bytes:
        """Run on one peer (own org first), no ordering; returns the chaincode's result."""
        gw = self.contract.gateway
        signed = self._signed(signature)
        peers = sorted(gw.peers, key=lambda p: p.mspid != gw.identity.mspid)
        details = []
        for peer in peers:
            try:
                response = gw.process_proposal(peer, signed, gw.timeouts.evaluate)
            except grpc.RpcError as exc:
                details.append(ErrorDetail(peer.label, f"{exc.code().name}: {exc.details()}"))
                continue
            if response.response.status >= 400:
                details.append(ErrorDetail(peer.label, response.response.message, response.response.status))
                raise EvaluateError(f"{self.function} failed: {response.response.message}", details, self.tx_id)
            return bytes(response.response.payload)
        raise EvaluateError(f"{self.function}: no peer could evaluate it", details, self.tx_id)

    def endorse(self, signature: bytes | None = None) -> Transaction:
        """Collect one endorsement per org; all must succeed and agree."""
        gw = self.contract.gateway
        signed = self._signed(signature)
        futures = {p: gw._pool.submit(gw.process_proposal, p, signed, gw.timeouts.endorse) for p in gw.peers}
        responses, details = [], []
        for peer, future in futures.items():
            try:
                response = future.result()
            except grpc.RpcError as exc:
                details.append(ErrorDetail(peer.label, f"{exc.code().name}: {exc.details()}"))
                continue
            if response.response.status >= 400 or not response.endorsement.endorser:
                details.append(ErrorDetail(peer.label, response.response.message, response.response.status))
                continue
            responses.append(response)
        if details:
            reason = next((d.message for d in details if d.status), details[0].message)
            raise EndorseError(f"{self.function} was not endorsed: {reason}", details, self.tx_id)
        if len({r.payload for r in responses}) != 1:
            raise EndorseError(
                f"{self.function}: peers returned different results (non-deterministic chaincode?)",
                [ErrorDetail(p.label, "result differs") for p in futures], self.tx_id,
            )
        payload = messages.transaction_payload(self._proposal, responses)
        return Transaction(self, payload.SerializeToString(), bytes(responses[0].response.payload))


class Transaction:
    """An endorsed transaction not yet ordered; ``bytes``/``digest`` allow signing it offline."""

    def __init__(self, proposal: Proposal, payload: bytes, result: bytes) -> None:
        self.proposal, self.bytes, self.result = proposal, payload, result
        self.tx_id = proposal.tx_id

    @property
    def digest(self) -> bytes:
        return digest(self.bytes)

    def submit(self, signature: bytes | None = None) -> SubmittedTransaction:
        gw = self.proposal.contract.gateway
        sig = signature if signature is not None else gw.sign(self.bytes)
        listeners = self.proposal.contract.network.commit_listeners()
        futures = [listener.expect(self.tx_id) for listener in listeners]
        try:
            gw.broadcast(common_pb2.Envelope(payload=self.bytes, signature=sig), self.tx_id)
        except SubmitError:
            for listener in listeners:
                listener.forget(self.tx_id)
            raise
        return SubmittedTransaction(self.tx_id, self.result, futures, gw.timeouts.commit_status)


class SubmittedTransaction:
    """Ordered; ``get_status()`` waits for the commit."""

    # After the first peer reports the commit, how long to wait for the others to catch up.
    CATCH_UP_SECONDS = 10.0

    def __init__(self, tx_id: str, result: bytes, futures: list, timeout: float) -> None:
        self.tx_id, self.result = tx_id, result
        self._futures, self._timeout = futures, timeout

    def get_status(self, timeout: float | None = None) -> Status:
        """The commit status, once the own org's peer has it and (within a grace period) every
        peer has it too: a query sent right after a submit then sees the new state on any peer."""
        limit = timeout if timeout is not None else self._timeout
        try:
            done, _ = futures_wait(self._futures, timeout=limit, return_when=FIRST_COMPLETED)
            if not done:
                raise FutureTimeout
            status = next(iter(done)).result()
        except FutureTimeout:
            raise CommitStatusError(
                f"commit status of {self.tx_id} unknown after {limit:.0f}s: "
                "it may still commit; query the ledger before resubmitting", tx_id=self.tx_id,
            ) from None
        _, lagging = futures_wait(self._futures, timeout=self.CATCH_UP_SECONDS)
        if lagging:
            log.warning("%d peer(s) had not committed %s %.0fs after the first", len(lagging), self.tx_id[:12],
                        self.CATCH_UP_SECONDS)
        return status


def connect(identity: Identity, signer: Signer | None, peers: list[Endpoint], orderers: list[Endpoint],
            timeouts: Timeouts | None = None, retries: int = 3) -> Gateway:
    return Gateway(identity, signer, peers, orderers, timeouts, retries)
