"""The birth-certificate draft (Ghovanlooy Ghajar et al.) a run directory carries.

``run.json`` is the certificate draft itself, with the top-level keys of the contract's
schema. Two local-only fields help the CLI find files: ``snapshots[i]["file"]`` and
``dataset["file"]`` (paths relative to the run directory); ``for_submission`` drops
them. The CLI fills ``model_id``, the ``uri`` fields and ``parent_id`` at submit time.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

LOCAL_FIELDS = ("file",)
RUN_FILE = "run.json"
# What the certificate claims per interval (metrics.interval_scores computes them); each interval
# also claims its input_profile, which input_shift is computed from, and its probe_loss at both
# ends (ml/probe.py).
SCORE_KEYS = ("absolute", "l2", "percent", "cosine", "input_shift")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers (read from the loaded modules)."""
    import numpy
    import safetensors
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "safetensors": safetensors.__version__}


def git_state(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the repository the training ran from ("" if not in one)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "", "git_dirty": False, "git_repository": False}
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(dirty), "git_repository": True}


def environment(device: str, threads: int, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The certificate's ``environment`` section for the current process."""
    return {
        "packages": package_versions(),
        "device": device,
        "threads": threads,
        **git_state(),
        "command_line": shlex.join([sys.executable, *sys.argv]),
        "fingerprint": fingerprint,
    }


def for_submission(run: dict[str, Any]) -> dict[str, Any]:
    """The certificate without the run directory's local-only fields."""
    cert = json.loads(json.dumps(run))
    for entry in cert.get("snapshots", []):
        for key in LOCAL_FIELDS:
            entry.pop(key, None)
    for key in LOCAL_FIELDS:
        cert.get("dataset", {}).pop(key, None)
    return cert


def load_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``RUN_DIR/run.json``."""
    return json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))


def snapshot_paths(run_dir: str | os.PathLike, run: dict[str, Any] | None = None) -> list[Path]:
    """Local snapshot files of a run, in index order."""
    run = run or load_run(run_dir)
    return [Path(run_dir) / s["file"] for s in sorted(run["snapshots"], key=lambda s: s["index"])]


def write_run(run_dir: str | os.PathLike, run: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically (sorted keys: a stable file to diff and hash)."""
    path = Path(run_dir) / RUN_FILE
    tmp = path.with_name(RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(run, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
