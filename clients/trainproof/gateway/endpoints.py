"""Where the peers are, how to reach them over TLS, and whether a failed call ever reached one.

A call that times out before its channel ever connected was never sent, so it may be tried
on the next peer; ``Connection`` follows the channel's connectivity to tell the two apart.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2_grpc

_OPTIONS = [
    ("grpc.max_receive_message_length", 100 * 1024 * 1024),
    ("grpc.max_send_message_length", 100 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]


@dataclass(frozen=True)
class Endpoint:
    """A peer or orderer: its address, the CA that signed its TLS certificate, its TLS name."""

    address: str
    tls_root_cert: bytes
    server_name: str = ""
    mspid: str = ""

    def open_channel(self) -> grpc.Channel:
        options = list(_OPTIONS)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        credentials = grpc.ssl_channel_credentials(root_certificates=self.tls_root_cert)
        return grpc.secure_channel(self.address, credentials, options=options)

    @property
    def label(self) -> str:
        return self.server_name or self.address


class Connection:
    """One peer's channel and Gateway stub, connecting eagerly and counting each time it is READY."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.channel = endpoint.open_channel()
        self.gateway = gateway_pb2_grpc.GatewayStub(self.channel)
        self._lock = threading.Lock()
        self._ready = False
        self._connects = 0
        self.channel.subscribe(self._on_state, try_to_connect=True)

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        with self._lock:
            ready = state == grpc.ChannelConnectivity.READY
            if ready and not self._ready:
                self._connects += 1
            self._ready = ready

    def mark(self) -> tuple[bool, int]:
        """Taken before a call, for ``unreachable``."""
        with self._lock:
            return self._ready, self._connects

    def unreachable(self, exc: grpc.RpcError, mark: tuple[bool, int]) -> bool:
        """The call may be tried on the next peer: UNAVAILABLE (the peer, or what its gateway
        needs, is unreachable), or a deadline that ran out while the channel was not connected at
        any time during the call, so that nothing was sent."""
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return True
        return exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and not mark[0] and self.mark() == mark

    def close(self) -> None:
        self.channel.unsubscribe(self._on_state)
        self.channel.close()
