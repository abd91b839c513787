"""Throughput of weight analysis and snapshot hashing against this machine's read bandwidth.

    python -m bench.analysis [--max-params 5e8] [--repeats 3]

For each size (1e6 … 5e8 float32 parameters, split into layers of at most 2**24) two
snapshot-like safetensors files are written, then, in this process and on the same
memory-mapped arrays:

* read bandwidth: ``a.sum() + b.sum()`` (the faster of numpy and torch: the stronger
  baseline),
* scoring: ``metrics.score_pair`` (all four metrics, overall and per layer),
* SHA-256: one file on one core, and both files in parallel.

GB/s counts the bytes of both files. Best of ``--repeats`` after one warm-up pass, so
the files are in the page cache and each figure measures compute, not the disk.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from trainproof.ml.metrics import score_pair
from trainproof.ml.snapshot import open_arrays, sha256_file, sha256_files

LAYER = 1 << 24
SIZES = (1e6, 1e7, 1e8, 5e8)


def make_pair(directory: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """Two files of ``n`` float32 weights: ``b`` is ``a`` plus a small update."""
    g = torch.Generator().manual_seed(seed)
    a, b = {}, {}
    for i, lo in enumerate(range(0, n, LAYER)):
        w = torch.randn(min(LAYER, n - lo), generator=g)
        a[f"layer{i}.weight"] = w
        b[f"layer{i}.weight"] = w + 1e-3 * torch.randn(w.shape, generator=g)
    pa, pb = directory / f"a{n}.safetensors", directory / f"b{n}.safetensors"
    save_file(a, pa)
    save_file(b, pb)
    return pa, pb


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: page cache, mappings, JIT
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def read_sum(arrays: list[np.ndarray]) -> Callable[[], float]:
    def numpy_sum() -> float:
        return float(sum(x.sum(dtype=np.float32) for x in arrays))

    tensors = [torch.from_numpy(x) for x in arrays]

    def torch_sum() -> float:
        return float(sum(t.sum() for t in tensors))

    return numpy_sum, torch_sum


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-params", type=float, default=5e8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="scratch directory (default: a temporary one)")
    args = ap.parse_args()
    import warnings

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    cores = os.cpu_count() or 1
    print(f"{cores} cores, torch threads {torch.get_num_threads()}; GB/s over both files of a pair\n")
    print(f"{'params':>8} {'MB/file':>8} {'read GB/s':>10} {'score GB/s':>11} {'ratio':>6} {'score s':>8} "
          f"{'sha 1 core':>11} {'sha {0} files'.format(2):>12}")
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="tp-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        for n in (int(s) for s in SIZES if s <= args.max_params):
            pa, pb = make_pair(scratch, n)
            nbytes = pa.stat().st_size + pb.stat().st_size
            arrays = [*open_arrays(pa).values(), *open_arrays(pb).values()]
            read = min(best_time(f, args.repeats) for f in read_sum(arrays))
            score = best_time(lambda: score_pair(pa, pb), args.repeats)
            sha1 = best_time(lambda: sha256_file(pa), 1)
            sha2 = best_time(lambda: sha256_files([pa, pb], workers=2), 1)
            print(f"{n:8.0e} {nbytes / 2e6:8.0f} {nbytes / read / 1e9:10.1f} {nbytes / score / 1e9:11.1f} "
                  f"{read / score:6.0%} {score:8.3f} {nbytes / 2 / sha1 / 1e9:9.2f} GB/s {nbytes / sha2 / 1e9:7.2f} GB/s")
            del arrays
            pa.unlink()
            pb.unlink()
    finally:
        if args.dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\ntarget: score >= 50 % of read bandwidth, linear in size; SHA-256 >= 1.4 GB/s per core")


if __name__ == "__main__":
    main()
