"""Where a running network keeps MinIO's address, certificate and access keys.

``minio_setup`` (network/scripts/services/minio.sh) writes ``$TRAINPROOF_HOME/minio/credentials.json``;
every client reads it here. Secrets stay in the state directory, never in the repository.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from trainproof.storage.errors import StorageError

REPO_ROOT = Path(__file__).resolve().parents[1]
ROLES = ("submitter", "verifier", "admin")


def network_home() -> Path:
    """The state directory, as network/scripts/env.sh chooses it."""
    return Path(os.environ.get("TRAINPROOF_HOME", REPO_ROOT / ".network"))


def credentials_path(home: Path | None = None) -> Path:
    return (home or network_home()) / "minio" / "credentials.json"


def key_name(role: str, org: str) -> str:
    """The access key's entry in credentials.json: ``admin`` or ``<org>-<role>``."""
    if role not in ROLES:
        raise StorageError(f"unknown storage role {role!r}; expected one of {', '.join(ROLES)}")
    return "admin" if role == "admin" else f"{org}-{role}"


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to MinIO as one identity."""

    endpoint: str  # host:port
    identity: str  # e.g. org1-submitter, for messages
    access_key: str
    secret_key: str = field(repr=False)
    ca_file: Path | None = None  # None: plain HTTP
    region: str = "us-east-1"
    credentials_file: Path | None = None  # where the keys came from, for messages


def load(role: str, org: str, home: Path | None = None) -> Connection:
    """The connection for ``role`` in ``org`` from the state directory's credentials file."""
    path = credentials_path(home)
    if not path.exists():
        raise StorageError(f"no MinIO credentials at {path}: start the network with `make network-up`")
    data = json.loads(path.read_text())
    name = key_name(role, org)
    keys = data["keys"]
    if name not in keys:
        known = ", ".join(sorted(keys))
        raise StorageError(f"{path} has no access key {name!r} (it has: {known}); "
                           f"add the org to MINIO_ORGS and run `make network-up`")
    ca_file = data.get("ca_file")
    return Connection(endpoint=data["endpoint"], identity=name, access_key=keys[name]["access_key"],
                      secret_key=keys[name]["secret_key"], ca_file=Path(ca_file) if ca_file else None,
                      region=data.get("region", "us-east-1"), credentials_file=path)
