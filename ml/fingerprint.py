"""The execution fingerprint: what must match for a replay to be bit-identical.

Measured on torch CPU: same library builds + same CPU + same thread count replays an
interval bit for bit, in the same or a fresh process; changing the thread count alone
breaks bit-equality (it changes the reduction order inside BLAS/oneDNN kernels). The
fingerprint therefore lists exactly the things that select kernels or their reduction
order, and nothing volatile (no host names, no clocks), so a replay on a matching
machine writes a byte-identical snapshot. A verifier compares fingerprints to choose
between the exact check and the tolerance check.
"""
from __future__ import annotations

import platform
import re
from typing import Any

import torch

OPTIMIZER_FLAGS = ("foreach", "fused", "capturable", "differentiable", "maximize")


def _config_version(pattern: str) -> str:
    match = re.search(pattern, torch.__config__.show())
    return match.group(1) if match else ""


def cpu_model() -> str:
    """CPU model name: MKL picks kernels per micro-architecture, not only per ISA level."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def optimizer_flags(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Implementation switches of the optimizer (foreach/fused kernels sum differently)."""
    group = optimizer.param_groups[0]
    return {flag: group.get(flag) for flag in OPTIMIZER_FLAGS if flag in group}


def fingerprint(device: torch.device, optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """The fingerprint of the current process for training on ``device``."""
    fp: dict[str, Any] = {
        "torch": torch.__version__,
        "mkl": _config_version(r"Math Kernel Library Version (\S+)"),
        "onednn": _config_version(r"MKL-DNN v(\S+)"),
        "threads": torch.get_num_threads(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": cpu_model(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "device": device.type,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        fp.update({
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "gpu": props.name,
            "gpu_capability": f"{props.major}.{props.minor}",
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        })
    if optimizer is not None:
        fp["optimizer_flags"] = optimizer_flags(optimizer)
    return fp


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, list]:
    """Keys whose values differ, as {key: [recorded, current]} (empty: exact replay expected)."""
    keys = sorted(set(recorded) | set(current))
    return {k: [recorded.get(k), current.get(k)] for k in keys if recorded.get(k) != current.get(k)}
