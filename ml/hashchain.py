"""Per-layer hash chain of a model's weights (DeepRing, Goel et al.), and tracking mode.

Each layer's tensors (parameters and buffers, sorted by name; name, dtype, shape and
raw little-endian bytes) are digested once: ``D_j = SHA256(params_j)``. The chain is
DeepRing's ring, closed by the ouroboros block whose parameters are a fixed constant:

    chain[0] = SHA256(D_o ‖ D_1)                      (DeepRing eq. 2, the ouroboros block)
    chain[j] = SHA256(chain[j-1] ‖ D_j ‖ D_{j+1})     (eq. 1), j = 1…n, with D_{n+1} = D_o

so ``len(chain) == len(layers) + 1``. Hashing the digests instead of the raw bytes is
equivalent under SHA-256's collision resistance and reads each layer once, not twice.

Why the ouroboros entry is kept: checking chain[j] against the ledger with the ledger's
own chain[j-1] tells whether D_j and D_{j+1} are both intact. Layer j then appears in
exactly two checks (j-1 and j), and a run of failed checks a…b pins the altered layers
to a+1…b: a single altered layer is always localized exactly, also for a two-layer
model, where a chain of n entries could not tell the layers apart.
"""
from __future__ import annotations

import hashlib
import os
import struct
from typing import Any, Mapping

import numpy as np
import torch

from trainproof.ml.snapshot import SnapshotError, open_arrays, read_header
from trainproof.ml.state import layer_of

OUROBOROS = hashlib.sha256(b"trainproof/deepring/ouroboros/v1").digest()
_TORCH_DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}

StateLike = str | os.PathLike | Mapping[str, Any]


def _entries(source: StateLike) -> dict[str, tuple[str, tuple[int, ...], memoryview | bytes]]:
    """name → (dtype, shape, raw bytes) of a model state, from a file or a state dict."""
    if isinstance(source, Mapping):
        out = {}
        for name, t in source.items():
            t = t.detach().cpu().contiguous()
            if t.dtype not in _TORCH_DTYPE_NAMES:
                raise ValueError(f"tensor {name!r} has unsupported dtype {t.dtype}")
            raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            out[name] = (_TORCH_DTYPE_NAMES[t.dtype], tuple(t.shape), raw)
        return out
    header = read_header(source)
    arrays = open_arrays(source, header)
    meta = header.meta or {}
    if meta.get("kind") == "snapshot":  # a trainproof snapshot: the model's state only
        names = {f"param/{n}": n for n in meta["parameters"]} | {f"buffer/{n}": n for n in meta["buffers"]}
    else:
        names = {n: n for n in header.tensors}
    return {
        short: (header.tensors[full].dtype, header.tensors[full].shape, memoryview(np.ascontiguousarray(arrays[full]).reshape(-1).view(np.uint8)))
        for full, short in names.items()
    }


def _layer_order(source: StateLike, entries: Mapping[str, Any]) -> list[str]:
    """Registration order where known (state dict order, snapshot metadata), else file order."""
    if not isinstance(source, Mapping):
        meta = read_header(source).meta or {}
        if meta.get("kind") == "snapshot":
            return list(meta["layers"])
    return list(dict.fromkeys(layer_of(n) for n in entries))


def layer_digests(source: StateLike) -> dict[str, bytes]:
    """D_j for every layer: SHA-256 over its tensors (sorted by name)."""
    entries = _entries(source)
    digests: dict[str, Any] = {}
    for name in sorted(entries):
        dtype, shape, raw = entries[name]
        h = digests.setdefault(layer_of(name), hashlib.sha256())
        label = f"{name}\x00{dtype}\x00{list(shape)}\x00".encode()
        h.update(struct.pack("<Q", len(label)) + label + struct.pack("<Q", len(raw)))
        h.update(raw)
    return {layer: digests[layer].digest() for layer in _layer_order(source, entries)}


def chain_from_digests(digests: list[bytes]) -> list[str]:
    """The ring of hashes over layer digests in order (ouroboros first)."""
    padded = [OUROBOROS, *digests, OUROBOROS]
    chain = [hashlib.sha256(OUROBOROS + padded[1]).digest()]
    for j in range(1, len(padded) - 1):
        chain.append(hashlib.sha256(chain[-1] + padded[j] + padded[j + 1]).digest())
    return [h.hex() for h in chain]


