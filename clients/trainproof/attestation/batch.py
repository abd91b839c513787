"""The batch file: an attestation's inputs and claimed outputs, which an auditing verifier recomputes.

One safetensors file (never a pickle) with two float32 tensors, ``inputs`` and ``outputs``, whose
first dimension is the batch, and metadata naming the format and the model. It is stored
content-addressed beside the datasets; the ledger holds its SHA-256, and the Merkle root over
its rows' digests (``items``) is what the attestation records, so a file whose rows do not
give that root is not the attested batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from trainproof.attestation import merkle
from trainproof.attestation.tensors import row_digests

FORMAT = "trainproof-attest-batch/1"


class BatchError(ValueError):
    """Not a well-formed batch file; the message says what is wrong."""


@dataclass(frozen=True)
class Items:
    """The per-row digests of a batch and the Merkle tree over them."""

    input_sha256: list[str]
    output_sha256: list[str]

    @classmethod
    def of(cls, inputs: np.ndarray, outputs: np.ndarray) -> Items:
        if len(inputs) != len(outputs) or len(inputs) == 0:
            raise BatchError(f"a batch needs as many outputs as inputs, at least one: {len(inputs)} inputs, "
                             f"{len(outputs)} outputs")
        return cls(row_digests(inputs), row_digests(outputs))

    @cached_property
    def tree(self) -> merkle.Tree:
        """Built once: the root and every inclusion path come from it."""
        return merkle.Tree([merkle.item_leaf(a, b) for a, b in zip(self.input_sha256, self.output_sha256)])

    @property
    def count(self) -> int:
        return len(self.input_sha256)

    def root(self) -> str:
        return self.tree.root.hex()


def write(path: Path, inputs: np.ndarray, outputs: np.ndarray, model_id: str) -> Path:
    save_file({"inputs": np.ascontiguousarray(inputs, dtype=np.float32),
               "outputs": np.ascontiguousarray(outputs, dtype=np.float32)}, str(path),
              metadata={"format": FORMAT, "model_id": model_id})
    return path


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The batch's inputs and outputs; BatchError unless both are there, float32, row for row."""
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BatchError(f"the batch file is not a readable safetensors file: {exc}") from None
    if set(tensors) != {"inputs", "outputs"}:
        raise BatchError(f"the batch file holds {sorted(tensors)}, not exactly 'inputs' and 'outputs'")
    inputs, outputs = tensors["inputs"], tensors["outputs"]
    for name, array in (("inputs", inputs), ("outputs", outputs)):
        if array.dtype != np.float32 or array.ndim < 1 or len(array) == 0:
            raise BatchError(f"the batch's {name} must be a non-empty float32 batch, got {array.dtype} {array.shape}")
    if len(inputs) != len(outputs):
        raise BatchError(f"the batch has {len(inputs)} inputs but {len(outputs)} outputs")
    return inputs, outputs
