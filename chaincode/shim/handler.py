"""One chaincode stream with the peer: registration, then concurrent transactions.

Why our own shim: fabric-chaincode-python 2.5.4 drops chaincode events and lets concurrent
transactions write to the gRPC stream unsynchronised (the stream breaks). Here every outgoing
message goes through one queue read by gRPC's own response iterator, and every transaction
runs in its own thread, waiting for the replies that carry its (channel, tx id).
"""
from __future__ import annotations

import logging
import queue
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

from fabric_protos.peer import chaincode_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim_pb2
from fabric_protos.peer import proposal_response_pb2

from trainproof.chaincode.shim.peer_stub import PeerStub
from trainproof.chaincode.shim.protocol import decode_signed_proposal
from trainproof.chaincode.shim.stub import ChaincodeError, Stub

Msg = shim_pb2.ChaincodeMessage
Contract = Callable[[Stub], bytes]
log = logging.getLogger("trainproof.chaincode.shim")

_CLOSE = object()


class PeerRequestError(Exception):
    """The peer answered a ledger request with ERROR (e.g. a bad key or a paginated write)."""


class StreamHandler:
    """Serves one ``Chaincode.Connect`` stream opened by a peer."""

    def __init__(self, ccid: str, contract: Contract, workers: int = 32) -> None:
        self._ccid = ccid
        self._contract = contract
        self._outbox: queue.Queue = queue.Queue()
        self._pending: dict[tuple[str, str], queue.Queue] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tx")

    def serve(self, inbox: Iterable[shim_pb2.ChaincodeMessage]) -> Iterator[shim_pb2.ChaincodeMessage]:
        """Yield what we send; a reader thread consumes what the peer sends."""
        self._send(Msg(type=Msg.REGISTER, payload=chaincode_pb2.ChaincodeID(name=self._ccid).SerializeToString()))
        reader = threading.Thread(target=self._read, args=(inbox,), daemon=True, name="cc-reader")
        reader.start()
        while True:
            msg = self._outbox.get()
            if msg is _CLOSE:
                return
            yield msg

    def _send(self, msg: shim_pb2.ChaincodeMessage) -> None:
        self._outbox.put(msg)

    def _read(self, inbox: Iterable[shim_pb2.ChaincodeMessage]) -> None:
        try:
            for msg in inbox:
                self._dispatch(msg)
        except Exception as exc:  # the peer went away; the transactions in flight fail
            log.warning("chaincode stream closed: %s", exc)
        finally:
            with self._lock:
                waiting = list(self._pending.values())
            for q in waiting:
                q.put(Msg(type=Msg.ERROR, payload=b"chaincode stream closed"))
            self._outbox.put(_CLOSE)
            self._pool.shutdown(wait=False)

    def _dispatch(self, msg: shim_pb2.ChaincodeMessage) -> None:
        if msg.type in (Msg.REGISTERED, Msg.KEEPALIVE):
            return
        if msg.type == Msg.READY:
            log.info("registered with the peer as %s", self._ccid)
            return
        if msg.type in (Msg.TRANSACTION, Msg.INIT):
            self._pool.submit(self._run_transaction, msg)
            return
        if msg.type in (Msg.RESPONSE, Msg.ERROR):
            with self._lock:
                q = self._pending.get((msg.channel_id, msg.txid))
            if q is None:
                log.warning("reply for unknown transaction %s on %s", msg.txid, msg.channel_id)
            else:
                q.put(msg)
            return
        log.warning("ignoring unexpected %s message", Msg.Type.Name(msg.type))

    def _run_transaction(self, msg: shim_pb2.ChaincodeMessage) -> None:
        key = (msg.channel_id, msg.txid)
        replies: queue.Queue = queue.Queue()
        with self._lock:
            self._pending[key] = replies

        def request(msg_type: int, payload: bytes) -> bytes:
            self._send(Msg(type=msg_type, payload=payload, txid=msg.txid, channel_id=msg.channel_id))
            reply = replies.get()
            if reply.type == Msg.ERROR:
                raise PeerRequestError(reply.payload.decode("utf-8", "replace"))
            return bytes(reply.payload)

        stub: PeerStub | None = None
        try:
            chaincode_input = chaincode_pb2.ChaincodeInput.FromString(msg.payload)
            args = list(chaincode_input.args)
            info = decode_signed_proposal(msg.proposal)
            function = args[0].decode("utf-8", "replace") if args else ""
            stub = PeerStub(function, args[1:], info, request)
            response = proposal_response_pb2.Response(status=200, payload=self._contract(stub))
        except ChaincodeError as exc:
            response = proposal_response_pb2.Response(status=exc.status, message=exc.message)
        except PeerRequestError as exc:
            response = proposal_response_pb2.Response(status=500, message=f"ledger request failed: {exc}")
        except Exception as exc:  # a contract bug must not take the server down
            log.error("transaction %s crashed:\n%s", msg.txid, traceback.format_exc())
            response = proposal_response_pb2.Response(status=500, message=f"internal error: {exc!r}")
        finally:
            with self._lock:
                self._pending.pop(key, None)
        done = Msg(type=Msg.COMPLETED, payload=response.SerializeToString(), txid=msg.txid, channel_id=msg.channel_id)
        if stub is not None and stub.event is not None and response.status < 400:
            stub.event.chaincode_id = self._ccid
            stub.event.tx_id = msg.txid
            done.chaincode_event.CopyFrom(stub.event)
        self._send(done)
