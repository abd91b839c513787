"""Run a certified model on new inputs, reproducibly, for contract-signed outputs (issue #17).

The model is rebuilt from the certificate's recipe through the registry (never code from
the submission) and its parameters and buffers come from the snapshot whose SHA-256 the
certificate lists last, so an attested output is tied to the certified weights and
nothing else. Snapshot tensor names are the Recorder's (``state``): ``param/<name>`` and
``buffer/<name>``, listed in the JSON state's ``parameters`` and ``buffers``; optimizer and
RNG tensors are ignored.

``predict`` is deterministic on one machine: eval mode, no autograd, a fixed thread count
(the thread count changes BLAS reduction order, see ``fingerprint``). By default every
sample is computed as a batch of one, because a matrix product over a batch need not sum
a row in the same order as over that row alone (measured, torch 2.15 CPU, digits MLP and
CNN: all 360 test rows differ in their last bits between one batch of 360, batches of 7
and one row at a time). With ``batch_size=1`` a verifier that recomputes one sampled item
gets the same bits as the whole batch did; a receipt should state the batch size used.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainproof.ml import state
from trainproof.ml.fingerprint import fingerprint
from trainproof.ml.registry import SPEC_ATTR, SpecError, build_model
from trainproof.ml.replay import _isolated
from trainproof.ml.snapshot import SnapshotError, parse_snapshot, read_bytes


class InferenceError(ValueError):
    """A model or input that cannot be attested: wrong shape or type, a snapshot that does not fit."""


def final_snapshot(certificate: dict) -> dict:
    """The certificate's last snapshot entry (highest index): the weights a model is used with."""
    snapshots = certificate.get("snapshots") if isinstance(certificate, dict) else None
    if not isinstance(snapshots, list) or not snapshots:
        raise InferenceError("the certificate lists no snapshots")
    try:
        return max(snapshots, key=lambda s: s["index"])
    except (TypeError, KeyError):
        raise InferenceError("the certificate's snapshot manifest has an entry without an index") from None


def _architecture(certificate: dict) -> dict:
    try:
        return certificate["recipe"]["architecture"]
    except (TypeError, KeyError):
        raise InferenceError("the certificate has no recipe.architecture") from None


def sample_shapes(architecture: dict) -> list[tuple[int, ...]]:
    """The shapes one sample may have for this architecture spec (inputs add a batch dimension).

    MLP: ``(in_features,)``. CNN: ``(in_channels, image_size, image_size)`` or the same
    values flattened; the CNN reshapes either, and the MLP flattens nothing else.
    """
    name = architecture.get("name") if isinstance(architecture, dict) else None
    params = (architecture.get("params") or {}) if isinstance(architecture, dict) else {}
    try:
        if name == "mlp":
            return [(int(params["in_features"]),)]
        if name == "cnn":
            channels, size = int(params.get("in_channels", 1)), int(params["image_size"])
            return [(channels, size, size), (channels * size * size,)]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InferenceError(f"the {name} architecture spec gives no valid input size: {architecture!r}") from None
    raise InferenceError(f"no input shape known for architecture {name!r}")


def load_model(certificate: dict, snapshot_path: str | Path) -> nn.Module:
    """The certified model with the weights of ``snapshot_path``, in eval mode, on the CPU.

    The file must be the certificate's final snapshot (SHA-256 and size as listed); its
    bytes are hashed and parsed from one read, so the file cannot change in between.
    Raises SnapshotError for a wrong or damaged file, InferenceError when its tensors do
    not fit the architecture (names, shapes or dtypes).
    """
    architecture = _architecture(certificate)
    entry = final_snapshot(certificate)
    blob = read_bytes(snapshot_path)
    sha = hashlib.sha256(blob).hexdigest()
    if sha != str(entry.get("sha256", "")).lower():
        raise SnapshotError(f"{snapshot_path}: SHA-256 {sha} is not the certificate's final snapshot "
                            f"(index {entry['index']}, {entry.get('sha256')})")
    if entry.get("size") not in (None, len(blob)):
        raise SnapshotError(f"{snapshot_path}: size {len(blob)} differs from the manifest's {entry['size']}")
    snap = parse_snapshot(blob, str(snapshot_path))
    if snap.meta.get("kind") != state.SNAPSHOT_KIND:
        raise SnapshotError(f"{snapshot_path}: not a training snapshot")

    with torch.random.fork_rng(devices=[]):  # building initialises weights from torch's RNG: leave the caller's alone
        try:
            model = build_model(architecture)
        except SpecError as exc:
            raise InferenceError(f"the certificate's architecture cannot be built: {exc}") from None
    expected = model.state_dict()
    try:
        found = state.stored_model_state(snap.tensors, snap.meta)
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"{snapshot_path}: the state lists tensor {exc} that the file does not hold") from None
    if set(found) != set(expected):
        raise InferenceError(f"{snapshot_path}: tensors do not fit the architecture: missing {sorted(set(expected) - set(found))}, "
                             f"unexpected {sorted(set(found) - set(expected))}")
    for name, tensor in expected.items():
        got = found[name]
        if got.shape != tensor.shape or got.dtype != tensor.dtype:  # load_state_dict would cast a dtype silently
            raise InferenceError(f"{snapshot_path}: tensor {name!r} is {got.dtype} {list(got.shape)}, "
                                 f"the architecture needs {tensor.dtype} {list(tensor.shape)}")
    model.load_state_dict(found, strict=True)
    model.requires_grad_(False)
    return model.eval()


