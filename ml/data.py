"""Dataset files and the data order.

A dataset is one safetensors file with ``x`` (inputs, already preprocessed) and ``y``
(integer labels), its name and declared preprocessing steps in the header: no pickle,
one SHA-256 for the certificate, loadable by hash on the verifier side.

The data order is a pure function of (data seed, epoch): a splitmix64 key per sample,
sorted. It is written out in integer arithmetic here rather than taken from
``torch.randperm`` or numpy's shuffles, whose streams may change between library
versions, so a verifier with other versions still feeds the same batches. A snapshot
stores (epoch, position) and the stream resumes there.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from trainproof.ml.snapshot import SnapshotError, dumps_canonical, load_verified, read_snapshot, write_snapshot

ORDER_ALGORITHM = "splitmix64-argsort/1"
DIGITS_PREPROCESSING = ["sklearn.datasets.load_digits", "scale 1/16 to [0, 1]", "float32"]
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass
class Dataset:
    """Inputs, labels and provenance of one dataset file."""

    x: torch.Tensor
    y: torch.Tensor
    name: str
    preprocessing: list[str] = field(default_factory=list)
    sha256: str = ""
    size: int = 0

    def __len__(self) -> int:
        return int(self.y.shape[0])


def save_dataset(path: str | os.PathLike, x: torch.Tensor, y: torch.Tensor, *, name: str, preprocessing: list[str]) -> Dataset:
    """Write ``x``/``y`` as one safetensors file; returns the dataset with its hash and size."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows, y has {y.shape[0]}")
    sha, size = write_snapshot(path, {"x": x, "y": y}, {"kind": "dataset", "name": name, "preprocessing": list(preprocessing)})
    return Dataset(x, y, name, list(preprocessing), sha, size)


def load_dataset(path: str | os.PathLike, expected_sha256: str | None = None) -> Dataset:
    """Load a dataset file, checking its hash when one is given (always, on the verifier side)."""
    if expected_sha256 is not None:
        snap = load_verified(path, expected_sha256)
    else:
        snap = read_snapshot(path)
    if snap.meta.get("kind") != "dataset" or set(snap.tensors) != {"x", "y"}:
        raise SnapshotError(f"{path}: not a trainproof dataset file (needs tensors x and y)")
    return Dataset(snap.tensors["x"], snap.tensors["y"], snap.meta["name"], snap.meta["preprocessing"], snap.sha256, snap.size)


def digits(image: bool = False, test_every: int = 5) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn's bundled digits, scaled to [0, 1]: ((x_train, y_train), (x_test, y_test)).

    Every ``test_every``-th sample is held out, a split that needs no random state.
    ``image=True`` shapes inputs as (N, 1, 8, 8) for the CNN.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    test = torch.arange(len(y)) % test_every == 0
    return (x[~test].contiguous(), y[~test].contiguous()), (x[test].contiguous(), y[test].contiguous())


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The permutation of ``range(n)`` used in ``epoch`` (same on every platform and version)."""
    key = hashlib.sha256(dumps_canonical([ORDER_ALGORITHM, seed, epoch]).encode()).digest()
    base = np.uint64(int.from_bytes(key[:8], "little"))
    with np.errstate(over="ignore"):
        keys = _splitmix64((np.arange(n, dtype=np.uint64) + base) & _M64)
    return np.argsort(keys, kind="stable")


class BatchStream:
    """Batches in the recorded order, resumable at any (epoch, position).

    ``position`` counts batches already taken in ``epoch``; the incomplete last batch of
    an epoch is dropped, so every optimizer step sees exactly ``batch_size`` samples.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, epoch: int = 0, position: int = 0,
                 device: torch.device | str = "cpu") -> None:
        if batch_size < 1 or batch_size > len(dataset):
            raise ValueError(f"batch_size {batch_size} must be in [1, {len(dataset)}]")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.steps_per_epoch = len(dataset) // batch_size
        if not 0 <= position < self.steps_per_epoch:
            raise ValueError(f"position {position} outside an epoch of {self.steps_per_epoch} batches")
        self.epoch, self.position, self.device = epoch, position, torch.device(device)
        self._order_epoch, self._order = -1, None

    def _indices(self) -> torch.Tensor:
        if self._order_epoch != self.epoch:
            self._order = torch.from_numpy(epoch_order(self.seed, self.epoch, len(self.dataset)))
            self._order_epoch = self.epoch
        lo = self.position * self.batch_size
        return self._order[lo : lo + self.batch_size]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch, on the stream's device; advances (epoch, position)."""
        idx = self._indices()
        xb = self.dataset.x[idx].to(self.device)
        yb = self.dataset.y[idx].to(self.device)
        self.position += 1
        if self.position == self.steps_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        return xb, yb
