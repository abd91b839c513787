"""Train the suite, choose thresholds on the calibration half, print the held-out half per family."""
from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

from bench.detection import evaluate, report, scenarios
from bench.detection.train import one_run


def train_all(jobs: list[scenarios.Job], workers: int) -> list[dict]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one_run, [j.as_dict() for j in jobs], chunksize=4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a dev run: 4 configurations per run length")
    ap.add_argument("--per-length", type=int, default=16, help="configurations per run length (20 and 100 intervals)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per configuration and family")
    ap.add_argument("--seed", type=int, default=14, help="seeds every run, bad interval and the split")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--save", help="write the trained runs' claims to this JSON file")
    ap.add_argument("--load", help="read runs from a --save file instead of training")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.load:
        with open(args.load) as fh:
            runs = json.load(fh)
    else:
        configs = scenarios.configurations(per_length=4 if args.quick else args.per_length)
        runs = train_all(scenarios.jobs(configs, args.seed, args.repeats), args.workers)
        if args.save:
            with open(args.save, "w") as fh:
                json.dump(runs, fh)
    trained = time.perf_counter() - t0
    calibration = [r for r in runs if r["half"] == "calibration"]
    held = [r for r in runs if r["half"] == "held-out"]
    names = sorted({r["config"]["dataset"] for r in runs})
    print(f"{len(runs)} runs ({len(calibration)} calibration, {len(held)} held-out), run lengths "
          f"{sorted({r['config']['intervals'] for r in runs})}, data sets {names}, seed {args.seed}; {trained:.0f} s of training\n")
    settings, score = evaluate.calibrate(calibration)
    from trainproof.chaincode.contract.config import DEFAULTS

    audit = DEFAULTS["audit_fraction"]
    print("Chosen on the calibration half: " + ", ".join(f"{k}={v:g}" for k, v in settings.items())
          + f"  (objective {tuple(round(s, 3) for s in score)}); contract defaults: "
          + ", ".join(f"{k}={DEFAULTS[k]:g}" for k in settings) + f", audit_fraction={audit:g}")
    for label, chosen in (("chosen settings", settings), ("contract defaults", {k: DEFAULTS[k] for k in settings})):
        print(f"\nHeld-out half, {label}, audit {audit:g} (P/R/F1 and 'sel rules'/'det rules': rules alone; "
              "'+audit': with the audit sample, detection exact over its draw; cost: clean models):")
        report.held_out(held, chosen, audit)
    print("\nHeld-out half per configuration value (chosen settings, rules alone):")
    report.by_dimension(held, settings)
    print("\nHeld-out half, cost against model-level detection as the audit fraction varies (chosen settings):")
    report.audit_curve(held, settings)
    print("\nThe attacks' effect (all runs; success rates on the test split):")
    report.effects(runs)
    print(f"\n{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