def _shape_error(name: str, shapes: list[tuple[int, ...]], shape: tuple[int, ...]) -> InferenceError:
    wanted = " or ".join(str(("N", *s)).replace("'", "") for s in shapes)
    return InferenceError(f"inputs have shape {tuple(shape)}; the {name} architecture expects {wanted} "
                          f"(N ≥ 1 samples), or one sample of shape {' or '.join(map(str, shapes))}")


def _check_inputs(model: nn.Module, inputs: Any) -> np.ndarray:
    """float32 C-contiguous inputs with a batch dimension, in one of the architecture's shapes."""
    spec = getattr(model, SPEC_ATTR, None)
    if spec is None:
        raise InferenceError("the model was not built by trainproof.ml.registry: its input shape is unknown")
    if not isinstance(inputs, np.ndarray):
        raise InferenceError(f"inputs must be a numpy array, got {type(inputs).__name__}")
    if inputs.dtype.kind not in "fiu":
        raise InferenceError(f"inputs have dtype {inputs.dtype}, not a real number type")
    shapes = sample_shapes(spec)
    if inputs.shape in shapes:  # one unbatched sample
        inputs = inputs[None]
    elif inputs.ndim < 2 or inputs.shape[1:] not in shapes or inputs.shape[0] == 0:
        raise _shape_error(spec["name"], shapes, inputs.shape)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(inputs, dtype=np.float32)
    if not np.isfinite(out).all():
        raise InferenceError("inputs hold NaN, infinite or float32-overflowing values")
    return out


def predict(model: nn.Module, inputs: np.ndarray, threads: int = 1, batch_size: int = 1) -> np.ndarray:
    """The model's float32 outputs for ``inputs`` (shape (N, …), or one sample without N).

    Runs with exactly ``threads`` torch threads, restoring the caller's count (and RNG
    states) afterwards, ``batch_size`` samples per forward pass; the same model, inputs,
    threads, batch_size and fingerprint give the same bits. Raises InferenceError on
    inputs of the wrong shape or type, or outputs that are not finite.
    """
    if type(threads) is not int or threads < 1:
        raise InferenceError(f"threads must be a positive integer, got {threads!r}")
    if type(batch_size) is not int or batch_size < 1:
        raise InferenceError(f"batch_size must be a positive integer, got {batch_size!r}")
    x = _check_inputs(model, inputs)
    outputs = []
    with _isolated(threads), torch.no_grad():
        model.eval()
        for start in range(0, len(x), batch_size):
            chunk = torch.from_numpy(x[start : start + batch_size].copy())
            outputs.append(model(chunk).to(torch.float32).cpu().numpy())
    out = np.ascontiguousarray(np.concatenate(outputs))
    bad = int(np.count_nonzero(~np.isfinite(out)))
    if bad:
        raise InferenceError(f"the model produced {bad} NaN or infinite output values of {out.size}")
    return out


def execution_fingerprint(threads: int = 1, batch_size: int = 1) -> dict[str, Any]:
    """Where and how ``predict(…, threads, batch_size)`` computes: the replay fingerprint (CPU, at
    that thread count) and the rows per forward pass, which also changes the last bits."""
    with _isolated(threads):
        return {**fingerprint(torch.device("cpu")), "batch_size": batch_size}


def batched(certificate: dict, inputs: np.ndarray) -> np.ndarray:
    """``inputs`` with a batch dimension (one sample of an input shape of the architecture gets
    one); InferenceError, before any weights are fetched, if they fit none of its shapes."""
    architecture = _architecture(certificate)
    shapes = sample_shapes(architecture)
    if tuple(inputs.shape) in shapes:
        return inputs[None]
    if inputs.ndim < 2 or tuple(inputs.shape[1:]) not in shapes or inputs.shape[0] == 0:
        raise _shape_error(architecture["name"], shapes, inputs.shape)
    return inputs
