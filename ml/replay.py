"""Re-execute one training interval and compare it with the submitted end snapshot.

The verifier side of the protocol: from the start snapshot, the recipe (through the
registry, never code from the submission) and the dataset, run the interval's steps
with the canonical ``train_step`` and compare the result with the end snapshot.

* Exact mode, when the execution fingerprint matches the recorded one (after forcing
  the recorded thread count): every tensor and every JSON state field must be equal;
  the replayed file is then byte-identical, so its SHA-256 equals the ledger's.
* Tolerance mode otherwise: rel = |W' − W_end| / |W_end − W_start| over the
  parameters (and the same over float buffers) must stay under ``tolerance``.
  Measured with ``python -m bench.detection.paper --calibrate``; see DEFAULT_TOLERANCE.
"""
from __future__ import annotations

import hashlib
import math
import random
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from trainproof.ml import state
from trainproof.ml.data import BatchStream, load_dataset
from trainproof.ml.fingerprint import differences, fingerprint
from trainproof.ml.loop import build_training, train_step
from trainproof.ml.snapshot import Snapshot, SnapshotError, parse_snapshot, read_bytes, read_snapshot, write_snapshot

# Measured with bench.detection.paper --calibrate (digits, 10-step intervals): honest replays
# in another environment (1 thread instead of 2, oneDNN off) stay ≤ 3e-7 for the MLP
# but reach 9.9e-3 for the CNN (a max-pool/ReLU tie resolved the other way, then
# amplified), while one poisoned sample in one batch leaves ≥ 2.2e-2 (MLP) / 4.9e-2
# (CNN); dropping any recorded state component ≥ 4e-2. The tolerance sits between the
# two bands, which are close: exact mode (matching fingerprint) is the strong check.
DEFAULT_TOLERANCE = 1.5e-2


@dataclass
class ReplayResult:
    """What a verifier votes on, and the evidence behind it."""

    exact: bool
    accepted: bool
    rel_error: float
    distances: dict[str, Any] = field(default_factory=dict)
    replayed_sha256: str = ""
    replayed_path: str = ""
    reason: str = ""


def _manifest_entry(certificate: dict, sha256: str, what: str) -> dict:
    for entry in certificate["snapshots"]:
        if entry["sha256"] == sha256:
            return entry
    raise SnapshotError(f"the {what} snapshot (sha256 {sha256}) is not in the certificate's snapshot manifest")


def _load_listed(path: str | Path, certificate: dict, what: str) -> tuple[Snapshot, dict]:
    """Read a snapshot once, find it in the manifest by its hash, then parse those bytes."""
    blob = read_bytes(path)
    entry = _manifest_entry(certificate, hashlib.sha256(blob).hexdigest(), what)
    if entry.get("size") not in (None, len(blob)):
        raise SnapshotError(f"{path}: size {len(blob)} differs from the manifest's {entry['size']}")
    snap = parse_snapshot(blob, str(path))
    if snap.meta.get("kind") != state.SNAPSHOT_KIND or snap.meta.get("index") != entry["index"]:
        raise SnapshotError(f"{path}: its recorded index does not match manifest entry {entry['index']}")
    return snap, entry


def _check_hyperparameters(built: torch.optim.Optimizer, recorded: dict, has_scheduler: bool) -> None:
    """The snapshot's optimizer settings must be the recipe's (lr may differ under a scheduler)."""
    skip = {"params", "initial_lr"} | ({"lr"} if has_scheduler else set())
    expected = {k: (list(v) if isinstance(v, tuple) else v) for k, v in built.param_groups[0].items() if k not in skip}
    groups = recorded["optimizer"]["param_groups"]
    if len(groups) != 1:
        raise SnapshotError(f"the snapshot has {len(groups)} parameter groups; recipes build one")
    shared = set(expected) & set(groups[0])  # other torch versions may add or drop flags
    got = {k: groups[0][k] for k in shared}
    expected = {k: expected[k] for k in shared}
    if got != expected:
        raise SnapshotError(f"the snapshot's optimizer settings {got} are not the recipe's {expected}")


