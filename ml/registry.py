"""Build models, optimizers, schedulers and losses from JSON specs.

A verifier never runs code that came with a submission: the recipe names an entry of
this registry and gives JSON parameters, each checked for type and range before use.
The same functions serve the submitter, so the model a verifier rebuilds is the one the
submitter trained, layer names included (``fc1``, ``conv1``, ``bn1`` …: the hash chain
and the per-layer scores refer to them).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

SPEC_ATTR = "trainproof_spec"  # set on objects built here, read back by the Recorder
MAX_PARAMETERS = 2_000_000_000


class SpecError(ValueError):
    """A spec that names nothing in the registry or carries bad parameters."""


# --- parameter checking -----------------------------------------------------------

def _int(v: Any, name: str, lo: int = 1, hi: int = 1 << 20) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise SpecError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _float(v: Any, name: str, lo: float = 0.0, hi: float = math.inf) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
        raise SpecError(f"{name} must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _bool(v: Any, name: str) -> bool:
    if not isinstance(v, bool):
        raise SpecError(f"{name} must be true or false, got {v!r}")
    return v


def _ints(v: Any, name: str, lo: int = 1) -> list[int]:
    if not isinstance(v, list) or not v or len(v) > 64:
        raise SpecError(f"{name} must be a non-empty list of at most 64 integers, got {v!r}")
    return [_int(x, f"{name}[{i}]", lo) for i, x in enumerate(v)]


def _params(spec: Any, kind: str, table: dict) -> tuple[str, dict]:
    if not isinstance(spec, dict) or set(spec) - {"name", "params"} or "name" not in spec:
        raise SpecError(f"{kind} spec must be {{'name': …, 'params': {{…}}}}, got {spec!r}")
    name, params = spec["name"], spec.get("params") or {}
    if name not in table:
        raise SpecError(f"unknown {kind} {name!r}; known: {sorted(table)}")
    if not isinstance(params, dict):
        raise SpecError(f"{kind} params must be an object")
    allowed = table[name][1]
    unknown = set(params) - set(allowed)
    if unknown:
        raise SpecError(f"{kind} {name!r} takes no parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return name, params


# --- architectures -----------------------------------------------------------------

class MLP(nn.Module):
    """Feed-forward net: Linear layers fc1…fcN with ReLU and dropout between them."""

    def __init__(self, in_features: int, hidden: list[int], out_features: int, dropout: float) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.depth = len(sizes) - 1
        for i in range(self.depth):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i in range(1, self.depth):
            x = self.dropout(torch.relu(getattr(self, f"fc{i}")(x)))
        return getattr(self, f"fc{self.depth}")(x)


class SmallCNN(nn.Module):
    """conv → BatchNorm → ReLU → 2×2 max-pool blocks, then dropout and one Linear layer."""

    def __init__(self, in_channels: int, image_size: int, channels: list[int], out_features: int, dropout: float) -> None:
        super().__init__()
        self.blocks = len(channels)
        size, prev = image_size, in_channels
        for i, ch in enumerate(channels):
            setattr(self, f"conv{i + 1}", nn.Conv2d(prev, ch, kernel_size=3, padding=1))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(ch))
            prev, size = ch, size // 2
        if size < 1:
            raise SpecError(f"image_size {image_size} is too small for {len(channels)} pooling blocks")
        self.in_channels, self.image_size = in_channels, image_size
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(prev * size * size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, self.in_channels, self.image_size, self.image_size)
        for i in range(1, self.blocks + 1):
            x = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))
            x = nn.functional.max_pool2d(torch.relu(x), 2)
        return self.fc(self.dropout(x.flatten(1)))


def _mlp(p: dict) -> nn.Module:
    return MLP(
        _int(p.get("in_features"), "in_features"),
        [] if p.get("hidden", []) == [] else _ints(p.get("hidden"), "hidden"),
        _int(p.get("out_features"), "out_features"),
        _float(p.get("dropout", 0.0), "dropout", 0.0, 0.99),
    )


def _cnn(p: dict) -> nn.Module:
    return SmallCNN(
        _int(p.get("in_channels", 1), "in_channels", 1, 4096),
        _int(p.get("image_size"), "image_size", 2, 4096),
        _ints(p.get("channels", [16, 32]), "channels"),
        _int(p.get("out_features"), "out_features"),
        _float(p.get("dropout", 0.0), "dropout", 0.0, 0.99),
    )


ARCHITECTURES: dict[str, tuple[Callable[[dict], nn.Module], tuple[str, ...]]] = {
    "mlp": (_mlp, ("in_features", "hidden", "out_features", "dropout")),
    "cnn": (_cnn, ("in_channels", "image_size", "channels", "out_features", "dropout")),
}


def build_model(spec: dict) -> nn.Module:
    """Build an architecture from ``{"name": …, "params": {…}}`` (weights from torch's RNG)."""
    name, params = _params(spec, "architecture", ARCHITECTURES)
    model = ARCHITECTURES[name][0](params)
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise SpecError(f"architecture has {count} parameters, more than the {MAX_PARAMETERS} allowed")
    setattr(model, SPEC_ATTR, {"name": name, "params": params})
    return model


# --- optimizers --------------------------------------------------------------------

def _betas(v: Any) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise SpecError(f"betas must be a pair, got {v!r}")
    return (_float(v[0], "betas[0]", 0.0, 1.0), _float(v[1], "betas[1]", 0.0, 1.0))


def _sgd(params, p: dict) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=_float(p.get("lr", 0.01), "lr"), momentum=_float(p.get("momentum", 0.0), "momentum", 0.0, 1.0),
        dampening=_float(p.get("dampening", 0.0), "dampening", 0.0, 1.0),
        weight_decay=_float(p.get("weight_decay", 0.0), "weight_decay"), nesterov=_bool(p.get("nesterov", False), "nesterov"),
    )


