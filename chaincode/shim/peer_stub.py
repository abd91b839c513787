"""The Stub backed by the real peer: every ledger call is a request on the chaincode stream."""
from __future__ import annotations

import time

from typing import Callable, Iterator

from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_event_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim_pb2

from trainproof.chaincode.shim.protocol import ProposalInfo
from trainproof.chaincode.shim.stub import ChaincodeError, Creator, KeyModification, Stub

Msg = shim_pb2.ChaincodeMessage

Request = Callable[[int, bytes], bytes]


class PeerStub(Stub):
    """One transaction's view of the ledger; ``request`` sends a message and waits for the reply."""

    def __init__(self, function: str, args: list[bytes], info: ProposalInfo, request: Request) -> None:
        self.function = function
        self.args = args
        self.tx_id = info.tx_id
        self.channel_id = info.channel_id
        self.tx_timestamp = info.timestamp
        self._creator = info.creator
        self._request = request
        self.event: chaincode_event_pb2.ChaincodeEvent | None = None

    def get_creator(self) -> Creator:
        return self._creator

    def peer_time(self) -> float:
        return time.time()

    def get_state(self, key: str) -> bytes | None:
        value = self._request(Msg.GET_STATE, shim_pb2.GetState(key=key).SerializeToString())
        return value or None

    def put_state(self, key: str, value: bytes) -> None:
        if not key:
            raise ChaincodeError("put_state needs a non-empty key")
        self._request(Msg.PUT_STATE, shim_pb2.PutState(key=key, value=value).SerializeToString())

    def del_state(self, key: str) -> None:
        self._request(Msg.DEL_STATE, shim_pb2.DelState(key=key).SerializeToString())

    def get_history_for_key(self, key: str) -> Iterator[KeyModification]:
        payload = shim_pb2.GetHistoryForKey(key=key).SerializeToString()
        for raw in self._iterate(Msg.GET_HISTORY_FOR_KEY, payload):
            mod = kv_query_result_pb2.KeyModification.FromString(raw)
            yield KeyModification(
                tx_id=mod.tx_id,
                value=bytes(mod.value),
                timestamp=mod.timestamp.seconds + mod.timestamp.nanos / 1e9,
                is_delete=mod.is_delete,
            )

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise ChaincodeError("set_event needs an event name")
        self.event = chaincode_event_pb2.ChaincodeEvent(event_name=name, payload=payload)

    def _composite_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        payload = shim_pb2.GetStateByRange(startKey=start, endKey=end).SerializeToString()
        for raw in self._iterate(Msg.GET_STATE_BY_RANGE, payload):
            kv = kv_query_result_pb2.KV.FromString(raw)
            yield kv.key, bytes(kv.value)

    def _composite_range_page(
        self, start: str, end: str, page_size: int, bookmark: str
    ) -> tuple[list[tuple[str, bytes]], str]:
        metadata = shim_pb2.QueryMetadata(pageSize=page_size, bookmark=bookmark).SerializeToString()
        payload = shim_pb2.GetStateByRange(startKey=start, endKey=end, metadata=metadata).SerializeToString()
        response = shim_pb2.QueryResponse.FromString(self._request(Msg.GET_STATE_BY_RANGE, payload))
        rows = [self._kv(r) for r in response.results]
        # The peer pages the first response itself; a paginated query has no follow-up pages.
        if response.has_more:
            self._request(Msg.QUERY_STATE_CLOSE, shim_pb2.QueryStateClose(id=response.id).SerializeToString())
        meta = shim_pb2.QueryResponseMetadata.FromString(response.metadata)
        next_bookmark = meta.bookmark if len(rows) >= page_size else ""
        return rows, next_bookmark

    @staticmethod
    def _kv(result: shim_pb2.QueryResultBytes) -> tuple[str, bytes]:
        kv = kv_query_result_pb2.KV.FromString(result.resultBytes)
        return kv.key, bytes(kv.value)

    def _iterate(self, msg_type: int, payload: bytes) -> Iterator[bytes]:
        """Follow a peer-side iterator to its end, closing it even if the caller stops early."""
        response = shim_pb2.QueryResponse.FromString(self._request(msg_type, payload))
        try:
            while True:
                for result in response.results:
                    yield bytes(result.resultBytes)
                if not response.has_more:
                    return
                nxt = shim_pb2.QueryStateNext(id=response.id).SerializeToString()
                response = shim_pb2.QueryResponse.FromString(self._request(Msg.QUERY_STATE_NEXT, nxt))
        finally:
            if response.has_more:
                close = shim_pb2.QueryStateClose(id=response.id).SerializeToString()
                self._request(Msg.QUERY_STATE_CLOSE, close)
