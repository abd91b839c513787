"""Swapping the live network's verifier workers between honest and malicious, for benchmarks.

A worker is one Celery process per verifier identity, started by ``network/scripts/lib/
verifiers.sh`` (``start_process worker-<identity> …`` with ``TRAINPROOF_VERIFIER`` set). This
module stops a worker by the PID in its PID file and starts the same command line again, through
the same shell helpers (``start_process``, ``stop_process`` from ``lib/nodes.sh``), with
``TRAINPROOF_EXPERIMENT_ADVERSARY`` set or unset; a malicious worker runs the benchmark's own
app (``celery -A bench.robustness.worker``: the product's task voting through the adversary),
an honest one the product's (``-A trainproof.verifier``). The PID file is rewritten, so ``make
network-status`` keeps working.

    with WorkerSwap() as swap:
        swap.apply({"org1-verifier2": "ordered", "org2-verifier4": "ordered"})
        ...
    # leaving the block (also on an error or Ctrl-C) stops every worker this object started,
    # by its PID, and runs network/scripts/up.sh, which starts the missing honest workers.

A worker's mode is read from the running process's environment (``/proc/<pid>/environ``), so a
swap left half-done by a crash is seen for what it is.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Iterable, Optional

from bench.robustness.adversary import ADVERSARY_ENV, ADVERSARY_MODES

REPO = Path(__file__).resolve().parents[1]
PRODUCT_APP = "trainproof.verifier"
BENCH_APP = "bench.robustness.worker"
SCRIPTS = REPO / "network" / "scripts"
HONEST = None


def _home() -> Path:
    return Path(os.environ.get("TRAINPROOF_HOME", REPO / ".network"))


def process_name(identity: str) -> str:
    return f"worker-{identity}"


def pid_file(identity: str) -> Path:
    return _home() / "pids" / f"{process_name(identity)}.pid"


def log_file(identity: str) -> Path:
    return _home() / "logs" / f"{process_name(identity)}.log"


def _shell(script: str, env: Optional[dict[str, str]] = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``script`` in bash with the network's env.sh and verifiers.sh loaded (definitions only)."""
    prelude = f'source "{SCRIPTS}/env.sh"; source "{SCRIPTS}/lib/verifiers.sh"; '
    full_env = {k: v for k, v in os.environ.items() if k != ADVERSARY_ENV}
    full_env.update(env or {})
    return subprocess.run(["bash", "-c", prelude + script], env=full_env, cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def _cmdline(pid: int) -> list[bytes]:
    """The process's arguments; empty for a moment while it execs (setsid → nohup → python): retry."""
    for _ in range(20):
        args = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        if args:
            return args
        time.sleep(0.05)
    return []


def worker_pid(identity: str) -> Optional[int]:
    """The PID of the running worker of ``identity`` (PID file + live process that is that worker)."""
    try:
        pid = int(pid_file(identity).read_text().strip())
        cmdline = _cmdline(pid)
    except (OSError, ValueError):
        return None
    return pid if f"{identity}@trainproof".encode() in cmdline else None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (whatever it is exec'ing right now)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def worker_mode(identity: str) -> Optional[str]:
    """'ordered' / 'chaotic' / None (honest) for a running worker; raises if it is not running."""
    pid = worker_pid(identity)
    if pid is None:
        raise RuntimeError(f"worker {identity} is not running")
    if BENCH_APP.encode() not in _cmdline(pid):  # the product's worker has no adversary at all
        return HONEST
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(f"{ADVERSARY_ENV}=".encode()):
            return entry.split(b"=", 1)[1].decode().strip().lower() or None
    return HONEST


class WorkerSwap:
    """Sets each verifier worker honest or malicious; restores the honest network on exit."""

    def __init__(self, ready_timeout: float = 180.0, log=print) -> None:
        self.ready_timeout = ready_timeout
        self.log = log
        self.started: dict[str, int] = {}  # identity -> PID of a worker this object started

    # --- one worker ------------------------------------------------------------------------

    def stop(self, identity: str) -> None:
        pid = worker_pid(identity)
        if pid is None:
            return
        result = _shell(f'stop_process "{process_name(identity)}" 20')
        if result.returncode != 0 or worker_pid(identity) is not None:
            raise RuntimeError(f"could not stop {identity} (pid {pid}): {result.stderr.strip()}")
        self.started.pop(identity, None)

    def start(self, identity: str, mode: Optional[str]) -> int:
        """Start ``identity``'s worker as verifiers.sh does, malicious if ``mode``; wait until ready."""
        if mode is not None and mode not in ADVERSARY_MODES:
            raise ValueError(f"unknown adversary mode {mode!r}")
        if worker_pid(identity) is not None:
            raise RuntimeError(f"worker {identity} is already running")
        log = log_file(identity)
        offset = log.stat().st_size if log.exists() else 0
        env = {"TRAINPROOF_VERIFIER": identity}
        app = PRODUCT_APP
        if mode:
            env.update({ADVERSARY_ENV: mode, "PYTHONPATH": str(REPO)})  # bench/ is imported from the checkout
            app = BENCH_APP
        # The command line of verifiers_start (network/scripts/lib/verifiers.sh), with the app chosen above.
        result = _shell(
            f'cd "$REPO_ROOT" && start_process "{process_name(identity)}" "$VENV/bin/python" "$VENV/bin/celery" '
            f'-A {app} worker --pool=solo --loglevel=info -n "{identity}@trainproof" --without-gossip --without-mingle',
            env)
        if result.returncode != 0:
            raise RuntimeError(f"could not start {identity}: {result.stderr.strip()}")
        pid = int(pid_file(identity).read_text().strip())
        self.started[identity] = pid
        self._wait_ready(identity, pid, offset, mode)
        return pid

    def _wait_ready(self, identity: str, pid: int, offset: int, mode: Optional[str]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        ready = re.compile(rf"{re.escape(identity)}@trainproof ready\.")
        while time.monotonic() < deadline:
            if not alive(pid):
                raise RuntimeError(f"worker {identity} (pid {pid}) exited while starting; see {log_file(identity)}")
            with open(log_file(identity), "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
            if ready.search(text):
                if worker_pid(identity) != pid:
                    raise RuntimeError(f"PID file of {identity} no longer names pid {pid}: someone else restarted it")
                if mode and "MALICIOUS" not in text:  # worker_mode() (the process environment) is what counts
                    self.log(f"  (worker {identity} did not log its adversary mode {mode}; its environment has it)")
                return
            time.sleep(0.5)
        raise TimeoutError(f"worker {identity} (pid {pid}) not ready after {self.ready_timeout:g}s")

    # --- the whole set -----------------------------------------------------------------------

    def apply(self, modes: dict[str, Optional[str]]) -> list[str]:
        """Make each named worker run in the given mode (None = honest); returns the ones restarted."""
        changed = []
        for identity, mode in sorted(modes.items()):
            running = worker_pid(identity) is not None
            if running and worker_mode(identity) == mode:
                continue
            if running:
                self.stop(identity)
            try:
                pid = self.start(identity, mode)
            except (RuntimeError, TimeoutError) as exc:  # one more try, after stopping what is left of it
                self.log(f"  !! {exc}; starting {identity} again")
                self.stop(identity)
                pid = self.start(identity, mode)
            self.log(f"  worker {identity}: {mode or 'honest'} (pid {pid})")
            changed.append(identity)
        return changed

    def restore(self) -> None:
        """Stop the workers this object started (by PID), then network/scripts/up.sh restarts honest ones."""
        for identity in sorted(self.started):
            try:
                self.stop(identity)
            except Exception as exc:  # keep going: the others must be stopped too
                self.log(f"  !! stopping {identity}: {exc}")
        self.log("  restoring honest workers: network/scripts/up.sh")
        result = subprocess.run([str(SCRIPTS / "up.sh")], cwd=REPO, text=True, capture_output=True, timeout=900,
                                env={k: v for k, v in os.environ.items() if k != ADVERSARY_ENV})
        if result.returncode != 0:
            raise RuntimeError(f"network/scripts/up.sh failed:\n{result.stderr[-2000:]}")

    def malicious(self, identities: Iterable[str]) -> dict[str, str]:
        """The running workers among ``identities`` that are malicious, with their mode."""
        found = {}
        for identity in identities:
            mode = worker_mode(identity) if worker_pid(identity) is not None else None
            if mode:
                found[identity] = mode
        return found

    def __enter__(self) -> WorkerSwap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def verifier_identities() -> list[str]:
    from trainproof.profile import Profile

    return sorted(n for n, f in Profile.load().identities.items() if f.role == "verifier")


def make_all_honest(log=print) -> list[str]:
    """Repair after a crash: stop every malicious worker (by its PID file), then up.sh; returns them."""
    swap = WorkerSwap(log=log)
    bad = swap.malicious(verifier_identities())
    for identity, mode in sorted(bad.items()):
        log(f"  stopping malicious ({mode}) worker {identity} (pid {worker_pid(identity)})")
        swap.stop(identity)
    swap.restore()
    return sorted(bad)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench.workers", description="Verifier workers' modes; repair.")
    ap.add_argument("--restore", action="store_true", help="stop every malicious worker and restart honest ones")
    args = ap.parse_args()
    if args.restore:
        make_all_honest()
    for identity in verifier_identities():
        pid = worker_pid(identity)
        print(f"{identity:<16} {'down' if pid is None else pid:>8}  {(worker_mode(identity) or 'honest') if pid else ''}")


if __name__ == "__main__":
    main()
