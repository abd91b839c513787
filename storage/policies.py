"""Who may do what in MinIO: one policy per role, attached to every org's key for that role.

Submitters write snapshots and datasets; verifiers read those and write evidence; both read all three
buckets. Writes are allowed only under ``sha256/``. Nobody but the root key may delete an object or a
version, shorten or lift a retention, or change a bucket: the explicit Deny says so even if a later
Allow were added by mistake. Overwrites cannot be denied by an S3 policy; object lock keeps the first
version and `versions.find` reads it (see there).
"""
from __future__ import annotations

from trainproof.storage.uris import BUCKETS, DATASETS, EVIDENCE, SNAPSHOTS

WRITES = {"submitter": (SNAPSHOTS, DATASETS), "verifier": (EVIDENCE,)}

FORBIDDEN = [
    "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
    "s3:PutObjectLegalHold", "s3:DeleteBucket", "s3:ForceDeleteBucket", "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration", "s3:PutEncryptionConfiguration", "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration",
]


def policy_name(role: str) -> str:
    return f"trainproof-{role}"


def role_policy(role: str) -> dict:
    buckets = [f"arn:aws:s3:::{bucket}" for bucket in BUCKETS]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow",
             "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketVersions"],
             "Resource": buckets},
            {"Effect": "Allow",
             "Action": ["s3:GetObject", "s3:GetObjectVersion"],
             "Resource": [f"{bucket}/*" for bucket in buckets]},
            {"Effect": "Allow",
             "Action": ["s3:PutObject"],
             "Resource": [f"arn:aws:s3:::{bucket}/sha256/*" for bucket in WRITES[role]]},
            {"Effect": "Deny",
             "Action": FORBIDDEN,
             "Resource": buckets + [f"{bucket}/*" for bucket in buckets]},
        ],
    }
