"""Fixtures for the storage and queue tests.

They use the MinIO and Redis that `make network-up` started for $TRAINPROOF_HOME and never start
servers of their own, except `minio_service` and `redis_service`, which stop and restart those same
servers through network/scripts/services/*.sh for the tests that need an outage.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
from minio import Minio

from trainproof.storage import ArtifactStore, RetryPolicy, connect
from trainproof.storage.housekeeping import purge
from trainproof.storage.state import credentials_path, load

REPO_ROOT = Path(__file__).resolve().parents[2]
# Short waits: these tests provoke outages on purpose and should not sit through the default backoff.
QUICK_RETRY = RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0)


def run_service(*functions: str) -> None:
    """Run service functions (minio_stop, redis_start, ...) as `make network-up` does."""
    script = ('source network/scripts/env.sh && source network/scripts/services/minio.sh && '
              'source network/scripts/services/redis.sh && for f in "$@"; do "$f"; done')
    subprocess.run(["bash", "-c", script, "services", *functions], cwd=REPO_ROOT, check=True, timeout=120)


def s3_client(role: str, org: str = "org1") -> Minio:
    """A plain S3 client with a role's keys, for what the store never does (delete, overwrite)."""
    return connect.s3_client(load(role, org))


@pytest.fixture(scope="session")
def minio_credentials() -> Path:
    path = credentials_path()
    if not path.exists():
        pytest.fail(f"no MinIO credentials at {path}: run the suite with `make test` (it starts the network)")
    return path


@pytest.fixture(scope="session")
def admin_s3(minio_credentials: Path) -> Minio:
    return s3_client("admin")


@pytest.fixture(scope="session")
def created(admin_s3: Minio) -> Iterator[list[tuple[str, str]]]:
    """Register (bucket, sha256) of test objects; they are removed at the end, retention bypassed."""
    objects: list[tuple[str, str]] = []
    yield objects
    for bucket, sha256 in objects:
        purge(admin_s3, bucket, sha256)


@pytest.fixture
def store_for(minio_credentials: Path) -> Iterator[Callable[..., ArtifactStore]]:
    stores: list[ArtifactStore] = []

    def make(role: str, org: str = "org1", retry: RetryPolicy | None = None) -> ArtifactStore:
        store = ArtifactStore.from_state(role=role, org=org, retry=retry)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def submitter(store_for) -> ArtifactStore:
    return store_for("submitter", "org1")


@pytest.fixture
def verifier(store_for) -> ArtifactStore:
    return store_for("verifier", "org2")


@pytest.fixture
def random_file(tmp_path: Path) -> Callable[[int], Path]:
    """random_file(size) → a new file of random bytes (never stored before)."""

    def make(size: int) -> Path:
        path = tmp_path / f"random-{uuid.uuid4().hex[:8]}.bin"
        with open(path, "wb") as out:
            left = size
            while left:
                chunk = min(left, 16 << 20)
                out.write(os.urandom(chunk))
                left -= chunk
        return path

    return make


class Service:
    """Stop and start one of the network's servers through its service functions."""

    def __init__(self, name: str) -> None:
        self.name = name

    def stop(self) -> None:
        run_service(f"{self.name}_stop")

    def start(self) -> None:
        run_service(f"{self.name}_start", f"{self.name}_wait")


@pytest.fixture
def minio_service() -> Iterator[Service]:
    service = Service("minio")
    yield service
    service.start()  # whatever the test did, leave MinIO running for the rest of the suite


@pytest.fixture
def redis_service() -> Iterator[Service]:
    service = Service("redis")
    yield service
    service.start()