@contextmanager
def _isolated(threads: int) -> Iterator[None]:
    """Force the recorded thread count; give the caller back its threads and RNG states."""
    saved = (torch.get_num_threads(), torch.get_rng_state(), random.getstate(), np.random.get_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.set_rng_state(saved[1])
        random.setstate(saved[2])
        np.random.set_state(saved[3])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _pick_device(recorded: str, requested: str | None) -> torch.device:
    if requested is not None:
        return torch.device(requested)
    if recorded == "cuda" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


# Elements per float64 pass of `squared_distance`: its temporaries stay at a few MB whatever the
# tensor, where a whole-tensor pass held four float64 copies (3 snapshots' worth at 1e8 parameters).
_SLICE = 1 << 20


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Σ (a − b)² in float64, a slice at a time, on ``a``'s device (``b`` may be the model's, on a GPU)."""
    a, b = a.reshape(-1), b.reshape(-1)
    return sum(float(torch.sum((a[i:i + _SLICE].double() - b[i:i + _SLICE].to(a.device).double()) ** 2))
               for i in range(0, a.numel(), _SLICE))


def _rel(names: list[str], replayed: dict, end: dict, moved: dict[str, float]) -> float:
    """|replayed − end| / |end − start| over the named float tensors, in float64; ``moved`` holds
    each tensor's Σ (end − start)² (`replay_interval` measures it before training, when the model
    still holds the start weights, so the start snapshot need not stay in memory)."""
    num = sum(squared_distance(replayed[n], end[n]) for n in names)
    den = sum(moved.get(n, 0.0) for n in names)
    if num == 0.0:
        return 0.0
    return math.inf if den == 0.0 else math.sqrt(num / den)


def compare(replayed: Snapshot, end: Snapshot, moved: dict[str, float]) -> dict[str, Any]:
    """Distances between the replayed and the submitted end state (``moved``: see `_rel`)."""
    mismatched = sorted(n for n in set(replayed.tensors) | set(end.tensors)
                        if n not in replayed.tensors or n not in end.tensors or not torch.equal(replayed.tensors[n], end.tensors[n]))
    keys = set(replayed.meta) | set(end.meta)
    meta_diff = sorted(k for k in keys if k != "fingerprint" and replayed.meta.get(k) != end.meta.get(k))
    params = [f"param/{n}" for n in end.meta["parameters"]]
    floats = [f"buffer/{n}" for n in end.meta["buffers"] if end.tensors[f"buffer/{n}"].is_floating_point()]
    ints = [f"buffer/{n}" for n in end.meta["buffers"] if f"buffer/{n}" not in floats]
    for n in params + floats + ints:
        if n not in replayed.tensors or replayed.tensors[n].shape != end.tensors[n].shape:
            raise SnapshotError(f"the end snapshot's tensor {n!r} does not match the architecture")
    return {
        "params_rel": _rel(params, replayed.tensors, end.tensors, moved),
        "buffers_rel": _rel(floats, replayed.tensors, end.tensors, moved),
        "int_buffers_equal": all(torch.equal(replayed.tensors[n], end.tensors[n]) for n in ints),
        "mismatched_tensors": mismatched,
        "mismatched_state": meta_diff,
    }


def replay_interval(start_path: str | Path, end_path: str | Path, certificate: dict, dataset_path: str | Path, *,
                    on_step: Callable[[int, int], None] | None = None, out_path: str | Path | None = None,
                    tolerance: float = DEFAULT_TOLERANCE, device: str | None = None,
                    threads: int | None = None) -> ReplayResult:
    """Replay the interval from ``start_path`` and judge ``end_path``.

    Both snapshots must be listed in ``certificate["snapshots"]`` (consecutive indices,
    hashes checked) and the dataset must hash to ``certificate["dataset"]["sha256"]``;
    otherwise SnapshotError. ``on_step(done, total)`` reports progress. The replayed end
    snapshot is written to ``out_path`` (a temporary file if not given). ``device`` and
    ``threads`` override the recorded ones (that forfeits the exact mode).
    """
    # Memory: at most three snapshots' worth at any time (bench-scale measures it). So the start
    # snapshot is let go once the model holds its state, the end one is read only then, and the
    # training state is let go before the replayed file is read back for the comparison.
    start, start_entry = _load_listed(start_path, certificate, "start")
    recipe = certificate["recipe"]
    dataset = load_dataset(dataset_path, certificate["dataset"]["sha256"])
    recorded_fp = start.meta["fingerprint"]
    dev = _pick_device(recorded_fp.get("device", "cpu"), device)

    with _isolated(threads or int(recorded_fp.get("threads", torch.get_num_threads()))):
        t = build_training(recipe, dev)
        _check_hyperparameters(t.optimizer, start.meta, t.scheduler is not None)
        where = state.restore(start.tensors, start.meta, t.model, t.optimizer, t.scheduler, t.scaler)
        start_step = start.meta.get("step")
        del start
        end, end_entry = _load_listed(end_path, certificate, "end")
        if end_entry["index"] != start_entry["index"] + 1:
            raise SnapshotError(f"snapshots {start_entry['index']} and {end_entry['index']} are not consecutive")
        # The step count is the ledger's (the manifest), never the artifacts' own claim about it.
        for step, entry in ((start_step, start_entry), (end.meta.get("step"), end_entry)):
            if step != entry["step"]:
                raise SnapshotError(f"snapshot {entry['index']} records step {str(step)[:32]}, "
                                    f"the certificate's manifest says {entry['step']}")
        total = int(end_entry["step"]) - int(start_entry["step"])
        if total < 0:
            raise SnapshotError("the end snapshot's step is before the start snapshot's")
        moved = {n: squared_distance(end.tensors[n], v) for n, v in state.model_tensors(t.model).items()
                 if n in end.tensors and end.tensors[n].shape == v.shape and v.is_floating_point()}
        current_fp = fingerprint(dev, t.optimizer)
        stream = BatchStream(dataset, int(recipe["batch_size"]), int(recipe["seeds"]["data"]), where.epoch, where.position, dev)
        for done in range(1, total + 1):
            xb, yb = stream.next()
            train_step(t, xb, yb)
            if on_step is not None:
                on_step(done, total)
        end_where = state.Position(where.step + total, stream.epoch, stream.position)
        tensors, meta = state.capture(t.model, t.optimizer, t.scheduler, t.scaler, end_where, current_fp, end_entry["index"])

    if out_path is None:
        out_path = Path(tempfile.mkdtemp(prefix="trainproof-replay-")) / f"{end_entry['index']}.safetensors"
    sha, _ = write_snapshot(out_path, tensors, meta)
    del t, tensors, stream
    replayed = read_snapshot(out_path)
    distances = compare(replayed, end, moved)
    fp_diff = differences(recorded_fp, current_fp)
    distances["fingerprint_differences"] = fp_diff
    exact = not distances["mismatched_tensors"] and not distances["mismatched_state"]
    rel = max(distances["params_rel"], distances["buffers_rel"])
    if not fp_diff:
        distances["mode"] = "exact"
        accepted = exact
        reason = ("bit-identical replay" if exact else
                  f"fingerprint matches but replay differs: tensors {distances['mismatched_tensors'][:5]}, "
                  f"state {distances['mismatched_state']}, rel {rel:.3g}")
    else:
        distances["mode"] = "tolerance"
        accepted = rel <= tolerance and distances["int_buffers_equal"] and "step" not in distances["mismatched_state"]
        reason = (f"fingerprint differs in {sorted(fp_diff)}; rel error {rel:.3g} "
                  f"{'within' if accepted else 'above'} tolerance {tolerance:g}")
    return ReplayResult(exact, accepted, rel, distances, sha, str(out_path), reason)
