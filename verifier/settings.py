"""Worker and dispatcher settings, read from the environment and the network profile.

A worker acts for exactly one verifier identity (``TRAINPROOF_VERIFIER``, a name from the
profile such as ``org1-verifier1``) and consumes only that identity's queue.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from trainproof.gateway.identity import fingerprint
from trainproof.profile import Profile, network_home


REDIS_DEFAULT = "redis://127.0.0.1:17379/0"
CACHE_MAX_GB_DEFAULT = 20.0

def queue_for(verifier_fingerprint: str) -> str:
    return f"verify.{verifier_fingerprint[:16]}"


def broker_url() -> str:
    """``$TRAINPROOF_BROKER_URL``, else the local network's (``redis/broker.url``, which carries
    the services' password: Redis refuses anonymous clients). Without either, the local default
    address, which then answers "authentication required": start the network or set the URL."""
    url = os.environ.get("TRAINPROOF_BROKER_URL")
    if url:
        return url
    path = network_home() / "redis" / "broker.url"
    return path.read_text().strip() if path.is_file() else REDIS_DEFAULT


@dataclass(frozen=True)
class WorkerIdentity:
    name: str
    org: str
    fingerprint: str
    cache_dir: Path

    @property
    def queue(self) -> str:
        return queue_for(self.fingerprint)


@lru_cache(maxsize=1)
def worker_identity() -> WorkerIdentity:
    name = os.environ.get("TRAINPROOF_VERIFIER")
    if not name:
        raise RuntimeError("set TRAINPROOF_VERIFIER to the verifier identity this worker acts for, e.g. org1-verifier1")
    profile = Profile.load()
    files = profile.identity_files(name)
    if files.role != "verifier":
        raise RuntimeError(f"identity {name!r} is a {files.role}, not a verifier")
    fp = fingerprint(files.cert.read_bytes())
    return WorkerIdentity(name, name.split("-")[0], fp, profile.home / "verifier" / name)


def cache_max_bytes() -> int:
    """How much the worker's artifact cache keeps between tasks: ``$TRAINPROOF_CACHE_MAX_GB``
    (decimal GB, 0 keeps nothing beyond the running tasks' artifacts), 20 GB by default: about a
    dozen intervals of a 1e8-parameter model, a few MB per model of the digits MLPs."""
    raw = os.environ.get("TRAINPROOF_CACHE_MAX_GB", "")
    try:
        gigabytes = float(raw) if raw else CACHE_MAX_GB_DEFAULT
    except ValueError:
        gigabytes = -1.0
    if not 0 <= gigabytes < float("inf"):
        raise RuntimeError(f"TRAINPROOF_CACHE_MAX_GB={raw!r} is not a size in GB: set it to a number such as 20 "
                           f"(0 keeps nothing between tasks), or unset it for {CACHE_MAX_GB_DEFAULT:g}")
    return int(gigabytes * 1e9)
