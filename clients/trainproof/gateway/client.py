"""The client: connect → network → contract → evaluate / submit, shaped like fabric-gateway.

Fabric 3.1.5 peers serve the Gateway gRPC service (``gateway.Gateway``), which does a
transaction's work on the peer: it collects the endorsements and checks that they agree,
assembles the transaction, hands it to the orderers, reports its commit status and streams
chaincode events. This client builds and signs the proposal, the transaction and the
commit-status and event requests, and calls those services itself with ``grpcio`` and
``hyperledger-fabric-protos``: fabric-sdk-py (package ``hfc``) does not install on Python 3.11
and has no Gateway support, and the official fabric-gateway clients are Go, Node and Java only.

Each call goes to the first peer's gateway (own org first) and fails over to the next peer's on
a transport failure, never on a refusal.

Trust (the fabric-gateway model, checked rather than assumed): the gateway peer that endorses
may be another org's, and that org may lie. So, given the channel's MSPs (``msps``; the
profile passes them), the prepared transaction is checked before it is signed: signatures,
endorsers issued by their MSP's CA, one endorsement per org (``endorsements.py``). A submit is
reported committed only from the client's own org's peer, or, where ``commit_quorum`` is set,
from that many peers reporting the same status; another org's peer alone is never believed.
After the own org's peer reports, the other peers get a short grace to commit it too, so that a
query sent right after a submit sees the new state on any peer.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import grpc
from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import proposal_pb2, transaction_pb2

from trainproof.gateway import messages
from trainproof.gateway.checkpoint import InMemoryCheckpointer
from trainproof.gateway.deliver import BlockSource, blocks
from trainproof.gateway.endorsements import MSPs, EndorsementInvalid, check_endorsements
from trainproof.gateway.endpoints import Connection, Endpoint
from trainproof.gateway.errors import (
    CommitError, CommitStatusError, EndorseError, ErrorDetail, EvaluateError, GatewayError, Status, SubmitError,
    details_from_rpc,
)
from trainproof.gateway.events import ChaincodeEvent, after_checkpoint, events_of
from trainproof.gateway.identity import Identity, Signer, digest

log = logging.getLogger("trainproof.gateway")
Args = Sequence[str | bytes]
# The gateway's word for endorsements whose results differ, and how often that is retried.
_MISMATCH = "ProposalResponsePayloads do not match"
_MISMATCH_RETRIES = 3
# SmartBFT orderers' answer to a transaction they already hold.
_ALREADY_ORDERED = "request already processed"
# An event stream refused for good: retrying would get the same answer.
_EVENTS_FINAL = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                 grpc.StatusCode.UNAUTHENTICATED}


@dataclass
class Timeouts:
    evaluate: float = 30.0
    endorse: float = 30.0
    submit: float = 30.0
    commit_status: float = 60.0


def _encode(args: Args) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode("utf-8") for a in args]


class _Unanswered(Exception):
    """No gateway answered with a result: the last failure of each peer tried, in order."""

    def __init__(self, failures: list[tuple[Endpoint, grpc.RpcError]]) -> None:
        super().__init__(f"{len(failures)} failure(s)")
        self.failures = failures

    @property
    def last(self) -> grpc.RpcError | None:
        return self.failures[-1][1] if self.failures else None

    @property
    def details(self) -> list[ErrorDetail]:
        return [d for endpoint, exc in self.failures for d in details_from_rpc(exc, endpoint.label)]

    def error(self, cls: type[GatewayError], what: str, tx_id: str) -> GatewayError:
        """``cls`` saying ``what`` failed and why: the contract's message if it refused."""
        details = self.details
        reason = next((d.message for d in details if d.status is not None), None)
        if reason is None:
            last = self.last
            reason = f"{last.code().name}: {last.details()}" if last else "no peer answered in time"
        return cls(f"{what}: {reason}", details, tx_id)


