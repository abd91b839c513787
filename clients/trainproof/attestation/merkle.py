"""The Merkle tree of RFC 6962 (Certificate Transparency), as specified again in RFC 9162.

A batch of attested outputs goes on the ledger as one root; a verifier that samples one
item checks its inclusion path against that root. Leaves are hashed as
SHA-256(0x00 ‖ data) and interior nodes as SHA-256(0x01 ‖ left ‖ right): the different
prefixes stop a node from passing as a leaf, and the tree over n leaves splits at the
largest power of two below n, with no padding. The common shortcut of duplicating an odd
last leaf is avoided on purpose: with it, the lists [a, b, c] and [a, b, c, c] have the
same root, so a second batch (a second preimage of the root) could be claimed for it.

The tree is built bottom-up once. Carrying an odd last node up a level unchanged gives
exactly the RFC's left-balanced tree, so every path of a batch comes from one build
(``paths``: O(n log n) for all n items).
"""
from __future__ import annotations

import hashlib
import hmac
import operator
from typing import Any, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 §2.1: the hash of an empty list
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """MTH of a one-leaf list: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def item_leaf(input_sha256_hex: str, output_sha256_hex: str) -> bytes:
    """The leaf data of one attested output: the two 32-byte digests, input then output."""
    parts = []
    for what, value in (("input", input_sha256_hex), ("output", output_sha256_hex)):
        if not isinstance(value, str) or len(value) != 64:
            raise ValueError(f"{what} digest must be 64 hex characters, got {value!r}")
        try:
            parts.append(bytes.fromhex(value))
        except ValueError:
            raise ValueError(f"{what} digest {value!r} is not hexadecimal") from None
    return parts[0] + parts[1]


def _index(value: Any) -> int | None:
    """An integer (numpy's included, bool not), or None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


class Tree:
    """Every level of the tree over ``leaves``, from the leaf hashes up to the root."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = [leaf_hash(leaf) for leaf in leaves]
        self.size = len(level)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            parents = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                parents.append(level[-1])  # an odd last node moves up unchanged (the RFC's split)
            level = parents
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def path(self, index: int) -> list[bytes]:
        """The inclusion (audit) path of leaf ``index``, from the leaf's sibling upwards."""
        position = _index(index)
        if position is None or not 0 <= position < self.size:
            raise IndexError(f"leaf index {index!r} is outside a tree of {self.size} leaves")
        index, path = position, []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the leaves (EMPTY_ROOT for none)."""
    return Tree(leaves).root


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion path of ``leaves[index]``; use ``Tree`` or ``paths`` for many indices."""
    return Tree(leaves).path(index)


def paths(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """The inclusion path of every leaf, from one build of the tree."""
    tree = Tree(leaves)
    return [tree.path(i) for i in range(tree.size)]


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """Whether leaf data ``leaf`` is leaf ``index`` of the ``size``-leaf tree with ``root``.

    The algorithm of RFC 9162 §2.1.3.2. Malformed arguments (a path entry that is not 32
    bytes, a negative index) make it return False, never raise.
    """
    index, size = _index(index), _index(size)
    if index is None or size is None or not 0 <= index < size:
        return False
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in path:
        if not isinstance(p, bytes) or len(p) != HASH_SIZE or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # fn == sn, a right edge: skip the levels it was carried up
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)
