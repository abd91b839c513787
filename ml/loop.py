"""The canonical training step, shared by submitters and verifiers.

Replay re-runs an interval with exactly this step, so a submitter's loop must do the
same thing in the same order (call ``train_step`` or copy its five lines): zero the
gradients (set to None), forward, loss, backward, optimizer step, then one scheduler
step per optimizer step. Gradient accumulation and per-epoch scheduler calls are not
part of the contract (express a per-epoch schedule in steps).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from trainproof.ml import registry

AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Training:
    """The objects one training run is made of."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    device: torch.device
    amp: dict | None = None


def build_training(recipe: dict, device: torch.device | str = "cpu") -> Training:
    """Model, optimizer, scheduler, scaler and loss from a recipe (weights from ``seeds.torch``)."""
    device = torch.device(device)
    torch.manual_seed(int(recipe["seeds"]["torch"]))
    model = registry.build_model(recipe["architecture"]).to(device)
    optimizer = registry.build_optimizer(recipe["optimizer"], model)
    scheduler = registry.build_scheduler(recipe.get("scheduler"), optimizer)
    amp = recipe.get("amp")
    if amp is not None and amp.get("dtype") not in AMP_DTYPES:
        raise registry.SpecError(f"amp dtype must be one of {sorted(AMP_DTYPES)}, got {amp!r}")
    scaler = torch.amp.GradScaler(device.type) if amp and amp.get("scaler") else None
    return Training(model, optimizer, scheduler, scaler, registry.build_loss(recipe["loss"]), device, amp)


def train_step(t: Training, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One optimizer step on one batch; returns the (detached) loss."""
    t.model.train()
    t.optimizer.zero_grad(set_to_none=True)
    autocast = torch.autocast(t.device.type, dtype=AMP_DTYPES[t.amp["dtype"]]) if t.amp else nullcontext()
    with autocast:
        loss = t.loss_fn(t.model(x), y)
    if t.scaler is not None:
        t.scaler.scale(loss).backward()
        t.scaler.step(t.optimizer)
        t.scaler.update()
    else:
        loss.backward()
        t.optimizer.step()
    if t.scheduler is not None:
        t.scheduler.step()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> dict[str, float]:
    """Accuracy and mean cross-entropy in eval mode (dropout off, BatchNorm running stats)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct, loss = 0, 0.0
    for lo in range(0, len(y), batch):
        xb, yb = x[lo : lo + batch].to(device), y[lo : lo + batch].to(device)
        out = model(xb)
        correct += int((out.argmax(1) == yb).sum())
        loss += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
    model.train(was_training)
    return {"accuracy": correct / len(y), "loss": loss / len(y)}