def layer_chain(source: StateLike) -> dict[str, list[str]]:
    """``{"layers": [...], "chain": [...]}`` for a state dict, a snapshot or a weights file."""
    digests = layer_digests(source)
    return {"layers": list(digests), "chain": chain_from_digests(list(digests.values()))}


def _failed_checks(digests: list[bytes], ledger: list[str]) -> list[bool]:
    """For each ledger entry: does it fail when recomputed from the ledger's previous entry?"""
    padded = [OUROBOROS, *digests, OUROBOROS]
    failed = [hashlib.sha256(OUROBOROS + padded[1]).hexdigest() != ledger[0]]
    for j in range(1, len(padded) - 1):
        recomputed = hashlib.sha256(bytes.fromhex(ledger[j - 1]) + padded[j] + padded[j + 1]).hexdigest()
        failed.append(recomputed != ledger[j])
    return failed


def diff_layers(source: StateLike, ledger_chain: Mapping[str, list[str]]) -> list[str]:
    """Layers of ``source`` that differ from the ones the ledger's chain was made of.

    Exact for a single altered layer, for two adjacent ones, and for altered layers two
    or more intact layers apart. Otherwise (e.g. layers 1 and 3 altered, 2 intact) the
    chain alone cannot clear the layers in between and returns them too: a superset,
    never a miss. Missing or extra layers are reported as differing.
    """
    layers, ledger = list(ledger_chain["layers"]), list(ledger_chain["chain"])
    if len(ledger) != len(layers) + 1:
        raise SnapshotError(f"ledger chain has {len(ledger)} entries for {len(layers)} layers; expected layers + 1")
    local = layer_digests(source)
    missing = b""  # no SHA-256 digest is empty, so a missing layer never matches
    failed = _failed_checks([local.get(layer, missing) for layer in layers], ledger)
    suspects: list[str] = []
    j = 0
    while j < len(failed):
        if failed[j]:
            start = j
            while j + 1 < len(failed) and failed[j + 1]:
                j += 1
            suspects.extend(layers[start:j])  # check a…b failed → layers a+1…b (1-based)
        j += 1
    return suspects + [layer for layer in local if layer not in layers]


def restore_layers(target: StateLike, ledger_chain: Mapping[str, list[str]], source: StateLike) -> tuple[dict[str, torch.Tensor], list[str]]:
    """DeepRing tracking mode: restore altered layers of ``target`` from a verified ``source``.

    ``source`` (e.g. the final snapshot, already checked against its ledger hash) must
    itself reproduce the ledger chain. Then, as in DeepRing, the layers the chain points
    at (those of them that differ from the source) are copied from the source until the
    chain matches again. Returns the repaired
    state dict and the names of the restored layers, in the order they were restored.
    """
    if layer_chain(source) != {"layers": list(ledger_chain["layers"]), "chain": list(ledger_chain["chain"])}:
        raise SnapshotError("the restore source does not reproduce the ledger's layer chain")
    good = _state_dict(source)
    good_digests = layer_digests(good)
    state = dict(_state_dict(target))
    restored: list[str] = []
    for _ in range(len(ledger_chain["layers"]) + 1):
        suspects = diff_layers(state, ledger_chain)
        if not suspects:
            return {n: state[n] for n in good}, restored  # source's (registration) order
        current = layer_digests(state)
        for layer in suspects:
            if current.get(layer) == good_digests.get(layer):
                continue  # a layer the chain could not clear, but it is intact
            for name in [n for n in state if layer_of(n) == layer]:
                del state[name]
            state.update({n: t.clone() for n, t in good.items() if layer_of(n) == layer})
            restored.append(layer)
    raise SnapshotError("tracking mode did not converge")  # unreachable: each pass fixes ≥ 1 layer


def _state_dict(source: StateLike) -> dict[str, torch.Tensor]:
    """A model state dict (names without snapshot prefixes), in registration order."""
    if isinstance(source, Mapping):
        return {n: t for n, t in source.items()}
    from safetensors.torch import load_file

    header = read_header(source)
    meta = header.meta or {}
    tensors = load_file(str(source))
    if meta.get("kind") == "snapshot":
        out = {n: tensors[f"param/{n}"] for n in meta["parameters"]}
        out.update({n: tensors[f"buffer/{n}"] for n in meta["buffers"]})
        return out
    return tensors
