"""make bench-ledger: submit latency and throughput on live networks, Raft and BFT side by side,
with the CPU each process spent.

Each level submits ``--count`` PutValue transactions (the peer Gateway endorses on both orgs,
orders and reports the commit) from ``concurrency`` threads of one client process. Each
ordering type gets a ledger-only network of its own (orderers, peers, chaincode servers; no
workers or dispatcher competing for the CPU): $TRAINPROOF_HOME-bench-raft at ports +2000 and
$TRAINPROOF_HOME-bench-bft at +3000, started for the run if not running and stopped afterwards
(their ledgers are kept). Both run on the same machine in the same sitting, so their ratio is
what to quote.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trainproof.profile import REPO_ROOT, Profile, network_home

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCRIPTS = REPO_ROOT / "network" / "scripts"


@dataclass
class Level:
    concurrency: int
    count: int
    p50_ms: float
    p95_ms: float
    tx_per_s: float
    cpu: dict[str, float]
    wall_s: float


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


def measure(home: Path, levels: list[int], count: int) -> list[Level]:
    profile = Profile.load(home)
    gateway = profile.connect("org1-user1")
    contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
    for _ in range(20):
        contract.submit("PutValue", ["bench-warmup", "x"])
    procs = processes(home)
    results = []
    for level in levels:
        before = {n: cpu_seconds(p) for n, p in procs.items()}
        latencies, elapsed = run_level(contract, level, count)
        cpu = {n: cpu_seconds(p) - before[n] for n, p in procs.items() if Path(f"/proc/{p}").exists()}
        q = statistics.quantiles(latencies, n=100)
        results.append(Level(level, len(latencies), q[49] * 1000, q[94] * 1000, len(latencies) / elapsed, cpu, elapsed))
    gateway.close()
    return results


def print_levels(title: str, levels: list[Level]) -> None:
    print(f"\n{title}")
    print(f"{'concurrency':>11} {'tx':>5} {'p50 ms':>8} {'p95 ms':>8} {'tx/s':>8}   CPU seconds per process")
    for r in levels:
        busiest = ", ".join(f"{n} {s:.1f}" for n, s in sorted(r.cpu.items(), key=lambda kv: -kv[1]) if s >= 0.05)
        print(f"{r.concurrency:>11} {r.count:>5} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.tx_per_s:>8.1f}   {busiest}")
        total = sum(r.cpu.values())
        print(f"{'':>46}total CPU {total:.1f}s over {r.wall_s:.1f}s wall ({total / r.wall_s:.2f} cores of "
              f"{os.cpu_count()}; {1000 * total / r.count:.1f} ms CPU per tx)")


PORT_OFFSET = {"raft": 2000, "bft": 3000}


def ledger_network(consensus: str) -> tuple[dict[str, str], bool]:
    """The environment of this benchmark's ledger-only network for ``consensus``, started if it
    is not running, and whether this run started it."""
    env = {**os.environ, "TRAINPROOF_HOME": f"{network_home()}-bench-{consensus}", "TRAINPROOF_CONSENSUS": consensus,
           "TRAINPROOF_PORT_OFFSET": str(PORT_OFFSET[consensus]), "TRAINPROOF_LEDGER_ONLY": "1",
           "TRAINPROOF_TEST_PLUMBING": "1"}
    running = subprocess.run([str(SCRIPTS / "status.sh")], env=env, capture_output=True, timeout=120).returncode == 0
    if not running:
        print(f"starting a ledger-only {consensus} network in {env['TRAINPROOF_HOME']} ...", flush=True)
        subprocess.run([str(SCRIPTS / "up.sh")], env=env, check=True, timeout=900, stdout=subprocess.DEVNULL)
    return env, not running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="transactions per concurrency level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--consensus", nargs="+", choices=["raft", "bft"], default=["raft", "bft"])
    args = parser.parse_args()

    measured: dict[str, list[Level]] = {}
    titles = {"raft": "Raft, 3 orderers", "bft": "BFT, 4 SmartBFT orderers"}
    for consensus in args.consensus:
        env, started = ledger_network(consensus)
        try:
            measured[consensus] = measure(Path(env["TRAINPROOF_HOME"]), args.levels, args.count)
        finally:
            if started:
                subprocess.run([str(SCRIPTS / "down.sh")], env=env, check=False, timeout=300, stdout=subprocess.DEVNULL)
        print_levels(f"{titles[consensus]} (Fabric 3.1.5, ledger-only network in {env['TRAINPROOF_HOME']})",
                     measured[consensus])
    if len(measured) == 2:
        print("\nBFT / Raft, same machine, same run")
        print(f"{'concurrency':>11} {'tx/s ratio':>11} {'p50 ratio':>10} {'p95 ratio':>10}")
        for raft, bft in zip(measured["raft"], measured["bft"]):
            print(f"{raft.concurrency:>11} {bft.tx_per_s / raft.tx_per_s:>11.2f} {bft.p50_ms / raft.p50_ms:>10.2f} "
                  f"{bft.p95_ms / raft.p95_ms:>10.2f}")


if __name__ == "__main__":
    main()
