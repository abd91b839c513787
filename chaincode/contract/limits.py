"""Consortium limits on what one submission may cost the verifiers, and where its artifacts live.

A replay task runs one interval; a certificate claiming 10^9 steps per interval, a dataset of a
terabyte or snapshots of a giant model would tie a worker up for months, and each worker runs
one task at a time. So SubmitModel refuses (400 ``limits:``) a certificate over the settings in
force (``config.py``: ``max_steps_per_interval``, ``max_dataset_bytes``, ``max_snapshot_bytes``).
``max_parameters`` needs the architecture registry, which the contract does not have: verifiers
count an architecture's parameters without allocating it and vote REJECT when it is over the
limit frozen in the model's assignment. Verifiers also take every step count and size from
the ledger, never from the artifacts, so what the contract accepted is what they run.

Every artifact URI must be one of ``storage_uri_prefixes`` (the network's own buckets) followed
by the artifact's SHA-256 (``check_uris``), so that all verifiers fetch from the same place and
decide alike.
"""
from __future__ import annotations

from typing import Any

from trainproof.chaincode.shim.stub import ChaincodeError


def check_uris(cert: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuses (400 ``storage:``) an artifact URI that is not one of the network's own storage
    locations followed by the artifact's own SHA-256 (``storage_uri_prefixes``). Otherwise a
    verifier with the hash in its cache would accept what one without it cannot fetch: every
    verifier must decide the same way, from the same place."""
    prefixes = settings["storage_uri_prefixes"]
    artifacts = [("dataset", cert["dataset"])] + [(f"snapshot {s['index']}", s) for s in cert["snapshots"]]
    for what, artifact in artifacts:
        if artifact["uri"] not in {f"{prefix}{artifact['sha256']}" for prefix in prefixes}:
            raise ChaincodeError(f"storage: {what} uri {artifact['uri'][:200]!r} is not the network's storage; "
                                 f"expected one of {', '.join(p + artifact['sha256'] for p in prefixes)}")


def check_limits(cert: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuses a certificate whose replay work is over the consortium's limits."""
    steps = cert["recipe"]["steps_per_interval"]
    if steps > settings["max_steps_per_interval"]:
        raise ChaincodeError(f"limits: recipe/steps_per_interval {steps} is over the consortium's "
                             f"max_steps_per_interval {settings['max_steps_per_interval']}")
    size = cert["dataset"]["size"]
    if size > settings["max_dataset_bytes"]:
        raise ChaincodeError(f"limits: dataset/size {size} bytes is over the consortium's max_dataset_bytes "
                             f"{settings['max_dataset_bytes']}")
    for snap in cert["snapshots"]:
        if snap["size"] > settings["max_snapshot_bytes"]:
            raise ChaincodeError(f"limits: snapshot {snap['index']} size {snap['size']} bytes is over the consortium's "
                                 f"max_snapshot_bytes {settings['max_snapshot_bytes']}")
