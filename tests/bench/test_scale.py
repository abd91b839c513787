"""bench-scale's pure parts: the model sizes it builds and what it counts as a task's download."""
from __future__ import annotations

import pytest

from bench.scale import cache_bytes, hidden_width

pytestmark = pytest.mark.unit


def mlp_parameters(h: int) -> int:
    """Parameters of the digits MLP 64 → h → h → 10, counted layer by layer."""
    return (64 * h + h) + (h * h + h) + (10 * h + 10)


@pytest.mark.parametrize("target", [1e5, 1e6, 1e7, 1e8, 12_345])
def test_the_width_is_the_largest_that_stays_within_the_target(target):
    h = hidden_width(target)
    assert mlp_parameters(h) <= target < mlp_parameters(h + 1)


def test_a_download_counts_the_cache_entries_named_by_their_hash_only(tmp_path):
    (tmp_path / ("a" * 64)).write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ("b" * 64)).write_bytes(b"y" * 50)
    (tmp_path / "replay-model-3.safetensors").write_bytes(b"z" * 1000)  # the task's own output, not a download
    assert cache_bytes(tmp_path) == 150
