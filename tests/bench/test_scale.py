"""bench-scale's pure parts: the model sizes it builds and what it counts as a task's download."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.scale import hidden_width
from trainproof.verifier.artifacts import ArtifactCache

pytestmark = pytest.mark.unit


def mlp_parameters(h: int) -> int:
    """Parameters of the digits MLP 64 → h → h → 10, counted layer by layer."""
    return (64 * h + h) + (h * h + h) + (10 * h + 10)


@pytest.mark.parametrize("target", [1e5, 1e6, 1e7, 1e8, 12_345])
def test_the_width_is_the_largest_that_stays_within_the_target(target):
    h = hidden_width(target)
    assert mlp_parameters(h) <= target < mlp_parameters(h + 1)


def test_a_download_counts_what_the_cache_fetched_and_not_its_hits(tmp_path):
    """measure_task reports ``ArtifactCache.downloaded``: bytes fetched from storage, once per artifact."""
    class Store:
        def get_file(self, uri, sha256, dest, expected_size=None):
            Path(dest).write_bytes(blobs[sha256])
            return Path(dest)

    blobs = {hashlib.sha256(b).hexdigest(): b for b in (b"x" * 100, b"y" * 50)}
    cache = ArtifactCache(Store(), tmp_path / "cache")
    for sha in [*blobs, *blobs]:  # the second pass is all cache hits
        cache.fetch(f"s3://snapshots/sha256/{sha}", sha)
    (tmp_path / "cache" / "replay-model-3.safetensors").write_bytes(b"z" * 1000)  # the task's own output
    assert cache.downloaded == 150