def _adam_like(cls):
    def build(params, p: dict) -> torch.optim.Optimizer:
        default_wd = 0.01 if cls is torch.optim.AdamW else 0.0
        return cls(
            params, lr=_float(p.get("lr", 1e-3), "lr"), betas=_betas(p.get("betas", (0.9, 0.999))),
            eps=_float(p.get("eps", 1e-8), "eps"), weight_decay=_float(p.get("weight_decay", default_wd), "weight_decay"),
            amsgrad=_bool(p.get("amsgrad", False), "amsgrad"),
        )
    return build


OPTIMIZERS = {
    "sgd": (_sgd, ("lr", "momentum", "dampening", "weight_decay", "nesterov"), torch.optim.SGD),
    "adam": (_adam_like(torch.optim.Adam), ("lr", "betas", "eps", "weight_decay", "amsgrad"), torch.optim.Adam),
    "adamw": (_adam_like(torch.optim.AdamW), ("lr", "betas", "eps", "weight_decay", "amsgrad"), torch.optim.AdamW),
}


def build_optimizer(spec: dict, model: nn.Module) -> torch.optim.Optimizer:
    """One parameter group over ``model.parameters()`` in registration order."""
    name, params = _params(spec, "optimizer", OPTIMIZERS)
    optimizer = OPTIMIZERS[name][0](model.parameters(), params)
    setattr(optimizer, SPEC_ATTR, {"name": name, "params": params})
    return optimizer


def describe_optimizer(optimizer: torch.optim.Optimizer) -> dict:
    """The spec of an optimizer built here or directly with torch (SGD, Adam, AdamW)."""
    spec = getattr(optimizer, SPEC_ATTR, None)
    if spec is not None:
        return spec
    for name, (_, keys, cls) in OPTIMIZERS.items():
        if type(optimizer) is cls:
            group = optimizer.defaults
            params = {k: (list(group[k]) if isinstance(group[k], tuple) else group[k]) for k in keys}
            build_optimizer({"name": name, "params": params}, nn.Linear(1, 1))  # validates
            return {"name": name, "params": params}
    raise SpecError(f"optimizer {type(optimizer).__name__} is not in the registry; use one of {sorted(OPTIMIZERS)}")


# --- schedulers --------------------------------------------------------------------

def warmup_cosine(warmup_steps: int, total_steps: int, min_factor: float) -> Callable[[int], float]:
    """LR factor: linear warm-up to 1, then cosine decay to ``min_factor``.

    A closure, not a callable object: LambdaLR saves a callable object's attributes in
    its state_dict and loads them back, which would let a snapshot override the recipe.
    """
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return factor


def _step(opt, p):
    return torch.optim.lr_scheduler.StepLR(opt, _int(p.get("step_size"), "step_size"), _float(p.get("gamma", 0.1), "gamma"))


def _exponential(opt, p):
    return torch.optim.lr_scheduler.ExponentialLR(opt, _float(p.get("gamma"), "gamma"))


def _cosine(opt, p):
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, _int(p.get("T_max"), "T_max"), _float(p.get("eta_min", 0.0), "eta_min"))


def _warmup_cosine(opt, p):
    factor = warmup_cosine(_int(p.get("warmup_steps"), "warmup_steps", 1), _int(p.get("total_steps"), "total_steps", 1, 1 << 40),
                          _float(p.get("min_factor", 0.0), "min_factor", 0.0, 1.0))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


SCHEDULERS = {
    "step": (_step, ("step_size", "gamma"), torch.optim.lr_scheduler.StepLR),
    "exponential": (_exponential, ("gamma",), torch.optim.lr_scheduler.ExponentialLR),
    "cosine": (_cosine, ("T_max", "eta_min"), torch.optim.lr_scheduler.CosineAnnealingLR),
    "warmup_cosine": (_warmup_cosine, ("warmup_steps", "total_steps", "min_factor"), None),
}


def build_scheduler(spec: dict | None, optimizer: torch.optim.Optimizer):
    """An LR scheduler stepped once per optimizer step, or None."""
    if spec is None:
        return None
    name, params = _params(spec, "scheduler", SCHEDULERS)
    scheduler = SCHEDULERS[name][0](optimizer, params)
    setattr(scheduler, SPEC_ATTR, {"name": name, "params": params})
    return scheduler


def describe_scheduler(scheduler) -> dict | None:
    """The spec of a scheduler built here, or of a plain StepLR/ExponentialLR/CosineAnnealingLR."""
    if scheduler is None:
        return None
    spec = getattr(scheduler, SPEC_ATTR, None)
    if spec is not None:
        return spec
    for name, (_, keys, cls) in SCHEDULERS.items():
        if cls is not None and type(scheduler) is cls:
            return {"name": name, "params": {k: getattr(scheduler, k) for k in keys}}
    raise SpecError(f"scheduler {type(scheduler).__name__} is not in the registry; build it with build_scheduler")


# --- losses ------------------------------------------------------------------------

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": nn.functional.cross_entropy,
}


def build_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function named in the recipe."""
    if name not in LOSSES:
        raise SpecError(f"unknown loss {name!r}; known: {sorted(LOSSES)}")
    return LOSSES[name]