class Gateway:
    """A connection to the peers' Gateway services for one identity.

    Endorsement asks for one endorsement from each org of ``peers`` (the channel's MAJORITY
    policy needs every org of this network), so a refusal carries every org's answer.
    ``orderers`` is accepted and not used: the peers' gateways reach the orderers themselves.
    ``msps``: the channel's MSPs, to check endorsements against, or a function returning them
    (called at the first endorsement); None: not checked.
    ``commit_quorum``: how many peers must report the same commit status (None: the own org's
    peer decides, and there must be one).
    """

    def __init__(self, identity: Identity, signer: Signer | None, peers: Sequence[Endpoint],
                 orderers: Sequence[Endpoint] = (), timeouts: Timeouts | None = None, retries: int = 3,
                 msps: MSPs | Callable[[], MSPs] | None = None, commit_quorum: int | None = None) -> None:
        if not peers:
            raise ValueError("a gateway needs at least one peer")
        if commit_quorum is not None and not 1 <= commit_quorum <= len(peers):
            raise ValueError(f"commit_quorum must be 1..{len(peers)} (the number of peers), not {commit_quorum}")
        self.identity, self.signer = identity, signer
        self._msps, self.commit_quorum = msps, commit_quorum
        self.timeouts = timeouts or Timeouts()
        self.retries = retries
        self.connections = [Connection(p) for p in sorted(peers, key=lambda p: p.mspid != identity.mspid)]
        self._networks: dict[str, Network] = {}

    @property
    def msps(self) -> MSPs | None:
        """The channel's MSPs, read on first use (a provider is called once): queries need none,
        so a client whose MSPs cannot be read still reads the ledger, and fails only to submit."""
        if callable(self._msps):
            self._msps = self._msps()
        return self._msps

    @property
    def endorsing_orgs(self) -> list[str]:
        """Every org of the channel when its MSPs are known, not only those whose peers this gateway knows."""
        return list(dict.fromkeys([*(c.endpoint.mspid for c in self.connections if c.endpoint.mspid),
                                   *sorted(self.msps or ())]))

    def get_network(self, name: str) -> Network:
        if name not in self._networks:
            self._networks[name] = Network(self, name)
        return self._networks[name]

    def close(self) -> None:
        for network in self._networks.values():
            network.close()
        for connection in self.connections:
            connection.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sign(self, message: bytes) -> bytes:
        if self.signer is None:
            raise ValueError("this gateway has no signer: sign the digest offline and pass the signature")
        return self.signer(digest(message))

    def _call(self, rpc: str, request: Any, timeout: float, peers: Sequence[Connection] | None = None,
              deadline: float | None = None) -> tuple[Any, Connection]:
        """``rpc`` on the first peer's gateway that answers, and that peer.

        A transport failure (``Connection.unreachable``) moves on to the next peer; after the
        last, the round starts again with backoff: ``retries`` more rounds, or until ``deadline``
        (a ``time.monotonic()`` value) if given. Any other error is the answer. Raises
        ``_Unanswered`` with the failures.
        """
        peers = peers or self.connections
        failures: dict[str, tuple[Endpoint, grpc.RpcError]] = {}
        delay = 0.25
        attempt = 0
        while True:
            for peer in peers:
                left = timeout if deadline is None else min(timeout, deadline - time.monotonic())
                if left <= 0:
                    break
                mark = peer.mark()
                try:
                    return getattr(peer.gateway, rpc)(request, timeout=left), peer
                except grpc.RpcError as exc:
                    failures[peer.endpoint.address] = (peer.endpoint, exc)
                    if not peer.unreachable(exc, mark):
                        raise _Unanswered(list(failures.values())) from None
                    log.info("%s on %s (%s): %s %s", rpc, peer.endpoint.label, peer.endpoint.address, exc.code().name,
                             exc.details())
            attempt += 1
            if (attempt > self.retries) if deadline is None else (time.monotonic() + delay >= deadline):
                raise _Unanswered(list(failures.values()))
            time.sleep(delay)
            delay = min(delay * 2, 4.0)


