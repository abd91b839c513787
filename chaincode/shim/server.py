"""The chaincode-as-a-service gRPC server: the peer dials in, one stream per peer."""
from __future__ import annotations

import logging
from concurrent import futures
from pathlib import Path

import grpc
from fabric_protos.peer import chaincode_shim_pb2_grpc

from trainproof.chaincode.shim.handler import Contract, StreamHandler

log = logging.getLogger("trainproof.chaincode.shim")


class ChaincodeService(chaincode_shim_pb2_grpc.ChaincodeServicer):
    def __init__(self, ccid: str, contract: Contract) -> None:
        self._ccid = ccid
        self._contract = contract

    def Connect(self, request_iterator, context):  # noqa: N802 (gRPC method name)
        log.info("peer connected from %s", context.peer())
        return StreamHandler(self._ccid, self._contract).serve(request_iterator)


def serve(
    address: str,
    ccid: str,
    contract: Contract,
    tls_key: Path | None = None,
    tls_cert: Path | None = None,
    tls_client_ca: Path | None = None,
) -> grpc.Server:
    """Start serving; with TLS files given, the peer must present a client certificate."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=[
        ("grpc.max_receive_message_length", 100 * 1024 * 1024),
        ("grpc.max_send_message_length", 100 * 1024 * 1024),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ])
    chaincode_shim_pb2_grpc.add_ChaincodeServicer_to_server(ChaincodeService(ccid, contract), server)
    if tls_key and tls_cert:
        credentials = grpc.ssl_server_credentials(
            [(tls_key.read_bytes(), tls_cert.read_bytes())],
            root_certificates=tls_client_ca.read_bytes() if tls_client_ca else None,
            require_client_auth=tls_client_ca is not None,
        )
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    server.start()
    log.info("chaincode %s listening on %s (TLS %s)", ccid, address, "on" if tls_key else "off")
    return server
