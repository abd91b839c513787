"""Where the nodes are and how to reach them over TLS."""
from __future__ import annotations

from dataclasses import dataclass

import grpc

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
