"""Buckets, role policies and per-org access keys on a running MinIO; `minio_setup` runs it at every
network start (python -m trainproof.storage.provision). Safe to repeat: existing keys are kept, settings re-applied.

Buckets are created with object lock (which also turns versioning on) and a default GOVERNANCE
retention, so no version can be deleted or overwritten in place except by the root key with an explicit
bypass; and with SSE-S3 encryption from MinIO's built-in static key (no external KMS).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from minio import Minio, MinioAdmin
from minio.commonconfig import GOVERNANCE
from minio.credentials import StaticProvider
from minio.error import MinioAdminException
from minio.objectlockconfig import DAYS, ObjectLockConfig
from minio.sseconfig import Rule, SSEConfig

from trainproof.storage.connect import http_pool, s3_client
from trainproof.storage.errors import StorageError
from trainproof.storage.policies import WRITES, policy_name, role_policy
from trainproof.storage.retry import RetryPolicy
from trainproof.storage.state import Connection, credentials_path
from trainproof.storage.uris import BUCKETS

REGION = "us-east-1"


def ensure_buckets(s3: Minio, retention_days: int) -> None:
    for bucket in BUCKETS:
        if not s3.bucket_exists(bucket):
            s3.make_bucket(bucket, object_lock=True)
        if s3.get_bucket_versioning(bucket).status != "Enabled":
            raise StorageError(f"bucket {bucket} exists without versioning and object lock (made by something "
                               f"else?): run `make network-clean && make network-up`")
        s3.set_object_lock_config(bucket, ObjectLockConfig(GOVERNANCE, retention_days, DAYS))
        s3.set_bucket_encryption(bucket, SSEConfig(Rule.new_sse_s3_rule()))


def ensure_users(admin: MinioAdmin, orgs: list[str], previous: dict) -> dict:
    """One key per org and role; a secret already handed out is kept so running clients keep working."""
    for role in WRITES:
        admin.policy_add(policy_name(role), policy=role_policy(role))
    keys = {}
    for org in orgs:
        for role in WRITES:
            name = f"{org}-{role}"
            if not 3 <= len(name) <= 20:
                raise StorageError(f"access key {name!r} must have 3 to 20 characters: use a shorter org name")
            secret = previous.get(name, {}).get("secret_key") or secrets.token_urlsafe(30)
            admin.user_add(name, secret)
            try:
                admin.attach_policy([policy_name(role)], user=name)
            except MinioAdminException as exc:
                if "XMinioAdminPolicyChangeAlreadyApplied" not in str(exc):
                    raise
            keys[name] = {"access_key": name, "secret_key": secret, "org": org, "role": role,
                          "policy": policy_name(role)}
    return keys


def write_private(path: Path, document: dict) -> None:
    """Write JSON readable by the owner only, atomically (a reader never sees half a file)."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(document, out, indent=2)
    os.replace(partial, path)


def provision(home: Path, endpoint: str, orgs: list[str], retention_days: int) -> Path:
    minio_dir = home / "minio"
    root_user = (minio_dir / "secrets" / "root_user").read_text().strip()
    root_password = (minio_dir / "secrets" / "root_password").read_text().strip()
    ca_file = minio_dir / "certs" / "public.crt"
    conn = Connection(endpoint, "admin", root_user, root_password, ca_file, REGION)
    http = http_pool(conn)
    s3 = s3_client(conn, http)
    admin = MinioAdmin(endpoint=endpoint, credentials=StaticProvider(root_user, root_password), secure=True,
                       http_client=http)
    path = credentials_path(home)
    previous = json.loads(path.read_text())["keys"] if path.exists() else {}
    ensure_buckets(s3, retention_days)
    keys = ensure_users(admin, orgs, previous)
    keys["admin"] = {"access_key": root_user, "secret_key": root_password, "role": "admin"}
    write_private(path, {
        "endpoint": endpoint, "region": REGION, "ca_file": str(ca_file), "buckets": list(BUCKETS),
        "retention": {"mode": "GOVERNANCE", "days": retention_days}, "keys": keys,
    })
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainproof.storage.provision", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the network state directory")
    parser.add_argument("--endpoint", required=True, help="MinIO's host:port")
    parser.add_argument("--orgs", nargs="+", required=True)
    parser.add_argument("--retention-days", type=int, default=3650)
    args = parser.parse_args(argv)
    # MinIO answers its health probe a moment before its IAM is ready: retry the whole (idempotent) set-up.
    path = RetryPolicy(attempts=8).run(
        lambda: provision(args.home, args.endpoint, args.orgs, args.retention_days), "MinIO set-up")
    print(f"MinIO buckets {', '.join(BUCKETS)} ready; keys for {', '.join(args.orgs)} in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
