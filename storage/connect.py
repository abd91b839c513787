"""HTTP connections to MinIO, configured once: TLS pinned to the network's own certificate, no hidden retries."""
from __future__ import annotations

import urllib3
from minio import Minio

from trainproof.storage.hashing import CHUNK
from trainproof.storage.state import Connection


def http_pool(conn: Connection) -> urllib3.PoolManager:
    # No retries inside urllib3: `RetryPolicy` decides, so a refused request is not silently sent again.
    options = dict(timeout=urllib3.Timeout(connect=5, read=120), retries=False, blocksize=CHUNK, maxsize=4)
    if conn.ca_file is None:
        return urllib3.PoolManager(**options)
    return urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(conn.ca_file), **options)


def s3_client(conn: Connection, http: urllib3.PoolManager | None = None) -> Minio:
    return Minio(conn.endpoint, access_key=conn.access_key, secret_key=conn.secret_key,
                 secure=conn.ca_file is not None, region=conn.region, http_client=http or http_pool(conn))
