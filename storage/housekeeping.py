"""What the stores never do: remove every version of an object, retention bypassed.

Only the root key may (the role policies deny it); tests and benchmarks use it so their objects do not
pile up in a long-lived network.
"""
from __future__ import annotations

from minio import Minio
from minio.deleteobjects import DeleteObject

from trainproof.storage.errors import StorageError
from trainproof.storage.uris import object_key


def purge(root_client: Minio, bucket: str, sha256: str) -> None:
    key = object_key(sha256)
    versions = [DeleteObject(v.object_name, v.version_id)
                for v in root_client.list_objects(bucket, prefix=key, include_version=True) if v.object_name == key]
    errors = list(root_client.remove_objects(bucket, versions, bypass_governance_mode=True))
    if errors:
        raise StorageError(f"could not remove s3://{bucket}/{key}: {errors}")
