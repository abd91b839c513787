"""make bench-scale: what one model costs the system as it grows from 1e5 to 1e8 parameters.

Scenario: digits MLPs 64 → h → h → 10 with h chosen for about 1e5, 1e6, 1e7 (and, with
``--sizes``, 1e8) parameters; SGD with momentum (so each snapshot holds the weights and the
momentum buffer: about 8 bytes per parameter); ``--intervals`` intervals of ``--steps`` steps,
batch 32. Each model is trained here, submitted to the running network (upload + SubmitModel:
"submit s") and verified by the network's own workers ("verdict s", submit to verdict). Then
one verifier task of a selected interval is run again in a fresh child process with an empty
artifact cache, exactly as a worker runs it (``verification.verify_interval`` against the live
MinIO), to measure what one task costs on its own:

* download: the bytes the task fetched into its (empty) cache, and that in snapshots of this model;
* peak RSS: the child's high-water mark, and above its baseline after the imports (torch alone
  is a few hundred MB, which says nothing about the model), as a multiple of one snapshot;
* replay s: the interval's replay.

The last columns divide each figure by the smallest model's, beside the parameter ratio: cost
that grows linearly with model size shows the same ratio as the parameters. Everything runs on
the same machine in one sitting (2 cores here, shared with the network and its workers).

Disk: a model of P parameters writes about 8·P·(intervals + 1) bytes to the run directory and
again to MinIO (1e8 parameters with 20 intervals: ≈ 17 GB each), and each worker's cache keeps
at most ``TRAINPROOF_CACHE_MAX_GB`` besides its running task's files. Memory: a task holds its
interval's two snapshots at once (1.6 GB at 1e8), so for 1e8 on a small machine start the network
with fewer workers and small caches:

    TRAINPROOF_HOME=/tmp/scale TRAINPROOF_VERIFIERS_PER_ORG=2 TRAINPROOF_CACHE_MAX_GB=2 make network-up
    TRAINPROOF_HOME=/tmp/scale python -m bench.scale --sizes 1e5 1e6 1e7 1e8

    python -m bench.scale [--sizes 1e5 1e6 1e7] [--intervals 20] [--steps 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import secrets
import subprocess
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path
from typing import Any

MB = 1e6


def hidden_width(parameters: float) -> int:
    """The largest h whose MLP 64 → h → h → 10 has at most ``parameters`` parameters."""
    # 64h + h + h² + h + 10h + 10 = h² + 76h + 10
    h = int((-76 + math.sqrt(76 ** 2 - 4 * (10 - parameters))) / 2)
    return max(1, h)


def _memory(field: str) -> int:
    """A figure of /proc/self/status in bytes (``VmRSS`` now, ``VmHWM`` the peak). Not ru_maxrss: the
    kernel carries the spawning process's high-water mark into it across exec (posix_spawn and vfork
    run the child in the parent's memory until then), so the child of a parent that had trained a
    1e8-parameter model reported that model's peak as its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}: bench-scale measures memory on Linux only")


def measure_task(model_id: str, interval: int, org: str) -> dict[str, Any]:
    """Run in the child: one verifier task of ``interval`` with an empty cache; its costs as a dict."""
    import_module("torch")  # what a worker has loaded before any task: part of the baseline
    from trainproof.contract import TrainproofContract
    from trainproof.profile import Profile
    from trainproof.storage import ArtifactStore
    from trainproof.verifier.artifacts import ArtifactCache
    from trainproof.verifier.verification import verify_interval

    profile = Profile.load()
    gateway = profile.connect("org1-user1")
    ledger = TrainproofContract(gateway.get_network(profile.channel).get_contract(profile.chaincode))
    certificate = ledger.get_model(model_id)["certificate"]
    limits = ledger.get_assignment(model_id).get("config") or {}
    assert not certificate.get("parent_id"), "bench-scale trains its models from scratch"
    baseline = _memory("VmHWM")  # the peak so far: the imports, the gateway, the certificate
    with ArtifactStore.from_state(role="verifier", org=org) as store, tempfile.TemporaryDirectory() as tmp:
        cache = ArtifactCache(store, Path(tmp) / "artifacts")
        started = time.perf_counter()
        finding = verify_interval(certificate, interval, store, cache, limits=limits)
        task_seconds = time.perf_counter() - started
        downloaded = cache.downloaded  # the cache started empty: every artifact the task used
    peak = _memory("VmHWM")
    return {"verdict": finding.verdict, "reason": finding.reason, "downloaded": downloaded,
            "baseline_rss": baseline, "peak_rss": peak, "replay_s": finding.replay_seconds, "task_s": task_seconds}


