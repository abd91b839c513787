"""The model set: recorded digits runs, clean or poisoned in random or consecutive intervals."""
from __future__ import annotations

import dataclasses
import json
import random
import secrets
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from trainproof.chaincode.contract import selection
from trainproof.ml.certificate import SCORE_KEYS

SUBMITTERS = ("org1-user1", "org2-user1")
KINDS = ("clean", "random", "consecutive")


def say(*args: Any) -> None:
    print(*args, flush=True)


@dataclass
class ModelSpec:
    index: int
    kind: str                       # clean | random | consecutive
    poisoned: list[int]
    seed: int
    submitter: str = ""
    run_dir: str = ""
    claims: dict = field(default_factory=dict)   # what the contract's rules read (selection.claims of the run)
    attack_success_rate: Optional[float] = None
    accuracy: Optional[float] = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"m{self.index:02d}-{self.kind}"


def model_set(n: int, intervals: int, seed: int) -> list[ModelSpec]:
    """The paper's mix (½ clean, ¼ random poisoned intervals, ¼ consecutive), first ``n`` of 20-style.

    The poisoned intervals come from bench.detection's scenarios (never intervals 0 and 1):
    1–3 random ones, or a group of 2–4 consecutive ones.
    """
    from bench.detection import scenario

    rng = random.Random(seed)
    per_kind = {"random": n // 4, "consecutive": n // 4}
    per_kind["clean"] = n - 2 * (n // 4)
    specs: list[ModelSpec] = []
    # Draw 20-models' worth of scenarios in a fixed order so a subset is a prefix of the full set.
    draws = {"random": [scenario(rng, intervals, "single")["poison"] for _ in range(max(5, per_kind["random"]))],
             "consecutive": [scenario(rng, intervals, "group")["poison"] for _ in range(max(5, per_kind["consecutive"]))]}
    index = 0
    for kind in KINDS:
        for j in range(per_kind[kind]):
            poisoned = [] if kind == "clean" else draws[kind][j]
            specs.append(ModelSpec(index, kind, poisoned, seed * 1000 + index))
            index += 1
    for position, spec in enumerate(specs):
        spec.submitter = SUBMITTERS[position % len(SUBMITTERS)]
    return specs


def train_models(specs: list[ModelSpec], work: Path, intervals: int, steps: int, poison_fraction: float) -> float:
    """Train each run once (kept in ``work`` and reused while its recipe is unchanged); returns seconds."""
    from demo.digits import train_digits

    started = time.monotonic()
    for spec in specs:
        run_dir = work / spec.label
        recipe = {"scores": list(SCORE_KEYS), "kind": spec.kind, "poisoned": spec.poisoned, "seed": spec.seed,
                  "intervals": intervals, "steps": steps, "poison_fraction": poison_fraction if spec.poisoned else 0.0}
        recipe_file = work / f"{spec.label}.recipe.json"
        run_file = run_dir / "run.json"
        if not (run_file.exists() and recipe_file.exists() and json.loads(recipe_file.read_text()) == recipe):
            t0 = time.monotonic()
            if run_dir.exists():
                shutil.rmtree(run_dir)
            train_digits(run_dir, intervals=intervals, steps_per_interval=steps, poison_intervals=spec.poisoned,
                         poison_fraction=poison_fraction, seed=spec.seed, name=f"robustness-{spec.label}")
            recipe_file.write_text(json.dumps(recipe))
            say(f"  trained {spec.label:<16} poisoned {spec.poisoned or '-'} ({time.monotonic() - t0:.1f} s)")
        run = json.loads(run_file.read_text())
        spec.run_dir = str(run_dir)
        spec.claims = selection.claims(run)
        spec.accuracy = run.get("metrics", {}).get("accuracy")
        spec.attack_success_rate = run.get("metrics", {}).get("attack_success_rate")
    return time.monotonic() - started


def demo_model() -> ModelSpec:
    """The honest model of ``make demo`` (demo/training.py: digits MLP, 10 intervals × 10 steps), untrained."""
    return ModelSpec(0, "clean", [], 0, submitter=SUBMITTERS[0], name="demo-honest")


def retrained(specs: list[ModelSpec], work: Path, intervals: int, steps: int, poison_fraction: float) -> list[ModelSpec]:
    """Copies of ``specs`` with fresh training seeds, trained into a new directory under ``work``.

    The ledger accepts a trained snapshot once (a copy is refused as someone else's work), so each
    submission needs its own run: the scenario (kind, poisoned intervals, submitter) is kept, the
    weights are new. Prints the training time and the backdoor's attack success rate.
    """
    fresh = [dataclasses.replace(s, seed=secrets.randbelow(2 ** 31 - 2) + 1, run_dir="", claims={})
             for s in specs]
    seconds = train_models(fresh, work / f"runs-{secrets.token_hex(4)}", intervals, steps, poison_fraction)
    asr = [s.attack_success_rate for s in fresh if s.poisoned and s.attack_success_rate is not None]
    say(f"  trained {len(fresh)} fresh run(s) in {seconds:.0f} s" +
        (f"; backdoor attack success rate: median {statistics.median(asr):.2f}" if asr else ""))
    return fresh
