"""The probe loss: each snapshot's loss on a fixed part of the claimed dataset, claimed per interval.

Why: the weight-change scores judge the weights alone, and a backdoor or flipped labels that move
the weights no further than honest training hide in them. Training on the claimed data lowers
that data's loss; training on something else does not, or raises it. So the certificate claims,
for each interval, the probe loss at its start and end snapshot and the largest rise of one
class's mean probe loss between them (``probe_class_rise``: flipped labels or a backdoor aimed at
one class raise that class's loss while the mean, diluted by the other classes, barely moves).
The contract selects intervals over which either rose too far (``selection.probe_rises``,
``selection.class_rise_outliers``), and every verifier seated on an interval, replay or score
check, recomputes them from the interval's two snapshots and the dataset it downloads anyway.

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
MIN_CLASS_SAMPLES = 8  # a class with fewer probe samples has too noisy a mean to judge
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
def probe_figures(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[float, dict[int, float]]:
    """The mean ``loss`` of ``model`` over (x, y), to 9 significant digits, and each class's mean
    loss (classes with at least ``MIN_CLASS_SAMPLES`` probe samples), in eval mode on one thread.

    Per-sample losses are summed with fsum, so a class's mean does not depend on summation order."""
    loss_fn = registry.build_loss(loss)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    each: list[float] = []
    try:
        with _isolated(1):
            for lo in range(0, len(y), PROBE_BATCH):
                yb = y[lo:lo + PROBE_BATCH].to(device)
                out = model(x[lo:lo + PROBE_BATCH].to(device)).float()
                total += float(loss_fn(out, yb)) * len(yb)
                each += loss_fn(out, yb, reduction="none").double().cpu().tolist()
    finally:
        model.train(was_training)
    by_class: dict[int, list[float]] = {}
    for label, value in zip(y.tolist(), each):
        by_class.setdefault(int(label), []).append(value)
    classes = {c: math.fsum(v) / len(v) for c, v in by_class.items() if len(v) >= MIN_CLASS_SAMPLES}
    return float(f"{total / max(1, len(y)):.9g}"), classes


def class_rise(start: dict[int, float], end: dict[int, float]) -> float | None:
    """The largest rise of one class's probe loss from ``start`` to ``end`` (``probe_figures``), to 9
    significant digits; None when no class has enough probe samples."""
    rises = [end[c] - start[c] for c in start if c in end]
    return float(f"{max(rises):.9g}") if rises else None


def probe_claims(architecture: dict, loss: str, dataset: Dataset, paths: Sequence[str | os.PathLike]
                 ) -> tuple[list[float], list[float | None]]:
    """The probe loss of each snapshot in ``paths``, and the class rise (``class_rise``) between each
    snapshot and the next: what the certificate claims of the intervals they bound."""
    x, y = probe_set(dataset)
    model = None
    losses, classes = [], []
    for path in paths:
        model = model_at(architecture, path, model)  # built once, each snapshot loaded into it
        mean, per_class = probe_figures(model, x, y, loss)
        losses.append(mean)
        classes.append(per_class)
    return losses, [class_rise(a, b) for a, b in zip(classes, classes[1:])]


def add_probe_losses(scores: list[dict], recipe: dict, dataset: Dataset, paths: Sequence[str | os.PathLike]) -> None:
    """Set each interval's ``probe_loss`` (its start and end snapshot's) and ``probe_class_rise`` in
    a run's ``scores``."""
    losses, rises = probe_claims(recipe["architecture"], recipe["loss"], dataset, paths)
    for s in scores:
        s["probe_loss"] = losses[s["interval"]:s["interval"] + 2]
        s["probe_class_rise"] = rises[s["interval"]]


def close(claimed: float, recomputed: float, scale: float = 0.0) -> bool:
    """Whether a claimed probe figure is the recomputed one, up to ``PROBE_TOLERANCE`` of itself or
    of ``scale``: a class rise near zero is a difference of two losses, so its last-bit noise is
    relative to the losses (pass the probe loss), not to the rise."""
    return math.isclose(claimed, recomputed, rel_tol=PROBE_TOLERANCE, abs_tol=max(1e-9, PROBE_TOLERANCE * abs(scale)))
