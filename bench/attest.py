"""make bench-attest: outputs attested per second at batch sizes 1, 100 and 10,000, with the
ledger transactions per second alongside, and how long a receipt takes to check.

Scenario: a small honest digits MLP (64 → 32 → 10) trained, submitted and VERIFIED on the
running network; inputs are rows of scikit-learn's digits. An ``Attester`` (the model loaded
once, as a service would) attests ``--rounds`` batches of each size from ``--threads`` client
threads, each batch one AttestOutput transaction. Per batch size it prints outputs/s and
transactions/s over the wall time, and where a batch's time goes (forward pass, hashing and
the Merkle tree, batch-file upload, endorse + commit, fetching the blocks for the receipt).
Then it checks a single-output receipt and one item of the largest batch's receipt offline,
timing each. Everything runs on the same machine in the same sitting (2 cores here, shared by
the network, the workers and this client), so the ratios between rows are what to quote.
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from trainproof.attestation import receipt as receipts
from trainproof.attestation.attest import Attester
from trainproof.profile import Profile
from trainproof.storage import ArtifactStore


def verified_model(contract, store, workdir: Path) -> str:
    from demo.digits import train_digits
    from trainproof.submission import submit_run, wait_for_verdict

    run = workdir / "run"
    train_digits(run, intervals=4, steps_per_interval=10, seed=secrets.randbelow(2 ** 31 - 2) + 1, name="bench-attest")
    model_id = submit_run(run, contract, store).model_id
    state = wait_for_verdict(contract, model_id, timeout=300)
    if state["status"] != "VERIFIED":
        raise SystemExit(f"the benchmark model ended {state['status']}: {state.get('reason')}")
    return model_id


def timed_attest(attester: Attester, inputs: np.ndarray) -> tuple[dict[str, float], dict]:
    """One attestation and the seconds each of its stages took."""
    stages: dict[str, float] = {}
    return stages, attester.attest(inputs, stages=stages).receipt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 10_000])
    parser.add_argument("--rounds", type=int, default=8, help="batches attested per size")
    parser.add_argument("--threads", type=int, default=4, help="client threads attesting concurrently")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    data = (load_digits().data / 16.0).astype(np.float32)
    profile = Profile.load()
    contract = profile.connect("org1-user1").get_network(profile.channel).get_contract(profile.chaincode)
    with ArtifactStore.from_state(role="submitter", org="org1") as store, tempfile.TemporaryDirectory() as tmp:
        print("training, submitting and verifying the benchmark model …", flush=True)
        model_id = verified_model(contract, store, Path(tmp))
        attester = Attester(contract, store, model_id)
        rng = np.random.default_rng(0)
        receipts_by_size = {}
        print(f"\nmodel {model_id}; {args.rounds} batches per size from {args.threads} threads\n")
        print(f"{'batch':>7} {'outputs/s':>10} {'tx/s':>6} {'wall s':>7} | median s per batch: "
              f"{'forward':>8} {'hash+merkle':>11} {'upload':>7} {'commit':>7} {'receipt':>8} | receipt MB")
        for size in args.sizes:
            batches = [data[rng.integers(0, len(data), size)] for _ in range(args.rounds)]
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.threads) as pool:
                results = list(pool.map(lambda b: timed_attest(attester, b), batches))
            wall = time.perf_counter() - start
            med = {k: statistics.median(r[0][k] for r in results) for k in results[0][0]}
            receipts_by_size[size] = results[-1][1]
            mb = len(json.dumps(results[-1][1])) / 1e6
            print(f"{size:>7} {size * args.rounds / wall:>10.1f} {args.rounds / wall:>6.2f} {wall:>7.1f} | "
                  f"{'':>20}{med['forward']:>8.3f} {med['hash+merkle']:>11.3f} {med['upload']:>7.3f} "
                  f"{med['commit']:>7.3f} {med['receipt']:>8.3f} | {mb:.2f}", flush=True)
        print()
        for size, built in receipts_by_size.items():
            one = receipts.extract(built, [0])
            times = []
            for _ in range(5):
                t = time.perf_counter()
                report = receipts.verify(one)
                times.append(time.perf_counter() - t)
            assert report.ok, report.problems
            print(f"receipt check offline (one output of a batch of {size}): median {statistics.median(times) * 1e3:.1f} ms")
        largest = receipts_by_size[max(args.sizes)]
        t = time.perf_counter()
        report = receipts.verify(largest)
        print(f"receipt check offline (all {max(args.sizes)} outputs of one batch): {time.perf_counter() - t:.2f} s, "
              f"ok={report.ok}")


if __name__ == "__main__":
    main()
