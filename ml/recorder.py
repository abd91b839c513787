"""The Recorder: a few lines in an ordinary PyTorch loop that make training checkable.

    model = build_model({"name": "mlp", "params": {...}})          # from the registry
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rec = Recorder("runs/digits", model, optimizer, dataset=ds, batch_size=32,
                   steps_per_interval=10, total_steps=200, seeds={"torch": 1, "data": 2})
    for x, y in rec.batches():                                       # the recorded data order
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        rec.step()                                                   # or rec.callback()(...)
    rec.finish(metrics={"accuracy": 0.95})

The loop body must be ``trainproof.ml.loop.train_step`` (that is what a verifier
replays). Every ``steps_per_interval`` optimizer steps a snapshot is written to
``RUN_DIR/snapshots/<index>.safetensors``; ``finish`` writes ``RUN_DIR/run.json``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from trainproof.ml import certificate, registry, state
from trainproof.ml.data import ORDER_ALGORITHM, BatchStream, Dataset, save_dataset
from trainproof.ml.fingerprint import fingerprint
from trainproof.ml.snapshot import write_snapshot



class RecorderError(RuntimeError):
    """The loop and the recorder disagree (e.g. a batch was taken without a step)."""


class Recorder:
    """Writes snapshots every ``steps_per_interval`` optimizer steps and the certificate draft."""

    def __init__(self, run_dir: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, *, dataset: Dataset,
                 batch_size: int, steps_per_interval: int, total_steps: int, seeds: dict[str, int], scheduler=None,
                 scaler=None, loss: str = "cross_entropy", amp: dict | None = None, name: str = "model",
                 version: str = "1", parent_id: str | None = None, recipe_extra: dict[str, Any] | None = None) -> None:
        if steps_per_interval < 1 or total_steps < 1:
            raise ValueError("steps_per_interval and total_steps must be positive")
        architecture = getattr(model, registry.SPEC_ATTR, None)
        if architecture is None:
            raise registry.SpecError("build the model with trainproof.ml.registry.build_model so a verifier can rebuild it")
        if len(optimizer.param_groups) != 1 or [id(p) for p in optimizer.param_groups[0]["params"]] != [id(p) for p in model.parameters()]:
            raise registry.SpecError("the optimizer must have one parameter group over model.parameters(), in order")
        registry.build_loss(loss)
        self.run_dir = Path(run_dir)
        self.model, self.optimizer, self.scheduler, self.scaler = model, optimizer, scheduler, scaler
        self.device = next(model.parameters()).device
        self.steps_per_interval, self.total_steps = steps_per_interval, total_steps
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.name).strip("-") or "dataset"
        self.dataset_file = f"dataset/{slug}.safetensors"
        self.dataset = save_dataset(self.run_dir / self.dataset_file, dataset.x, dataset.y, name=dataset.name,
                                    preprocessing=dataset.preprocessing)
        self.stream = BatchStream(self.dataset, batch_size, int(seeds["data"]), device=self.device)
        self.recipe = {
            "architecture": architecture,
            "optimizer": registry.describe_optimizer(optimizer),
            "scheduler": registry.describe_scheduler(scheduler),
            "loss": loss,
            "seeds": {"torch": int(seeds["torch"]), "data": int(seeds["data"])},
            "batch_size": batch_size,
            "steps_per_interval": steps_per_interval,
            "total_steps": total_steps,
            "drop_last": True,
            "data_order": ORDER_ALGORITHM,
            "scheduler_interval": "step",
            "amp": amp,
            **(recipe_extra or {}),
        }
        self.name, self.version, self.parent_id = name, version, parent_id
        self.steps_done = 0
        self.batches_taken = 0
        self.snapshots: list[dict[str, Any]] = []

    # --- the loop side ---------------------------------------------------------------

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches in the recorded order until ``total_steps``; writes snapshot 0 first."""
        if not self.snapshots:
            self._snapshot()
        while self.steps_done < self.total_steps:
            if self.batches_taken != self.steps_done:
                raise RecorderError("call Recorder.step() once after each optimizer step")
            self.batches_taken += 1
            yield self.stream.next()

    def step(self, *_: Any, **__: Any) -> None:
        """Count one optimizer step (after ``optimizer.step()`` and ``scheduler.step()``)."""
        if self.batches_taken != self.steps_done + 1:
            raise RecorderError("Recorder.step() without a batch from Recorder.batches()")
        self.steps_done += 1
        if self.steps_done % self.steps_per_interval == 0 or self.steps_done == self.total_steps:
            self._snapshot()

    def callback(self) -> Callable[..., None]:
        """``step`` as a callback for loops with hooks (arguments are ignored)."""
        return self.step

    def _snapshot(self) -> None:
        index = len(self.snapshots)
        where = state.Position(self.steps_done, self.stream.epoch, self.stream.position)
        fp = fingerprint(self.device, self.optimizer)
        tensors, meta = state.capture(self.model, self.optimizer, self.scheduler, self.scaler, where, fp, index)
        file = f"snapshots/{index}.safetensors"
        sha, size = write_snapshot(self.run_dir / file, tensors, meta)
        self.snapshots.append({"index": index, "step": self.steps_done, "sha256": sha, "size": size, "uri": "", "file": file})
        self._fingerprint = fp

    # --- the end -----------------------------------------------------------------

    def finish(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """Score every interval, hash the final layers, write ``run.json``; returns it."""
        from trainproof.ml.hashchain import layer_chain
        from trainproof.ml.metrics import interval_scores
        from trainproof.ml.probe import add_probe_losses

        if self.steps_done != self.total_steps:
            raise RecorderError(f"finish() after {self.steps_done} of {self.total_steps} steps")
        paths = [self.run_dir / s["file"] for s in self.snapshots]
        scores = interval_scores(paths)
        add_probe_losses(scores, self.recipe, self.dataset, paths)
        run = {
            "name": self.name,
            "version": self.version,
            "parent_id": self.parent_id,
            "recipe": self.recipe,
            "dataset": {"name": self.dataset.name, "sha256": self.dataset.sha256, "size": self.dataset.size, "uri": "",
                        "preprocessing": self.dataset.preprocessing, "file": self.dataset_file},
            "environment": certificate.environment(self.device.type, self._fingerprint["threads"], self._fingerprint),
            "snapshots": self.snapshots,
            "scores": scores,
            "layer_hashes": layer_chain(paths[-1]),
            "metrics": dict(metrics or {}),
        }
        certificate.write_run(self.run_dir, run)
        return run
