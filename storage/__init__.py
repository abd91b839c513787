"""Content-addressed artifact storage in MinIO: snapshots, datasets and verifier evidence.

Every object is stored under the SHA-256 of its bytes (``s3://<bucket>/sha256/<hex>``) and is only ever
handed to a caller after its bytes were hashed again and matched the hash the caller expected.

    store = ArtifactStore.from_state(role="submitter", org="org1")
    artifact = store.put_file("snap-0003.safetensors", "snapshots")
    store.get_file(artifact.uri, artifact.sha256, "/tmp/snap.safetensors")
"""
from trainproof.storage.client import Artifact, ArtifactStore, SealedArtifact
from trainproof.storage.errors import AccessDenied, IntegrityError, ObjectNotFound, StorageError, StorageUnavailable
from trainproof.storage.progress import ProgressFn
from trainproof.storage.retry import RetryPolicy
from trainproof.storage.uris import BUCKETS, DATASETS, EVIDENCE, SNAPSHOTS

__all__ = [
    "AccessDenied", "Artifact", "ArtifactStore", "BUCKETS", "DATASETS", "EVIDENCE", "IntegrityError",
    "ObjectNotFound", "ProgressFn", "RetryPolicy", "SNAPSHOTS", "SealedArtifact", "StorageError",
    "StorageUnavailable",
]
