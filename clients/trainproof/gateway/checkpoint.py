"""Where an event listener has got to, so a restart resumes exactly after the last event handled."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class InMemoryCheckpointer:
    """Checkpoint held in memory: resumes within one process only."""

    def __init__(self) -> None:
        self.block_number: int | None = None
        self.transaction_id: str = ""

    def checkpoint_block(self, block_number: int) -> None:
        """The whole block is handled: resume from the next one."""
        self._save(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, transaction_id: str) -> None:
        """Handled up to and including this transaction of this block."""
        self._save(block_number, transaction_id)

    def checkpoint_chaincode_event(self, event) -> None:
        self.checkpoint_transaction(event.block_number, event.transaction_id)

    def _save(self, block_number: int, transaction_id: str) -> None:
        self.block_number, self.transaction_id = block_number, transaction_id


class FileCheckpointer(InMemoryCheckpointer):
    """Checkpoint persisted to a JSON file, written atomically (rename), read back on start."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        if self.path.exists():
            data = json.loads(self.path.read_text())
            self.block_number = data.get("block_number")
            self.transaction_id = data.get("transaction_id", "")

    def _save(self, block_number: int, transaction_id: str) -> None:
        super()._save(block_number, transaction_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"block_number": block_number, "transaction_id": transaction_id}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
