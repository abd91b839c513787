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
from trainproof.gateway.errors import GatewayError, Status
from trainproof.gateway.identity import Identity

log = logging.getLogger("trainproof.gateway")


# Answers that retrying will not change: the identity may not read the channel, or it does not exist.
_FINAL = {common_pb2.FORBIDDEN, common_pb2.BAD_REQUEST, common_pb2.NOT_FOUND}


class DeliverRefused(GatewayError):
    """A peer refused to deliver blocks (e.g. FORBIDDEN: the identity is not a channel reader)."""


class BlockSource:
    """Opens signed deliver streams on the first peer that answers."""

    def __init__(self, peers: list[Endpoint], channels: dict[str, grpc.Channel], channel: str,
                 identity: Identity, sign: Callable[[bytes], bytes]) -> None:
        self._peers, self._channels, self._channel = peers, channels, channel
        self._identity, self._sign = identity, sign

    def _envelope(self, start: int | None) -> common_pb2.Envelope:
        payload = messages.seek_payload(self._channel, self._identity.serialize(), start).SerializeToString()
        return common_pb2.Envelope(payload=payload, signature=self._sign(payload))

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


def blocks(source: BlockSource, start: int | None, filtered: bool, stop: threading.Event,
           on_stream: Callable[[Callable[[], None]], None] = lambda cancel: None) -> Iterator:
    """Blocks from ``start`` until ``stop``, reconnecting from the next block after a broken stream.

    ``on_stream`` receives each new stream's cancel function, so a closer can interrupt a wait.
    """
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
        on_stream(cancel)
        if stop.is_set():
            cancel()
        try:
            for response in responses:
                kind = response.WhichOneof("Type")
                if kind == "status":
                    if response.status in _FINAL:
                        raise DeliverRefused(f"deliver refused: {common_pb2.Status.Name(response.status)}")
                    if response.status != common_pb2.SUCCESS:
                        raise ConnectionError(f"deliver stopped: {common_pb2.Status.Name(response.status)}")
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
        self._cancel: Callable[[], None] = lambda: None
        self._error: DeliverRefused | None = None

    def start(self, timeout: float) -> None:
        """Start following from the newest block; return once that block has arrived."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="commit-listener")
                self._thread.start()
        if not self._ready.wait(timeout):
            raise ConnectionError("could not open a block stream to any peer")
        if self._error is not None:
            raise self._error

    def expect(self, tx_id: str) -> Future:
        future: Future = Future()
        with self._lock:
            self._waiters[tx_id] = future
        return future

    def _set_cancel(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel

    def forget(self, tx_id: str) -> None:
        with self._lock:
            self._waiters.pop(tx_id, None)

    def close(self) -> None:
        self._stop.set()
        self._cancel()

    def _run(self) -> None:
        try:
            self._follow()
        except DeliverRefused as exc:
            self._error = exc
            self._ready.set()

    def _follow(self) -> None:
        for block in blocks(self._source, None, True, self._stop, self._set_cancel):
            self._ready.set()
            for tx in block.filtered_transactions:
                with self._lock:
                    future = self._waiters.pop(tx.txid, None)
                if future is not None and not future.done():
                    code = validation_code_name(tx.tx_validation_code)
                    future.set_result(Status(tx_id=tx.txid, code=code, block_number=block.number))

