"""The scenario suite: training configurations a real user might run, and what a cheat does to them.

A configuration is (data set, architecture, optimizer, schedule, run length). Every configuration
is trained clean and under every attack family, each with its own seed. The configurations are
split in two halves by a seeded shuffle: thresholds are chosen on the calibration half and
reported on the held-out half, so no held-out run (seed or configuration) was seen while choosing.

Attack families (the bad intervals are never intervals 0 and 1):

* ``backdoor-1``: one interval's batches carry a backdoor (a fraction of each batch triggered and
  relabelled to the target class);
* ``backdoor-group``: the same in 2–4 consecutive intervals;
* ``sparse``: a backdoor in only a few of one interval's batches (a quarter of its steps);
* ``label-flip``: in 1–3 consecutive intervals, every sample of one class is labelled as another;
* ``skip``: 1–2 intervals claimed but not trained (the weights do not move);
* ``short``: 1–2 intervals of which only the first half of the steps were run.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, asdict
from typing import Any

DATASETS = ("digits", "wine", "breast_cancer", "synthetic")
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"name": "sgd", "params": {"lr": 0.1}},
    "sgd-momentum": {"name": "sgd", "params": {"lr": 0.05, "momentum": 0.9}},
    "adam": {"name": "adam", "params": {"lr": 0.01}},
    "adamw": {"name": "adamw", "params": {"lr": 0.01, "weight_decay": 0.01}},
}
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine")
ATTACKS = ("backdoor-1", "backdoor-group", "sparse", "label-flip", "skip", "short")
FAMILIES = ("clean",) + ATTACKS
POISONING = ("backdoor-1", "backdoor-group", "sparse", "label-flip")
BACKDOOR_FRACTION = 0.25  # share of each poisoned batch that carries the trigger
SPARSE_STEPS = 0.25  # share of the interval's steps poisoned in the sparse family
SPARSE_FRACTION = 0.5  # share of each of those batches


@dataclass(frozen=True)
class Config:
    """One training configuration; ``index`` orders configurations for the split."""

    index: int
    dataset: str
    arch: str  # "mlp" or "cnn" (digits only)
    optimizer: str
    schedule: str
    intervals: int
    steps: int  # optimizer steps per interval
    hidden: tuple[int, ...] = (32,)

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.arch}/{self.optimizer}/{self.schedule}/T{self.intervals}"


@dataclass
class Job:
    """One training run: a configuration, a family, the bad intervals and a seed."""

    config: Config
    family: str
    seed: int
    half: str  # "calibration" or "held-out"
    bad: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config": asdict(self.config)}


def scenario(rng: random.Random, intervals: int, kind: str) -> dict[str, list[int]]:
    """Which intervals are bad for ``kind``, never the first two: {"poison"|"sparse"|"flip"|"skip"|"short": [...]}.

    "single" and "group" are the robustness benchmark's names for backdoor-1 and backdoor-group
    (1–3 random intervals there; one here, which is the harder case for model-level detection).
    """
    pool = list(range(2, intervals))
    if kind == "single":
        return {"poison": sorted(rng.sample(pool, rng.randint(1, 3)))}
    if kind == "backdoor-1":
        return {"poison": [rng.choice(pool)]}
    if kind in ("group", "backdoor-group"):
        return {"poison": _consecutive(rng, intervals, 2, 4)}
    if kind == "sparse":
        return {"sparse": [rng.choice(pool)]}
    if kind == "label-flip":
        return {"flip": _consecutive(rng, intervals, 1, 3)}
    if kind == "skip":
        return {"skip": sorted(rng.sample(pool, rng.randint(1, 2)))}
    if kind == "short":
        return {"short": sorted(rng.sample(pool, rng.randint(1, 2)))}
    return {}


def _consecutive(rng: random.Random, intervals: int, shortest: int, longest: int) -> list[int]:
    length = rng.randint(shortest, longest)
    start = rng.randint(2, intervals - length)
    return list(range(start, start + length))


def configurations(lengths: tuple[int, ...] = (20, 100), per_length: int = 16) -> list[Config]:
    """``per_length`` configurations per run length, cycling data sets, optimizers and schedules so
    each value meets the others (a Latin-square walk, not the full product); every fourth digits
    configuration is the CNN."""
    found = []
    for length in lengths:
        for j in range(per_length):
            dataset = DATASETS[j % len(DATASETS)]
            optimizer = list(OPTIMIZERS)[(j + j // len(DATASETS)) % len(OPTIMIZERS)]
            schedule = SCHEDULES[(j // len(DATASETS) + 2 * (j % 2)) % len(SCHEDULES)]
            arch = "cnn" if dataset == "digits" and (j // len(DATASETS)) % 2 == 1 else "mlp"
            hidden = ((32,), (64, 32))[(j // 2) % 2]
            steps = 8 if length <= 20 else 4
            found.append(Config(len(found), dataset, arch, optimizer, schedule, length, steps, hidden))
    return found


def split(configs: list[Config], seed: int) -> dict[int, str]:
    """Each configuration's half: a seeded shuffle within each (run length, data set), then alternating."""
    rng = random.Random(f"split/{seed}")
    halves: dict[int, str] = {}
    groups: dict[tuple[int, str], list[Config]] = {}
    for c in configs:
        groups.setdefault((c.intervals, c.dataset), []).append(c)
    turn = 0  # alternates across groups too, so a group of one configuration still splits the suite
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda c: c.index)
        rng.shuffle(members)
        for c in members:
            halves[c.index] = "calibration" if turn % 2 == 0 else "held-out"
            turn += 1
    return halves


def jobs(configs: list[Config], seed: int, repeats: int = 1) -> list[Job]:
    """Every configuration × family × ``repeats``, each with its own seed and bad intervals."""
    rng = random.Random(seed)
    halves = split(configs, seed)
    found = []
    for c in configs:
        for family in FAMILIES:
            for r in range(repeats):
                run_seed = seed * 100_000 + len(found)
                found.append(Job(c, family, run_seed, halves[c.index], scenario(rng, c.intervals, family)))
    return found


def schedule_spec(name: str, total_steps: int) -> dict[str, Any] | None:
    """The registry spec of a named schedule over ``total_steps`` optimizer steps."""
    if name == "constant":
        return None
    if name == "step":
        return {"name": "step", "params": {"step_size": max(1, total_steps // 3), "gamma": 0.3}}
    if name == "cosine":
        return {"name": "cosine", "params": {"T_max": total_steps, "eta_min": 0.0}}
    if name == "warmup_cosine":
        return {"name": "warmup_cosine", "params": {"warmup_steps": max(1, total_steps // 10), "total_steps": total_steps,
                                                    "min_factor": 0.05}}
    raise ValueError(f"unknown schedule {name!r}")
