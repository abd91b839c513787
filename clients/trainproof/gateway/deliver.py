"""Block streams from peers' Deliver service, resumed after a broken stream."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Callable, Iterator

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc

from trainproof.gateway import messages
from trainproof.gateway.blocks import validation_code_name
from trainproof.gateway.endpoints import Endpoint
from trainproof.gateway.errors import Status
from trainproof.gateway.identity import Identity, Signer, digest

log = logging.getLogger("trainproof.gateway")


class BlockSource:
    """Opens signed deliver streams on the first peer that answers."""

    def __init__(self, peers: list[Endpoint], channels: dict[str, grpc.Channel], channel: str,
                 identity: Identity, signer: Signer) -> None:
        self._peers, self._channels, self._channel = peers, channels, channel
        self._identity, self._signer = identity, signer

    def _envelope(self, start: int | None) -> common_pb2.Envelope:
        payload = messages.seek_payload(self._channel, self._identity.serialize(), start).SerializeToString()
        return common_pb2.Envelope(payload=payload, signature=self._signer(digest(payload)))

    def stream(self, start: int | None, filtered: bool) -> tuple[Iterator, Callable[[], None]]:
        """Responses from ``start`` on, and a function that cancels the stream."""
        errors = []
        for peer in self._peers:
            stub = events_pb2_grpc.DeliverStub(self._channels[peer.address])
            call = (stub.DeliverFiltered if filtered else stub.Deliver)(iter([self._envelope(start)]))
            try:
                first = next(call)
            except grpc.RpcError as exc:
                errors.append(f"{peer.label}: {exc.details()}")
                continue
            return _chain(first, call), call.cancel
        raise ConnectionError("no peer would deliver blocks: " + "; ".join(errors))


def _chain(first, rest) -> Iterator:
    yield first
    yield from rest


def blocks(source: BlockSource, start: int | None, filtered: bool, stop: threading.Event) -> Iterator:
    """Blocks from ``start`` forever, reconnecting from the next block after a broken stream."""
    next_block = start
    backoff = 0.5
    while not stop.is_set():
        try:
            responses, cancel = source.stream(next_block, filtered)
        except ConnectionError as exc:
            log.warning("%s; retrying in %.1fs", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 10)
            continue
        try:
            for response in responses:
                kind = response.WhichOneof("Type")
                if kind == "status":
                    if response.status != common_pb2.SUCCESS:
                        raise ConnectionError(f"deliver refused: {common_pb2.Status.Name(response.status)}")
                    break
                block = response.filtered_block if kind == "filtered_block" else response.block
                number = block.number if kind == "filtered_block" else block.header.number
                next_block = number + 1
                backoff = 0.5
                yield block
                if stop.is_set():
                    break
        except (grpc.RpcError, ConnectionError) as exc:
            if stop.is_set():
                break
            log.warning("block stream broke (%s); resuming from block %s", exc, next_block)
            stop.wait(backoff)
        finally:
            cancel()


class CommitListener:
    """One filtered-block stream per network, resolving the commit futures of our transactions."""

    def __init__(self, source: BlockSource) -> None:
        self._source = source
        self._waiters: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None

    def start(self, timeout: float) -> None:
        """Start following from the newest block; return once that block has arrived."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="commit-listener")
                self._thread.start()
        if not self._ready.wait(timeout):
            raise ConnectionError("could not open a block stream to any peer")

    def expect(self, tx_id: str) -> Future:
        future: Future = Future()
        with self._lock:
            self._waiters[tx_id] = future
        return future

    def forget(self, tx_id: str) -> None:
        with self._lock:
            self._waiters.pop(tx_id, None)

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        for block in blocks(self._source, None, True, self._stop):
            self._ready.set()
            for tx in block.filtered_transactions:
                with self._lock:
                    future = self._waiters.pop(tx.txid, None)
                if future is not None and not future.done():
                    code = validation_code_name(tx.tx_validation_code)
                    future.set_result(Status(tx_id=tx.txid, code=code, block_number=block.number))

