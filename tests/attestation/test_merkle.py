"""The RFC 6962 Merkle tree: known answers, a reference implementation, every path of small trees."""
from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from trainproof.attestation.merkle import (EMPTY_ROOT, Tree, inclusion_path, item_leaf, leaf_hash, node_hash, paths, root,
                                           verify_inclusion)

pytestmark = pytest.mark.unit


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _reference_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1, recursively as written there."""
    n = len(leaves)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return _sha(b"\x01" + _reference_root(leaves[:k]) + _reference_root(leaves[k:]))


def _reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return _reference_path(m, leaves[:k]) + [_reference_root(leaves[k:])]
    return _reference_path(m - k, leaves[k:]) + [_reference_root(leaves[:k])]


def _leaves(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def _flip(data: bytes, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_known_answers() -> None:
    assert root([]) == EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert root([b""]) == leaf_hash(b"") == _sha(b"\x00")
    assert root([b"a", b"b"]) == _sha(b"\x01" + _sha(b"\x00a") + _sha(b"\x00b"))
    # three leaves split 2 + 1: the third is not duplicated
    assert root([b"a", b"b", b"c"]) == node_hash(node_hash(leaf_hash(b"a"), leaf_hash(b"b")), leaf_hash(b"c"))


def test_no_duplicate_last_leaf_collision() -> None:
    """The Bitcoin-style padding makes [a, b, c] and [a, b, c, c] share a root; RFC 6962 does not."""
    assert root([b"a", b"b", b"c"]) != root([b"a", b"b", b"c", b"c"])
    assert root([b"a"]) != root([b"a", b"a"])
    # a node cannot pass as a leaf: the 64 bytes of two leaf hashes are not a leaf of the parent tree
    assert root([leaf_hash(b"a") + leaf_hash(b"b")]) != root([b"a", b"b"])


@pytest.mark.parametrize("n", range(1, 34))
def test_every_path_of_small_trees_verifies_and_every_tampering_fails(n: int) -> None:
    leaves = _leaves(n)
    top = root(leaves)
    assert top == _reference_root(leaves)
    all_paths = paths(leaves)
    assert len(all_paths) == n
    for i, leaf in enumerate(leaves):
        path = inclusion_path(leaves, i)
        assert path == all_paths[i] == _reference_path(i, leaves)
        assert verify_inclusion(leaf, i, n, path, top)
        assert not verify_inclusion(_flip(leaf), i, n, path, top)
        assert not verify_inclusion(leaf, i, n, path, _flip(top, 255))
        for bit in range(max(1, n.bit_length()) + 1):
            assert not verify_inclusion(leaf, i ^ (1 << bit), n, path, top), (i, bit)
        for j in range(len(path)):
            bad = list(path)
            bad[j] = _flip(bad[j], 7 * j)
            assert not verify_inclusion(leaf, i, n, bad, top)
        assert not verify_inclusion(leaf, i, n, path[:-1], top) or not path
        assert not verify_inclusion(leaf, i, n, path + [top], top)
        assert not verify_inclusion(leaf, i, n, path, root(leaves[:-1] + [b"other"]))


def test_size_of_another_shape_fails() -> None:
    """A path fixes the tree's shape along it; the size itself is what the ledger records with the root."""
    leaves = _leaves(8)
    top = root(leaves)
    for i in range(8):
        path = inclusion_path(leaves, i)
        assert all(not verify_inclusion(leaves[i], i, size, path, top) for size in (1, 4, 9, 16))


def test_malformed_arguments_return_false() -> None:
    leaves = _leaves(5)
    top, path = root(leaves), inclusion_path(leaves, 2)
    assert not verify_inclusion(leaves[2], -1, 5, path, top)
    assert not verify_inclusion(leaves[2], 5, 5, path, top)
    assert not verify_inclusion(leaves[2], True, 5, path, top)
    assert not verify_inclusion(leaves[2], 2.0, 5, path, top)
    assert verify_inclusion(leaves[2], np.int64(2), np.int64(5), path, top)  # an index sampled with numpy
    assert inclusion_path(leaves, np.int32(2)) == path
    assert not verify_inclusion(leaves[2], 2, 5, [p[:31] for p in path], top)
    assert not verify_inclusion(leaves[2], 2, 5, path, top[:31])
    assert not verify_inclusion(leaves[2], 2, 0, [], EMPTY_ROOT)
    with pytest.raises(IndexError, match="outside a tree of 5"):
        inclusion_path(leaves, 5)
    with pytest.raises(IndexError):
        Tree([]).path(0)


def test_ten_thousand_leaves() -> None:
    leaves = [item_leaf(hashlib.sha256(b"in%d" % i).hexdigest(), hashlib.sha256(b"out%d" % i).hexdigest()) for i in range(10_001)]
    started = time.perf_counter()
    tree = Tree(leaves)
    all_paths = paths(leaves)
    assert time.perf_counter() - started < 5
    assert tree.root == root(leaves)
    assert max(len(p) for p in all_paths) == 14
    for i in (0, 1, 4095, 8191, 8192, 9999, 10_000):
        assert verify_inclusion(leaves[i], i, len(leaves), all_paths[i], tree.root)
        assert not verify_inclusion(leaves[i], i, len(leaves), all_paths[i - 1], tree.root)
    assert all(verify_inclusion(leaf, i, len(leaves), p, tree.root) for i, (leaf, p) in enumerate(zip(leaves, all_paths)))


def test_item_leaf() -> None:
    a, b = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    assert item_leaf(a, b) == bytes.fromhex(a) + bytes.fromhex(b)
    assert len(item_leaf(a, b)) == 64 and item_leaf(a, b) != item_leaf(b, a)
    assert item_leaf(a.upper(), b) == item_leaf(a, b)
    with pytest.raises(ValueError, match="output digest must be 64 hex"):
        item_leaf(a, b[:-1])
    with pytest.raises(ValueError, match="input digest .* is not hexadecimal"):
        item_leaf("z" * 64, b)