def child_task(model_id: str, interval: int, org: str) -> dict[str, Any]:
    """``measure_task`` in a fresh interpreter, so its peak RSS is this task's alone."""
    done = subprocess.run([sys.executable, "-m", "bench.scale", "--task", model_id, str(interval), org],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measured task failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_size(parameters: float, args: argparse.Namespace, contract, store, workdir: Path) -> dict[str, Any]:
    from demo.digits import train_digits
    from trainproof.contract import TrainproofContract
    from trainproof.submission import submit_run, wait_for_verdict
    from trainproof.verifier.verification import parameter_count

    h = hidden_width(parameters)
    run_dir = workdir / f"mlp-{h}"
    started = time.perf_counter()
    train_digits(run_dir, hidden=[h, h], intervals=args.intervals, steps_per_interval=args.steps, dropout=0.0,
                 seed=secrets.randbelow(2 ** 31 - 2) + 1, name=f"bench-scale-{h}")
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    submitted = submit_run(run_dir, contract, store)
    submit_s = time.perf_counter() - started
    state = wait_for_verdict(contract, submitted.model_id, timeout=args.timeout)
    verdict_s = time.perf_counter() - started - submit_s
    cert = submitted.certificate
    ledger = TrainproofContract(contract)
    selected = [int(i["interval"]) for i in ledger.get_assignment(submitted.model_id)["intervals"] if i["kind"] == "replay"]
    task = child_task(submitted.model_id, selected[0], "org2")
    snapshot = max(s["size"] for s in cert["snapshots"])
    live = [v["evidence"].get("downloaded") for v in ledger.get_votes(submitted.model_id)]
    return {"parameters": parameter_count(cert["recipe"]["architecture"]), "hidden": h, "snapshot_bytes": snapshot,
            "dataset_bytes": cert["dataset"]["size"], "intervals": args.intervals, "train_s": train_s,
            "submit_s": submit_s, "verdict": state["status"], "verdict_s": verdict_s, "selected": selected,
            "task_interval": selected[0], **{f"task_{k}": v for k, v in task.items()},
            "task_download_snapshots": (task["downloaded"] - cert["dataset"]["size"]) / snapshot,
            "rss_over_baseline_snapshots": (task["peak_rss"] - task["baseline_rss"]) / snapshot,
            "live_downloaded": [d for d in live if d is not None]}


def report(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'params':>11} {'snap MB':>8} {'train s':>8} {'submit s':>9} {'verdict':>9} {'verdict s':>9} | one task: "
          f"{'dl MB':>8} {'dl snaps':>8} {'RSS MB':>7} {'ΔRSS/snap':>9} {'replay s':>8} | ×params {'×submit':>7} "
          f"{'×dl':>6} {'×replay':>7}")
    first = rows[0]
    for r in rows:
        print(f"{r['parameters']:>11,} {r['snapshot_bytes'] / MB:>8.1f} {r['train_s']:>8.1f} {r['submit_s']:>9.1f} "
              f"{r['verdict']:>9} {r['verdict_s']:>9.1f} | {'':>10}{r['task_downloaded'] / MB:>8.1f} "
              f"{r['task_download_snapshots']:>8.1f} {r['task_peak_rss'] / MB:>7.0f} "
              f"{r['rss_over_baseline_snapshots']:>9.2f} {r['task_replay_s']:>8.2f} | "
              f"{r['parameters'] / first['parameters']:>7.0f} {r['submit_s'] / first['submit_s']:>7.1f} "
              f"{r['task_downloaded'] / first['task_downloaded']:>6.1f} "
              f"{r['task_replay_s'] / max(first['task_replay_s'], 1e-9):>7.1f}")
    print("\ndl snaps: the task's download less the dataset, in snapshots of the model (issue #14's goal: 2, the "
          "interval's own). ΔRSS/snap: the task's peak RSS above the child's baseline after its imports, in snapshots.")
    for r in rows:
        if r["live_downloaded"]:
            print(f"live votes of the {r['parameters']:,}-parameter model: the workers' tasks downloaded "
                  f"{min(r['live_downloaded']) / MB:.1f}–{max(r['live_downloaded']) / MB:.1f} MB each "
                  f"({len(r['live_downloaded'])} votes; a worker that already held a file fetched less)")
    for r in rows:
        if r["task_verdict"] != "ACCEPT" or r["verdict"] != "VERIFIED":
            print(f"! {r['parameters']:,} parameters: the network said {r['verdict']}, the measured task "
                  f"{r['task_verdict']} ({r['task_reason']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 1e7], help="parameters per model")
    parser.add_argument("--intervals", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per interval")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each verdict")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON as well")
    parser.add_argument("--task", nargs=3, metavar=("MODEL_ID", "INTERVAL", "ORG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        print(json.dumps(measure_task(args.task[0], int(args.task[1]), args.task[2])))
        return
    from trainproof.profile import Profile
    from trainproof.storage import ArtifactStore

    profile = Profile.load()
    contract = profile.connect("org1-user1").get_network(profile.channel).get_contract(profile.chaincode)
    rows = []
    with ArtifactStore.from_state(role="submitter", org="org1") as store, tempfile.TemporaryDirectory() as tmp:
        for size in sorted(args.sizes):
            print(f"≈{size:.0e} parameters: training, submitting, verifying, one task measured …", flush=True)
            rows.append(one_size(size, args, contract, store, Path(tmp)))
            row = rows[-1]
            print(f"  {row['parameters']:,} parameters: {row['verdict']} in {row['verdict_s']:.1f} s; one task "
                  f"downloaded {row['task_downloaded'] / MB:.1f} MB", flush=True)
    report(rows)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
