"""``python -m bench.robustness``: see the package's docstring."""
from __future__ import annotations

import argparse
import json
import signal
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from bench import robustness
from bench.robustness.expectation import malicious_order
from bench.robustness.harness import Bench
from bench.robustness.report import print_table
from bench.robustness.scenarios import KINDS, SUBMITTERS, demo_model, model_set, say
from bench.workers import WorkerSwap, verifier_identities, worker_mode, worker_pid


def percent(text: str) -> float:
    value = float(text)
    return value / 100 if value > 1 else value


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.robustness", description=robustness.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=20, help="models per configuration (½ clean, ¼ random, ¼ consecutive)")
    ap.add_argument("--fractions", type=percent, nargs="+", default=[0, .1, .2, .3, .4, .5],
                    help="malicious shares, in %% (0 10 20 ...) or as fractions (0 .1 .2 ...)")
    ap.add_argument("--modes", nargs="+", choices=["ordered", "chaotic"], default=["ordered", "chaotic"])
    ap.add_argument("--intervals", type=int, default=20, help="intervals per run")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per interval")
    ap.add_argument("--poison-fraction", type=float, default=0.25, help="share of each batch poisoned in a bad interval")
    ap.add_argument("--seed", type=int, default=0, help="seeds the model set and the malicious order")
    ap.add_argument("--solo", type=int, default=3,
                    help="times to submit the demo model (make demo's honest run: 10 intervals × 10 steps) alone first (0: skip)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for a configuration's verdicts")
    ap.add_argument("--work", type=Path, default=None, help="where the runs are kept (default $TRAINPROOF_HOME/bench-robustness)")
    ap.add_argument("--json", type=Path, default=None, help="also write every measurement here")
    args = ap.parse_args()
    if args.models < 1:
        ap.error("--models must be at least 1")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    from trainproof.profile import Profile

    home = Profile.load().home
    work = args.work or home / "bench-robustness" / f"i{args.intervals}-s{args.steps}-p{args.poison_fraction}-seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    specs = model_set(args.models, args.intervals, args.seed)
    say(f"bench-robustness: {len(specs)} models ({', '.join(f'{sum(s.kind == k for s in specs)} {k}' for k in KINDS)}), "
        f"{args.intervals} intervals × {args.steps} steps, poison fraction {args.poison_fraction}; runs in {work}")

    identities = verifier_identities()
    down = [i for i in identities if worker_pid(i) is None]
    bad_now = {i: worker_mode(i) for i in identities if worker_pid(i) and worker_mode(i)}
    if down or bad_now:
        raise SystemExit(f"the verifier workers must all run honestly first (down: {down or 'none'}, malicious: "
                         f"{bad_now or 'none'}); run `make network-up` or `python -m bench.workers --restore`")

    bench = Bench(args, work)
    order = malicious_order(identities, args.seed)
    say(f"malicious order (org-alternating, seed {args.seed}): {', '.join(order)}; sub-quorum "
        f"{bench.cfg['sub_quorum_size']} from the other org's {len(bench.pool_of(SUBMITTERS[0]))} verifiers; "
        f"k {bench.cfg['k']}, audit fraction {bench.cfg['audit_fraction']}")
    rows: list[dict] = []
    solo = None
    configs: list[tuple[float, Optional[str]]] = []
    if 0 in args.fractions:
        configs.append((0.0, None))  # 0 % is the same network in both modes: run once
    configs += [(f, m) for m in args.modes for f in sorted(args.fractions) if f > 0]
    swap = WorkerSwap(log=say) if any(m for _, m in configs) else None
    out = args.json or work / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save() -> None:  # after every configuration, so a failure later keeps what was measured
        out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "order": order, "solo": solo,
                                   "models": [asdict(s) for s in specs], "configurations": rows}, indent=1))

    failure: Optional[BaseException] = None
    try:
        if args.solo:
            solo = bench.solo(demo_model(), args.solo)
            save()
        for fraction, mode in configs:
            rows.append(bench.configuration(specs, fraction, mode, order, swap))
            save()
    except KeyboardInterrupt as exc:
        failure = exc
        say(f"\ninterrupted ({exc}); restoring the honest workers")
    except Exception as exc:
        failure = exc
        say(f"\n!! {type(exc).__name__}: {exc}\n" + traceback.format_exc() + "restoring the honest workers")
    finally:
        try:
            if swap is not None:
                swap.restore()
                say("honest workers restored: " + ", ".join(f"{i}={worker_mode(i) or 'honest'}" for i in identities))
        finally:
            bench.close()
    if rows:
        print_table(rows, args.modes)
    if solo:
        say(f"\nDemo model alone: median submit→verdict {solo['median_submit_to_verdict']:.1f} s, "
            f"median replay {solo['median_replay_seconds']:.2f} s per interval")
    say(f"\ntotal {time.monotonic() - t_start:.0f} s" + (" (incomplete: see the error above)" if failure else ""))
    save()
    say(f"measurements: {out}")
    if failure is not None:
        raise SystemExit(1)

if __name__ == "__main__":
    main()