class Network:
    """One channel."""

    def __init__(self, gateway: Gateway, name: str) -> None:
        self.gateway, self.name = gateway, name
        self._streams: weakref.WeakSet[ChaincodeEventStream] = weakref.WeakSet()

    def get_contract(self, chaincode: str) -> Contract:
        return Contract(self, chaincode)

    def block_source(self, peers: list[Endpoint] | None = None) -> BlockSource:
        """Full blocks from the peers' Deliver service (default: every peer, own org first)."""
        gw = self.gateway
        by_address = {c.endpoint.address: c for c in gw.connections}
        connections = gw.connections if peers is None else [by_address[p.address] for p in peers]
        return BlockSource(connections, self.name, gw.identity, gw.sign)

    def blocks(self, start_block: int | None = None, checkpointer: InMemoryCheckpointer | None = None) -> BlockStream:
        """Full blocks from the peers' Deliver service, from ``start_block`` (default: the newest)
        or from the block after a checkpoint (``checkpointer.checkpoint_block(n)`` → n + 1)."""
        stream = BlockStream(self.block_source(), start_block, checkpointer)
        self._streams.add(stream)
        return stream

    def chaincode_events(self, chaincode: str, start_block: int | None = None,
                         checkpointer: InMemoryCheckpointer | None = None) -> ChaincodeEventStream:
        """Events of ``chaincode`` from ``start_block`` (default: new blocks only) or after a checkpoint."""
        stream = ChaincodeEventStream(self, chaincode, start_block, checkpointer)
        self._streams.add(stream)
        return stream

    def close(self) -> None:
        for stream in list(self._streams):
            stream.close()


class BlockStream:
    """Iterate to receive full blocks in order; ``close()`` ends the stream. A broken stream
    resumes from the block after the last one received, on the next peer if need be."""

    def __init__(self, source: BlockSource, start_block: int | None, checkpointer: InMemoryCheckpointer | None) -> None:
        if checkpointer is not None and checkpointer.block_number is not None:
            start_block = checkpointer.block_number
        self._source, self._start = source, start_block
        self._stop = threading.Event()
        self._cancel: Callable[[], None] = lambda: None

    def __iter__(self) -> Iterator[common_pb2.Block]:
        return blocks(self._source, self._start, self._stop, self._on_stream)

    def _on_stream(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel

    def close(self) -> None:
        self._stop.set()
        self._cancel()


class ChaincodeEventStream:
    """Iterate to receive events; ``close()`` ends the stream.

    Runs on the gateway's ChaincodeEvents service; resumes after a checkpoint exactly, and after
    a broken stream from the block after the last one received (the next peer's gateway if the
    peer became unreachable).
    """

    def __init__(self, network: Network, chaincode: str, start_block: int | None,
                 checkpointer: InMemoryCheckpointer | None) -> None:
        self._network, self._chaincode = network, chaincode
        self._checkpoint: tuple[int | None, str] = (None, "")
        if checkpointer is not None and checkpointer.block_number is not None:
            start_block = checkpointer.block_number
            self._checkpoint = (checkpointer.block_number, checkpointer.transaction_id)
        self._start = start_block
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._call: grpc.Call | None = None

    def _height(self) -> int | None:
        """The channel's height now: "new blocks only" stays a fixed start across reconnects."""
        try:
            info = self._network.get_contract("qscc").evaluate("GetChainInfo", [self._network.name])
        except GatewayError as exc:
            log.warning("no channel height (%s); events from the next block committed", exc.message)
            return None
        return ledger_pb2.BlockchainInfo.FromString(info).height

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        gw = self._network.gateway
        next_block = self._start if self._start is not None else self._height()
        peer, backoff = 0, 0.5
        while not self._stop.is_set():
            connection = gw.connections[peer]
            request = messages.chaincode_events_request(self._network.name, self._chaincode,
                                                        gw.identity.serialize(), next_block)
            call = connection.gateway.ChaincodeEvents(
                gateway_pb2.SignedChaincodeEventsRequest(request=request, signature=gw.sign(request)))
            with self._lock:
                self._call = call
                if self._stop.is_set():
                    call.cancel()
            try:
                for response in call:
                    next_block = response.block_number + 1
                    backoff = 0.5
                    yield from after_checkpoint(events_of(response), *self._checkpoint)
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    break
                if exc.code() in _EVENTS_FINAL:
                    raise GatewayError(f"chaincode events of {self._chaincode} refused: {exc.code().name}: "
                                       f"{exc.details()}", details_from_rpc(exc, connection.endpoint.label)) from None
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    peer = (peer + 1) % len(gw.connections)
                log.warning("event stream from %s broke (%s: %s); resuming from block %s", connection.endpoint.label,
                            exc.code().name, exc.details(), next_block)
            finally:
                call.cancel()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10)

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            if self._call is not None:
                self._call.cancel()


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
        """Run on one peer chosen by the gateway (its own org's first), no ordering; returns the result."""
        gw = self.contract.gateway
        request = messages.evaluate_request(self.tx_id, self.contract.network.name, self._signed(signature))
        try:
            response, _ = gw._call("Evaluate", request, gw.timeouts.evaluate)
        except _Unanswered as failed:
            raise failed.error(EvaluateError, f"{self.function} failed", self.tx_id) from None
        return bytes(response.result.payload)

    def endorse(self, signature: bytes | None = None) -> Transaction:
        """One endorsement per org, collected (and checked to agree) by the gateway."""
        gw = self.contract.gateway
        request = messages.endorse_request(self.tx_id, self.contract.network.name, self._signed(signature),
                                           gw.endorsing_orgs)
        for attempt in range(_MISMATCH_RETRIES + 1):
            try:
                response, peer = gw._call("Endorse", request, gw.timeouts.endorse)
                break
            except _Unanswered as failed:
                # Peers a block apart read different state and so return different results; the
                # lagging one catches up within a block interval. Anything else is the answer.
                if attempt == _MISMATCH_RETRIES or not any(_MISMATCH in d.message for d in failed.details):
                    raise failed.error(EndorseError, f"{self.function} was not endorsed", self.tx_id) from None
                time.sleep(0.3 * (attempt + 1))
        payload = bytes(response.prepared_transaction.payload)
        try:
            result = messages.endorsed_result(payload, self._proposal)
        except ValueError as exc:
            raise EndorseError(f"{self.function}: the gateway's transaction is not ours: {exc}",
                               [ErrorDetail(peer.endpoint.label, str(exc))], self.tx_id) from None
        if gw.msps is not None:
            try:
                check_endorsements(payload, self._proposal, gw.msps)
            except EndorsementInvalid as exc:
                raise EndorseError(f"{self.function}: endorsements from the gateway of {peer.endpoint.label} refused: "
                                   f"{exc}", [ErrorDetail(peer.endpoint.label, str(exc), None, peer.endpoint.mspid)],
                                   self.tx_id) from None
        return Transaction(self, payload, result)


