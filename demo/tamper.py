"""The weights a user would hold: the final snapshot's model state as a plain safetensors file."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from trainproof.ml.snapshot import read_snapshot
from trainproof.ml.state import layer_of


def export_weights(snapshot: Path, out: Path) -> Path:
    """The model's parameters and buffers, under their state-dict names (no optimizer, no RNG)."""
    snap = read_snapshot(snapshot)
    state = {n: snap.tensors[f"param/{n}"] for n in snap.meta["parameters"]}
    state.update({n: snap.tensors[f"buffer/{n}"] for n in snap.meta["buffers"]})
    save_file(state, str(out))
    return out


def tamper(weights: Path, out: Path, layer: str, delta: float = 0.05) -> Path:
    """A copy with every tensor of ``layer`` shifted by ``delta``, as a careless or hostile edit would."""
    state = load_file(str(weights))
    hit = [n for n in state if layer_of(n) == layer]
    if not hit:
        raise ValueError(f"{weights} has no layer {layer!r}")
    for name in hit:
        state[name] = state[name] + delta
    save_file(state, str(out))
    return out


def identical(a: Path, b: Path) -> bool:
    """Same tensor names, and every tensor bit for bit equal."""
    sa, sb = load_file(str(a)), load_file(str(b))
    return sa.keys() == sb.keys() and all(torch.equal(sa[n], sb[n]) for n in sa)
