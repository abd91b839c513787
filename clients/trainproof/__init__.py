"""trainproof: verifiable neural-network training on a Hyperledger Fabric ledger.

``from trainproof import Recorder`` is what a training script needs. The name is resolved on
first use, so importing ``trainproof`` (as the CLI does for every command) does not load torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Recorder"]


def __getattr__(name: str) -> Any:
    if name == "Recorder":
        from trainproof.ml.recorder import Recorder

        return Recorder
    raise AttributeError(f"module 'trainproof' has no attribute {name!r}")
