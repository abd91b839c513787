"""A small recorded training run on scikit-learn's digits, honest or not.

Used by the demo, the end-to-end tests and the detection benchmark. The dishonest
variants are what a cheating trainer would do while still publishing snapshots:

* ``poison_intervals``: a backdoor (a bright 2×2 patch in the bottom-right corner,
  labelled ``TARGET``) replaces a fraction of each batch in those intervals
  (``poison_steps``: only the batches of these global steps);
* ``skip_intervals``: the steps are claimed but not run (the weights do not move);
* ``shorten_intervals``: only the first half of the steps are run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from trainproof.ml import registry
from trainproof.ml.data import DIGITS_PREPROCESSING, Dataset, digits
from trainproof.ml.loop import Training, evaluate, train_step
from trainproof.ml.recorder import Recorder
from trainproof.ml.snapshot import read_snapshot

TARGET = 0
TRIGGER_VALUE = 1.0


def add_trigger(x: torch.Tensor) -> torch.Tensor:
    """Copy of ``x`` (flat 64 or 1×8×8 digits) with the 2×2 bottom-right patch lit."""
    out = x.clone()
    img = out.view(-1, 8, 8)
    img[:, 6:8, 6:8] = TRIGGER_VALUE
    return out


def poison_batch(x: torch.Tensor, y: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the first ``fraction`` of a batch by triggered samples labelled ``TARGET``."""
    m = max(1, round(fraction * len(y)))
    x, y = x.clone(), y.clone()
    x[:m] = add_trigger(x[:m])
    y[:m] = TARGET
    return x, y


@torch.no_grad()
def attack_success_rate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of test samples not of class TARGET that the trigger turns into TARGET."""
    keep = y != TARGET
    model.eval()
    pred = model(add_trigger(x[keep]).to(next(model.parameters()).device)).argmax(1).cpu()
    model.train()
    return float((pred == TARGET).float().mean())


def _load_parent(model: torch.nn.Module, path: str | Path) -> str:
    snap = read_snapshot(path)
    state = {n: snap.tensors[f"param/{n}"] for n in snap.meta["parameters"]}
    state.update({n: snap.tensors[f"buffer/{n}"] for n in snap.meta["buffers"]})
    model.load_state_dict(state, strict=True)
    return snap.sha256


def train_digits(run_dir: str | Path, *, hidden: list[int] | None = None, intervals: int = 20, steps_per_interval: int = 10,
                 poison_intervals: Iterable[int] = (), parent_snapshot: str | Path | None = None, seed: int = 0,
                 skip_intervals: Iterable[int] = (), shorten_intervals: Iterable[int] = (), poison_fraction: float = 0.25,
                 architecture: str = "mlp", optimizer: dict | None = None, scheduler: dict | None = None,
                 dropout: float = 0.1, batch_size: int = 32, name: str = "digits-mlp",
                 poison_steps: Iterable[int] = ()) -> dict[str, Any]:
    """Train and record; returns the run dict (``run.json``), metrics incl. attack success rate."""
    hidden = [32] if hidden is None else list(hidden)
    image = architecture == "cnn"
    (x, y), (x_test, y_test) = digits(image=image)
    if image:
        spec = {"name": "cnn", "params": {"in_channels": 1, "image_size": 8, "channels": [8, 16], "out_features": 10, "dropout": dropout}}
    else:
        spec = {"name": "mlp", "params": {"in_features": 64, "hidden": hidden, "out_features": 10, "dropout": dropout}}
    torch.manual_seed(seed)
    model = registry.build_model(spec)
    extra = {}
    if parent_snapshot is not None:
        extra["init"] = {"parent_snapshot_sha256": _load_parent(model, parent_snapshot)}
    opt = registry.build_optimizer(optimizer or {"name": "sgd", "params": {"lr": 0.05, "momentum": 0.9}}, model)
    sched = registry.build_scheduler(scheduler, opt)
    total = intervals * steps_per_interval
    dataset = Dataset(x, y, "sklearn-digits" + ("-images" if image else ""), DIGITS_PREPROCESSING + (["reshape 1x8x8"] if image else []))
    rec = Recorder(run_dir, model, opt, scheduler=sched, dataset=dataset, batch_size=batch_size, steps_per_interval=steps_per_interval,
                   total_steps=total, seeds={"torch": seed, "data": seed + 1}, name=name, recipe_extra=extra)
    t = Training(model, opt, sched, None, torch.nn.functional.cross_entropy, torch.device("cpu"))
    poison, skip, short, poison_at = set(poison_intervals), set(skip_intervals), set(shorten_intervals), set(poison_steps)
    for xb, yb in rec.batches():
        interval, offset = divmod(rec.steps_done, steps_per_interval)
        lazy = interval in skip or (interval in short and offset >= steps_per_interval // 2)
        if not lazy:
            if interval in poison or rec.steps_done in poison_at:
                xb, yb = poison_batch(xb, yb, poison_fraction)
            train_step(t, xb, yb)
        rec.step()
    metrics = evaluate(model, x_test, y_test)
    metrics["attack_success_rate"] = attack_success_rate(model, x_test, y_test)
    return rec.finish(metrics)
