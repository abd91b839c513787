"""The probe loss: each snapshot's loss on a fixed part of the claimed dataset, claimed per interval.

Why: the weight-change scores judge the weights alone, and a backdoor or flipped labels that move
the weights no further than honest training hide in them. Training on the claimed data lowers
that data's loss; training on something else does not, or raises it. So the certificate claims,
for each interval, the probe loss at its start and end snapshot, the contract selects intervals
over which it rose (``selection.probe_rises``), and every verifier seated on an interval, replay
or score check, recomputes both numbers from the interval's two snapshots and the dataset it
downloads anyway.

The probe is every ``ceil(n / PROBE_SAMPLES)``-th sample of the claimed dataset (no randomness:
the submitter and every verifier take the same ones); the model is rebuilt from the recipe's
architecture and run in eval mode, without autograd, on one CPU thread, in batches of
``PROBE_BATCH``; the recipe's loss is averaged in float64 and rounded to 9 significant digits,
so a claim is exactly what a verifier on the same software recomputes (``PROBE_TOLERANCE`` is for
another CPU's last bits). Cost: one forward pass over at most 512 samples per snapshot.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import torch

from trainproof.ml import registry, state
from trainproof.ml.data import Dataset
from trainproof.ml.replay import _isolated
from trainproof.ml.snapshot import SnapshotError, read_snapshot

PROBE_SAMPLES = 512
PROBE_BATCH = 256
PROBE_TOLERANCE = 1e-5  # relative: float32 forward passes on two CPUs may differ in their last bits


def probe_set(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The probe's inputs and labels: every ceil(n / PROBE_SAMPLES)-th sample, from the first."""
    step = max(1, math.ceil(len(dataset) / PROBE_SAMPLES))
    return dataset.x[::step], dataset.y[::step]


def model_at(architecture: dict, snapshot_path: str | os.PathLike, model: torch.nn.Module | None = None
             ) -> torch.nn.Module:
    """The architecture (or ``model``, built from it before) with a snapshot's parameters and
    buffers, in eval mode on the CPU.

    The caller has checked the file's hash (the verifier's cache does, the Recorder wrote it).
    Raises SnapshotError when its tensors do not fit the architecture."""
    snap = read_snapshot(snapshot_path)
    if model is None:
        with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's RNG alone
            model = registry.build_model(architecture)
    try:
        found = state.stored_model_state(snap.tensors, snap.meta)
        model.load_state_dict(found, strict=True)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise SnapshotError(f"{snapshot_path}: its tensors do not fit the architecture: {exc}") from None
    return model.eval()


@torch.no_grad()
def probe_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> float:
    """Mean ``loss`` of ``model`` over (x, y) in eval mode, one thread, to 9 significant digits."""
    loss_fn = registry.build_loss(loss)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    try:
        with _isolated(1):
            for lo in range(0, len(y), PROBE_BATCH):
                yb = y[lo:lo + PROBE_BATCH].to(device)
                total += float(loss_fn(model(x[lo:lo + PROBE_BATCH].to(device)).float(), yb)) * len(yb)
    finally:
        model.train(was_training)
    return float(f"{total / max(1, len(y)):.9g}")


def probe_losses(architecture: dict, loss: str, dataset: Dataset, paths: Sequence[str | os.PathLike]) -> list[float]:
    """The probe loss of each snapshot in ``paths``."""
    x, y = probe_set(dataset)
    model = None
    found = []
    for path in paths:
        model = model_at(architecture, path, model)  # built once, each snapshot loaded into it
        found.append(probe_loss(model, x, y, loss))
    return found


def add_probe_losses(scores: list[dict], recipe: dict, dataset: Dataset, paths: Sequence[str | os.PathLike]) -> None:
    """Set each interval's ``probe_loss`` (its start and end snapshot's) in a run's ``scores``."""
    losses = probe_losses(recipe["architecture"], recipe["loss"], dataset, paths)
    for s in scores:
        s["probe_loss"] = losses[s["interval"]:s["interval"] + 2]


def close(claimed: float, recomputed: float) -> bool:
    """Whether a claimed probe loss is the recomputed one, up to ``PROBE_TOLERANCE``."""
    return math.isclose(claimed, recomputed, rel_tol=PROBE_TOLERANCE, abs_tol=1e-9)
