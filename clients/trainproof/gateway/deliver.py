"""Full blocks from the peers' Deliver service, from a block number on, resumed after a broken stream.

Transactions, their commit status and chaincode events go through the peer gateway (client.py);
this is for readers of whole blocks, such as an audit explorer.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterator

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from trainproof.gateway import messages
from trainproof.gateway.endpoints import Connection
from trainproof.gateway.errors import GatewayError
from trainproof.gateway.identity import Identity

log = logging.getLogger("trainproof.gateway")


# Answers that retrying will not change: the identity may not read the channel, or it does not exist.
_FINAL = {common_pb2.FORBIDDEN, common_pb2.BAD_REQUEST, common_pb2.NOT_FOUND}


class DeliverRefused(GatewayError):
    """A peer refused to deliver blocks (e.g. FORBIDDEN: the identity is not a channel reader)."""


class BlockSource:
    """Opens signed deliver streams on the first peer that answers."""

    def __init__(self, peers: list[Connection], channel: str, identity: Identity,
                 sign: Callable[[bytes], bytes]) -> None:
        self._peers, self._channel = peers, channel
        self._identity, self._sign = identity, sign

    def _envelope(self, start: int | None) -> common_pb2.Envelope:
        payload = messages.seek_payload(self._channel, self._identity.serialize(), start).SerializeToString()
        return common_pb2.Envelope(payload=payload, signature=self._sign(payload))

    def stream(self, start: int | None) -> tuple[Iterator, Callable[[], None]]:
        """Responses from ``start`` on (None: the newest block), and a function that cancels the stream."""
        errors = []
        for peer in self._peers:
            call = events_pb2_grpc.DeliverStub(peer.channel).Deliver(iter([self._envelope(start)]))
            try:
                first = next(call)
            except grpc.RpcError as exc:
                errors.append(f"{peer.endpoint.label}: {exc.details()}")
                continue
            return _chain(first, call), call.cancel
        raise ConnectionError("no peer would deliver blocks: " + "; ".join(errors))


def _chain(first, rest) -> Iterator:
    yield first
    yield from rest


def blocks(source: BlockSource, start: int | None, stop: threading.Event,
           on_stream: Callable[[Callable[[], None]], None] = lambda cancel: None) -> Iterator[common_pb2.Block]:
    """Blocks from ``start`` until ``stop``, reconnecting from the next block after a broken stream.

    ``on_stream`` receives each new stream's cancel function, so a closer can interrupt a wait.
    """
    next_block = start
    backoff = 0.5
    while not stop.is_set():
        try:
            responses, cancel = source.stream(next_block)
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
                if response.WhichOneof("Type") == "status":
                    if response.status in _FINAL:
                        raise DeliverRefused(f"deliver refused: {common_pb2.Status.Name(response.status)}")
                    if response.status != common_pb2.SUCCESS:
                        raise ConnectionError(f"deliver stopped: {common_pb2.Status.Name(response.status)}")
                    break
                next_block = response.block.header.number + 1
                backoff = 0.5
                yield response.block
                if stop.is_set():
                    break
        except (grpc.RpcError, ConnectionError) as exc:
            if stop.is_set():
                break
            log.warning("block stream broke (%s); resuming from block %s", exc, next_block)
            stop.wait(backoff)
        finally:
            cancel()