class Transaction:
    """An endorsed transaction not yet ordered; ``bytes``/``digest`` allow signing it offline."""

    def __init__(self, proposal: Proposal, payload: bytes, result: bytes) -> None:
        self.proposal, self.bytes, self.result = proposal, payload, result
        self.tx_id = proposal.tx_id

    @property
    def digest(self) -> bytes:
        return digest(self.bytes)

    def submit(self, signature: bytes | None = None) -> SubmittedTransaction:
        """Hand it to the gateway for ordering; the same signed envelope may go to several
        peers' gateways (a transaction id commits once), until ``timeouts.submit`` runs out."""
        contract = self.proposal.contract
        gw = contract.gateway
        sig = signature if signature is not None else gw.sign(self.bytes)
        envelope = common_pb2.Envelope(payload=self.bytes, signature=sig)
        request = messages.submit_request(self.tx_id, contract.network.name, envelope)
        try:
            _, peer = gw._call("Submit", request, gw.timeouts.submit, deadline=time.monotonic() + gw.timeouts.submit)
        except _Unanswered as failed:
            # A retry after an attempt that did reach the orderers (its answer was lost or late)
            # hears from BFT orderers that they have the request: it is being ordered, and the
            # commit status tells how it ends.
            if not any(_ALREADY_ORDERED in d.message for d in failed.details):
                raise failed.error(SubmitError, f"{self.proposal.function} was not ordered", self.tx_id) from None
            peer = gw.connections[0]
        return SubmittedTransaction(contract.network, self.tx_id, self.result, peer)


