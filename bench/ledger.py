"""make bench-ledger: submit latency and throughput on the live network, with CPU per process.

Each level submits ``--count`` PutValue transactions (endorse on both orgs, order, wait for
commit) from ``concurrency`` threads of one client process.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trainproof.profile import Profile

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def processes(home: Path) -> dict[str, int]:
    pids = {p.stem: int(p.read_text()) for p in (home / "pids").glob("*.pid")}
    pids["bench-client"] = os.getpid()
    return {name: pid for name, pid in pids.items() if Path(f"/proc/{pid}").exists()}


def run_level(contract, concurrency: int, count: int) -> tuple[list[float], float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        contract.submit("PutValue", [f"bench-{uuid.uuid4()}", "x" * 64])
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, range(count)))
    return latencies, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="transactions per concurrency level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()

    profile = Profile.load()
    gateway = profile.connect("org1-user1")
    contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
    contract.submit("PutValue", ["bench-warmup", "x"])
    procs = processes(profile.home)

    print(f"{'concurrency':>11} {'tx':>5} {'p50 ms':>8} {'p95 ms':>8} {'tx/s':>8}   CPU seconds per process")
    for level in args.levels:
        before = {n: cpu_seconds(p) for n, p in procs.items()}
        latencies, elapsed = run_level(contract, level, args.count)
        cpu = {n: cpu_seconds(p) - before[n] for n, p in procs.items() if Path(f"/proc/{p}").exists()}
        q = statistics.quantiles(latencies, n=100)
        busiest = ", ".join(f"{n} {s:.1f}" for n, s in sorted(cpu.items(), key=lambda kv: -kv[1]))
        print(f"{level:>11} {len(latencies):>5} {q[49] * 1000:>8.1f} {q[94] * 1000:>8.1f} "
              f"{len(latencies) / elapsed:>8.1f}   {busiest}")
        print(f"{'':>46}total CPU {sum(cpu.values()):.1f}s over {elapsed:.1f}s wall "
              f"({sum(cpu.values()) / elapsed:.2f} cores of {os.cpu_count()})")
    gateway.close()


if __name__ == "__main__":
    main()
