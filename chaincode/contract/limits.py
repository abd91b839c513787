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

A confidential certificate (issue #18) lists its sealed artifacts under ``confidential``: for
each, the ciphertext's SHA-256 and size. The artifact's own entry keeps the plaintext hash and
size, the commitment a replay checks, while its ``uri`` addresses the ciphertext, which is
what storage holds and checks; so for a sealed artifact the URI rules apply to the ciphertext's
hash, and the size limits to both sizes (a verifier downloads the ciphertext).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainproof.chaincode.shim.stub import ChaincodeError

# A sealed file is never shorter than its plaintext plus the header (21 bytes) and one chunk's
# 16-byte tag (trainproof.storage.sealing, format 1); the chunk size is the sealer's choice.
SEAL_OVERHEAD = 21 + 16


@dataclass(frozen=True)
class Located:
    """Where one artifact of a certificate lives: ``sha256`` and ``size`` are those of the bytes
    in storage (the ciphertext's when ``sealed``), ``entry`` its dataset/snapshot entry."""

    what: str
    entry: dict[str, Any]
    sha256: str
    size: int
    sealed: bool


def located(cert: dict[str, Any]) -> list[Located]:
    """Every artifact of the certificate, dataset first, as storage holds it."""
    sealed = cert.get("confidential") or {}
    snapshots = {s["index"]: s for s in sealed.get("snapshots", [])}
    out = []
    for what, entry, cipher in [("dataset", cert["dataset"], sealed.get("dataset"))] + [
            (f"snapshot {s['index']}", s, snapshots.get(s["index"])) for s in cert["snapshots"]]:
        held = cipher or entry
        out.append(Located(what, entry, held["sha256"], held["size"], cipher is not None))
    return out


def check_sealed(cert: dict[str, Any]) -> None:
    """Refuses (400 ``confidential:``) a ``confidential`` object that does not describe sealings of
    the certificate's artifacts: an unknown or repeated snapshot index, a ciphertext with its
    plaintext's hash, or one too short to be a sealing of it. Snapshot indices are contiguous
    (checked before)."""
    sealed = cert.get("confidential")
    if sealed is None:
        return
    indices = [s["index"] for s in sealed.get("snapshots", [])]
    if indices != sorted(set(indices)):
        raise ChaincodeError(f"confidential: sealed snapshot indices {indices[:20]} must be unique and increasing")
    if indices and indices[-1] >= len(cert["snapshots"]):
        raise ChaincodeError(f"confidential: sealed snapshot {indices[-1]} does not exist (the certificate has "
                             f"snapshots 0..{len(cert['snapshots']) - 1})")
    for place in located(cert):
        if not place.sealed:
            continue
        if place.sha256 == place.entry["sha256"]:
            raise ChaincodeError(f"confidential: {place.what}'s ciphertext has its plaintext's sha256; a sealed "
                                 "artifact is stored under its ciphertext's hash")
        if place.size < place.entry["size"] + SEAL_OVERHEAD:
            raise ChaincodeError(f"confidential: {place.what}'s ciphertext is {place.size} bytes, shorter than a "
                                 f"sealing of its {place.entry['size']} bytes (at least {SEAL_OVERHEAD} more)")


def check_uris(cert: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuses (400 ``storage:``) an artifact URI that is not one of the network's own storage
    locations followed by the artifact's own SHA-256 (``storage_uri_prefixes``). Otherwise a
    verifier with the hash in its cache would accept what one without it cannot fetch: every
    verifier must decide the same way, from the same place."""
    prefixes = settings["storage_uri_prefixes"]
    for place in located(cert):
        uri = place.entry["uri"]
        if uri not in {f"{prefix}{place.sha256}" for prefix in prefixes}:
            held = "its ciphertext's" if place.sealed else "its"
            raise ChaincodeError(f"storage: {place.what} uri {uri[:200]!r} is not the network's storage followed by "
                                 f"{held} sha256; expected one of {', '.join(p + place.sha256 for p in prefixes)}")


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
    for place in located(cert):
        limit = "max_dataset_bytes" if place.what == "dataset" else "max_snapshot_bytes"
        if place.sealed and place.size > settings[limit]:
            raise ChaincodeError(f"limits: {place.what}'s ciphertext is {place.size} bytes, over the consortium's "
                                 f"{limit} {settings[limit]} (verifiers download the ciphertext)")