class SubmittedTransaction:
    """Ordered; ``get_status()`` waits for the commit. ``bytes``/``digest`` are those of the
    commit-status request, to sign it offline."""

    # After the own org's peer reports the commit, how long the other peers get to report it too.
    CATCH_UP_SECONDS = 10.0

    def __init__(self, network: Network, tx_id: str, result: bytes, submitted_to: Connection) -> None:
        self.tx_id, self.result = tx_id, result
        self._network, self._submitted_to = network, submitted_to
        self.bytes = messages.commit_status_request(network.name, tx_id, network.gateway.identity.serialize())

    @property
    def digest(self) -> bytes:
        return digest(self.bytes)

    def get_status(self, timeout: float | None = None, signature: bytes | None = None) -> Status:
        """The commit status as the own org's peer reports it, after the other peers had
        ``CATCH_UP_SECONDS`` to report it too; with ``commit_quorum``, as that many peers agree."""
        gw = self._network.gateway
        limit = timeout if timeout is not None else gw.timeouts.commit_status
        signed = gateway_pb2.SignedCommitStatusRequest(
            request=self.bytes, signature=signature if signature is not None else gw.sign(self.bytes))
        if gw.commit_quorum is not None:
            return self._quorum_status(signed, gw.commit_quorum, limit)
        own = [c for c in gw.connections if c.endpoint.mspid == gw.identity.mspid]
        if not own:
            raise CommitStatusError(f"commit status of {self.tx_id} not trusted: this gateway has no peer of "
                                    f"{gw.identity.mspid}, and another org's peer alone is not believed; add an own-org "
                                    "peer or set commit_quorum", [], self.tx_id)
        try:
            response, peer = gw._call("CommitStatus", signed, limit, own, deadline=time.monotonic() + limit)
        except _Unanswered as failed:
            last = failed.last
            why = (f"after {limit:.0f}s" if last is None or last.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                   else f"({last.code().name}: {last.details()})")
            raise CommitStatusError(f"commit status unknown for {self.tx_id} {why}: it may still commit; "
                                    "query the ledger before resubmitting", failed.details, self.tx_id) from None
        self._catch_up(signed, peer)
        return Status(self.tx_id, transaction_pb2.TxValidationCode.Name(response.result), response.block_number)

    def _quorum_status(self, signed: gateway_pb2.SignedCommitStatusRequest, quorum: int, limit: float) -> Status:
        """The status ``quorum`` peers report alike; peers that report different outcomes are an error."""
        calls = [(c, c.gateway.CommitStatus.future(signed, timeout=limit)) for c in self._network.gateway.connections]
        seen: dict[tuple[int, int], list[str]] = {}
        failures: list[ErrorDetail] = []
        for peer, call in calls:
            try:
                response = call.result()
            except grpc.RpcError as exc:
                failures.extend(details_from_rpc(exc, peer.endpoint.label))
                continue
            seen.setdefault((response.result, response.block_number), []).append(peer.endpoint.label)
            if len({result for result, _ in seen}) > 1:
                raise CommitStatusError(f"peers disagree on the commit status of {self.tx_id}: " + "; ".join(
                    f"{transaction_pb2.TxValidationCode.Name(r)} in block {b} ({', '.join(p)})"
                    for (r, b), p in seen.items()), failures, self.tx_id)
            (result, block), agreeing = next(iter(seen.items()))
            if len(agreeing) >= quorum:
                for _, other in calls:
                    other.cancel()
                return Status(self.tx_id, transaction_pb2.TxValidationCode.Name(result), block)
        raise CommitStatusError(f"commit status unknown for {self.tx_id}: fewer than {quorum} peers reported it "
                                f"within {limit:.0f}s; it may still commit; query the ledger before resubmitting",
                                failures, self.tx_id)

    def _catch_up(self, signed: gateway_pb2.SignedCommitStatusRequest, answered: Connection) -> None:
        calls = [(c, c.gateway.CommitStatus.future(signed, timeout=self.CATCH_UP_SECONDS))
                 for c in self._network.gateway.connections if c is not answered]
        for peer, call in calls:
            try:
                call.result()
            except grpc.RpcError as exc:
                log.warning("%s (%s) did not confirm the commit of %s within %.0fs of %s: %s", peer.endpoint.label,
                            peer.endpoint.address, self.tx_id[:12], self.CATCH_UP_SECONDS, answered.endpoint.label,
                            exc.code().name)


def connect(identity: Identity, signer: Signer | None, peers: Sequence[Endpoint], orderers: Sequence[Endpoint] = (),
            timeouts: Timeouts | None = None, retries: int = 3, msps: MSPs | Callable[[], MSPs] | None = None,
            commit_quorum: int | None = None) -> Gateway:
    """A gateway to ``peers`` (own org's first); ``orderers`` is accepted for older callers and not used."""
    return Gateway(identity, signer, peers, orderers, timeouts, retries, msps, commit_quorum)
