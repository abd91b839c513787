"""make bench-robustness: Navarro et al.'s robustness experiment (Fig. 3) on the live network.

    python -m bench.robustness [--models 20] [--fractions 0 10 20 30 40 50] [--modes ordered chaotic]
                               [--intervals 20] [--steps 10] [--poison-fraction 0.25] [--seed 0]
                               [--solo 3] [--timeout 900]

Twenty recorded runs of the demo's digits MLP (20 intervals × 10 steps), trained once with fixed
seeds and reused: 10 clean, 5 poisoned (a quarter of every batch carries the backdoor trigger)
in 1–3 random intervals, 5 in 2–4 consecutive intervals. For every configuration (share p of the
10 verifier identities malicious; ordered = approves everything, chaotic = inverts its honest
verdict) the bench

1. restarts exactly round(p·10) verifier workers with TRAINPROOF_EXPERIMENT_ADVERSARY set (the others
   honest), chosen once at random (seeded) in an order that alternates the orgs, so every set is
   spread evenly over both orgs and a larger share contains the smaller ones;
2. submits all models at once (a new model id each; artifacts already in MinIO are not sent
   again), half as org1-user1 and half as org2-user1 — sub-quorums come from the other org while
   it has enough verifiers, so this way every verifier is exposed to half of the models;
3. waits for every verdict and counts a model judged correctly when clean → VERIFIED,
   poisoned → REJECTED.

Beside the measured share it prints the *expected* share: exact, from the contract's own selection
rules over every possible audit sample and a hypergeometric sub-quorum draw, given which workers
are malicious — 20 models are a small sample, this says where it should land. It also reports how
many poisoned models had a poisoned interval among the selected ones (an unselected one cannot be
caught by anyone, honest or not: that caps the accuracy independently of malice), whether each
verdict is the one the assignment and the malicious set predict, and per configuration the median
submit-to-verdict time beside the median replay time the workers report (Celery task results);
first, the demo model itself (make demo's honest run, 10 × 10) alone on the idle honest network.

When it ends — also on an error or Ctrl-C/SIGTERM — it stops the workers it started, by PID, and
runs network/scripts/up.sh, which restarts the honest ones. After a hard kill: python -m bench.workers --restore.
"""
from __future__ import annotations

import argparse
import ast
import itertools
import json
import math
import random
import re
import signal
import statistics
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from bench.workers import WorkerSwap, log_file, verifier_identities, worker_mode, worker_pid
from trainproof.ml.certificate import SCORE_KEYS

SUBMITTERS = ("org1-user1", "org2-user1")
FINAL = ("VERIFIED", "REJECTED", "INCONCLUSIVE")
KINDS = ("clean", "random", "consecutive")
# Fig. 3 of Navarro et al. gives no table; the text states: "the network can validate models with 85%
# accuracy with the network containing up to 20% percent of malicious nodes", "more susceptible to
# chaotic maliciousness", and "maintains 80% accuracy even up to a 50% makeup of malicious nodes".
PAPER = {0: "≈85+", 10: "≈85+", 20: "≈85", 30: "–", 40: "–", 50: "≈80 (best mode)"}


def say(*args: Any) -> None:
    print(*args, flush=True)


# --- the model set --------------------------------------------------------------------------

@dataclass
class ModelSpec:
    index: int
    kind: str                       # clean | random | consecutive
    poisoned: list[int]
    seed: int
    submitter: str = ""
    run_dir: str = ""
    scores: list[float] = field(default_factory=list)   # claimed Absolute Change per interval
    shifts: list[float] = field(default_factory=list)   # claimed input shift per interval
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
    from trainproof.ml.demo_training import train_digits

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
                import shutil
                shutil.rmtree(run_dir)
            train_digits(run_dir, intervals=intervals, steps_per_interval=steps, poison_intervals=spec.poisoned,
                         poison_fraction=poison_fraction, seed=spec.seed, name=f"robustness-{spec.label}")
            recipe_file.write_text(json.dumps(recipe))
            say(f"  trained {spec.label:<16} poisoned {spec.poisoned or '-'} ({time.monotonic() - t0:.1f} s)")
        run = json.loads(run_file.read_text())
        spec.run_dir = str(run_dir)
        spec.scores = [float(s["absolute"]) for s in run["scores"]]
        spec.shifts = [float(s["input_shift"]) for s in run["scores"]]
        spec.accuracy = run.get("metrics", {}).get("accuracy")
        spec.attack_success_rate = run.get("metrics", {}).get("attack_success_rate")
    return time.monotonic() - started


def demo_model(work: Path) -> ModelSpec:
    """The honest model of ``make demo`` (demo/training.py: digits MLP, 10 intervals × 10 steps, seed 0)."""
    from demo import training

    spec = ModelSpec(0, "clean", [], 0, submitter=SUBMITTERS[0], name="demo-honest")
    work.mkdir(parents=True, exist_ok=True)
    train_models([spec], work, training.INTERVALS, training.STEPS_PER_INTERVAL, 0.0)
    return spec


# --- who is malicious ------------------------------------------------------------------------

def org_of(identity: str) -> str:
    return identity.split("-")[0]


def malicious_order(identities: list[str], seed: int) -> list[str]:
    """A seeded random order that alternates the orgs: every prefix is spread evenly over them."""
    rng = random.Random(f"bench.robustness/malicious/{seed}")
    orgs = sorted({org_of(i) for i in identities})
    rng.shuffle(orgs)
    queues = {org: rng.sample(sorted(i for i in identities if org_of(i) == org),
                              sum(org_of(i) == org for i in identities)) for org in orgs}
    order = []
    while any(queues.values()):
        for org in orgs:
            if queues[org]:
                order.append(queues[org].pop(0))
    return order


def malicious_set(order: list[str], fraction: float) -> list[str]:
    return sorted(order[:round(fraction * len(order))])


# --- expectation -------------------------------------------------------------------------------

def p_malicious_majority(pool: int, bad: int, size: int) -> float:
    """Hypergeometric: P(at least a majority of a ``size`` sub-quorum drawn from ``pool`` is malicious)."""
    need = size // 2 + 1
    total = math.comb(pool, size)
    return sum(math.comb(bad, j) * math.comb(pool - bad, size - j) for j in range(need, size + 1)) / total


def selections(scores: list[float], shifts: list[float], cfg: dict) -> tuple[set[int], list[int], int]:
    """The contract's deterministic picks (zero change, detrended and input-shift outliers), the rest, the audit size."""
    from chaincode.contract import selection

    hits = selection.zero_changes(scores) + selection.detrended_outliers(scores, cfg["k"])
    fixed = {h["interval"] for h in hits + selection.input_shift_outliers(shifts, cfg["shift_k"])}
    rest = [i for i in range(len(scores)) if i not in fixed]
    return fixed, rest, min(len(rest), selection.audit_size(len(scores), cfg["audit_fraction"]))


def expected_correct(spec: ModelSpec, cfg: dict, pool: int, bad: int, mode: Optional[str]) -> tuple[float, float]:
    """(P(judged correctly), P(a poisoned interval is selected)) over all audit samples and sub-quorums."""
    fixed, rest, k = selections(spec.scores, spec.shifts, cfg)
    q = p_malicious_majority(pool, bad, cfg["sub_quorum_size"]) if mode else 0.0
    poisoned = set(spec.poisoned)
    total = hit = correct = 0.0
    combos = itertools.combinations(rest, k) if math.comb(len(rest), k) <= 50000 else None
    samples = combos or (random.Random(0).sample(rest, k) for _ in range(20000))
    for audit in samples:
        chosen = fixed | set(audit)
        p_verified = 1.0
        for i in chosen:
            honest_reject = i in poisoned
            if mode == "chaotic":
                p_verified *= q if honest_reject else 1 - q
            elif honest_reject:  # ordered (or honest: q = 0) covers a bad interval only with a majority
                p_verified *= q
        total += 1
        hit += bool(chosen & poisoned)
        correct += (1 - p_verified) if poisoned else p_verified
    return correct / total, hit / total


# --- one configuration ------------------------------------------------------------------------

class VerdictListener:
    """Records when each ModelVerdict event reaches this client (no polling load on the peers)."""

    def __init__(self, network, chaincode: str) -> None:
        self.times: dict[str, float] = {}
        self._stream = network.chaincode_events(chaincode)
        self._thread = threading.Thread(target=self._run, daemon=True, name="verdict-events")
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._stream:
                if event.event_name == "ModelVerdict":
                    mid = json.loads(event.payload).get("model_id", "")
                    self.times.setdefault(mid, time.time())
        except Exception as exc:  # the poll below still finds every verdict
            say(f"  (event stream ended: {type(exc).__name__}: {exc})")

    def close(self) -> None:
        self._stream.close()


def queues_idle(fingerprints: list[str]) -> bool:
    """No verification task waiting or running (Celery on Redis: the queue lists and 'unacked')."""
    import redis

    from verifier.settings import broker_url, queue_for

    r = redis.Redis.from_url(broker_url())
    try:
        return r.hlen("unacked") == 0 and all(r.llen(queue_for(fp)) == 0 for fp in fingerprints)
    finally:
        r.close()


def wait_idle(fingerprints: list[str], timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        quiet = quiet + 1 if queues_idle(fingerprints) else 0
        if quiet >= 3:
            return True
        time.sleep(1)
    return False


def task_results(task_ids: list[str]) -> dict[str, dict]:
    """Celery results (the workers' return values) from the Redis result backend."""
    import redis

    from verifier.settings import broker_url

    r = redis.Redis.from_url(broker_url())
    try:
        raw = r.mget([f"celery-task-meta-{t}" for t in task_ids]) if task_ids else []
    finally:
        r.close()
    out = {}
    for tid, value in zip(task_ids, raw):
        if value:
            meta = json.loads(value)
            if meta.get("status") == "SUCCESS" and isinstance(meta.get("result"), dict):
                out[tid] = meta["result"]
    return out


TASK_LINE = re.compile(r"Task verifier\.verify_interval\[([^\]]+)\] succeeded in ([0-9.eE+-]+)s: (\{.*\})\s*$")


def task_seconds(identities: list[str], offsets: dict[str, int]) -> dict[str, tuple[float, dict]]:
    """task id → (whole task seconds, result) from the workers' logs since ``offsets``."""
    found = {}
    for identity in identities:
        path = log_file(identity)
        if not path.exists():
            continue
        with open(path, "rb") as f:
            f.seek(offsets.get(identity, 0))
            for line in f.read().decode("utf-8", "replace").splitlines():
                m = TASK_LINE.search(line)
                if m:
                    try:
                        found[m.group(1)] = (float(m.group(2)), ast.literal_eval(m.group(3)))
                    except (ValueError, SyntaxError):
                        pass
    return found


def majority(votes: list[str], size: int) -> Optional[str]:
    need = size // 2 + 1
    for verdict in ("ACCEPT", "REJECT"):
        if votes.count(verdict) >= need:
            return verdict
    return None


def predicted_status(spec: ModelSpec, assignment: dict, names: dict[str, str], bad: dict[str, str]) -> str:
    """The verdict the contract must reach, given the sub-quorums drawn and who is malicious."""
    from verifier.adversary import cast_verdict

    for rec in assignment.get("intervals", []):
        honest = "REJECT" if int(rec["interval"]) in spec.poisoned else "ACCEPT"
        votes = [cast_verdict(honest, bad.get(names.get(fp, ""))) for fp in rec["verifiers"]]
        if majority(votes, len(rec["verifiers"])) != "ACCEPT":
            return "REJECTED"
    return "VERIFIED"


@dataclass
class Outcome:
    spec: ModelSpec
    model_id: str = ""
    status: str = "NOT SUBMITTED"
    error: str = ""
    submitted: float = 0.0            # client clock, before submit_run
    committed: float = 0.0            # SubmitModel committed
    verdict_at: float = 0.0           # ModelVerdict event (or poll) seen by the client
    ledger_seconds: Optional[float] = None   # updated_at - submitted_at (transaction timestamps)
    selected: list[int] = field(default_factory=list)
    rejected_intervals: list[int] = field(default_factory=list)
    predicted: str = ""
    malicious_in_quorums: int = 0

    @property
    def poisoned_selected(self) -> bool:
        return bool(set(self.selected) & set(self.spec.poisoned))

    @property
    def correct(self) -> bool:
        return self.status == ("REJECTED" if self.spec.poisoned else "VERIFIED")

    @property
    def seconds(self) -> Optional[float]:
        return self.verdict_at - self.submitted if self.verdict_at else None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from storage import ArtifactStore
        from trainproof.contract import TrainproofContract
        from trainproof.profile import Profile

        self.args = args
        self.profile = Profile.load()
        self.gateways = {name: self.profile.connect(name) for name in SUBMITTERS}
        self.networks = {name: gw.get_network(self.profile.channel) for name, gw in self.gateways.items()}
        self.contracts = {name: net.get_contract(self.profile.chaincode) for name, net in self.networks.items()}
        self.stores = {name: ArtifactStore.from_state(role="submitter", org=org_of(name)) for name in SUBMITTERS}
        self.reader = TrainproofContract(self.contracts[SUBMITTERS[0]])
        self.cfg = self.reader.get_config()["values"]
        registry = self.reader.list_verifiers(status="ACTIVE")
        self.names = {v["fingerprint"]: v["name"] for v in registry}
        self.identities = verifier_identities()
        missing = sorted(set(self.identities) - set(self.names.values()))
        extra = sorted(set(self.names.values()) - set(self.identities))
        if missing or extra:
            raise SystemExit(f"the ACTIVE verifiers on the ledger must be exactly the profile's, one worker each "
                             f"(not active: {missing or 'none'}; active without a worker: {extra or 'none'})")

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        for gw in self.gateways.values():
            gw.close()

    def pool_of(self, submitter: str) -> list[str]:
        """Identities a sub-quorum for this submitter's models is drawn from (contract's pick())."""
        others = [i for i in self.identities if org_of(i) != org_of(submitter)]
        return others if len(others) >= self.cfg["sub_quorum_size"] else list(self.identities)

    def expectation(self, specs: list[ModelSpec], bad: dict[str, str], mode: Optional[str]) -> tuple[float, float]:
        """Expected number judged correctly, and expected number of poisoned ones with a poisoned interval selected."""
        correct = hit = 0.0
        for spec in specs:
            pool = self.pool_of(spec.submitter)
            c, h = expected_correct(spec, self.cfg, len(pool), sum(i in bad for i in pool), mode)
            correct += c
            hit += h if spec.poisoned else 0.0
        return correct, hit

    def submit_and_wait(self, specs: list[ModelSpec], tag: str) -> list[Outcome]:
        from trainproof.submission import submit_run

        listener = VerdictListener(self.networks[SUBMITTERS[0]], self.profile.chaincode)
        time.sleep(1.0)  # let the event stream attach before the first commit
        outcomes = [Outcome(spec) for spec in specs]

        def submit(out: Outcome) -> None:
            spec = out.spec
            out.submitted = time.time()
            try:
                done = submit_run(spec.run_dir, self.contracts[spec.submitter], self.stores[spec.submitter],
                                  name=f"robustness-{tag}-{spec.label}")
                out.model_id, out.committed, out.status = done.model_id, time.time(), "SUBMITTED"
            except Exception as exc:
                out.error = f"{type(exc).__name__}: {exc}"
                say(f"  !! submitting {spec.label}: {out.error}")

        try:
            with ThreadPoolExecutor(max_workers=len(specs)) as pool:
                list(pool.map(submit, outcomes))
            deadline = time.monotonic() + self.args.timeout
            pending = [o for o in outcomes if o.model_id]
            last_sweep = time.monotonic()
            while pending and time.monotonic() < deadline:
                time.sleep(1.0)
                # The event says when; GetModel confirms. Every 10 s all pending ones are polled too.
                sweep = time.monotonic() - last_sweep >= 10
                if sweep:
                    last_sweep = time.monotonic()
                pending = [o for o in pending if not ((o.model_id in listener.times or sweep) and self._final(o, listener))]
            for out in pending:
                if not self._final(out, listener):
                    out.status = f"no verdict ({out.status})"
        finally:
            listener.close()
        return outcomes

    def _final(self, out: Outcome, listener: VerdictListener) -> bool:
        try:
            state = self.reader.find_model(out.model_id)
        except Exception as exc:  # a node busy for a moment: try again next round
            say(f"  (GetModel {out.model_id}: {type(exc).__name__})")
            return False
        if state is None or state["status"] not in FINAL:
            out.status = state["status"] if state else out.status
            return False
        out.verdict_at = listener.times.get(out.model_id, time.time())
        self._record_state(out, state)
        return True

    @staticmethod
    def _record_state(out: Outcome, state: dict) -> None:
        out.status = state["status"]
        out.selected = [int(i) for i in state.get("selected") or []]
        out.rejected_intervals = [int(i) for i in state.get("rejected_intervals") or []]
        out.ledger_seconds = float(state["updated_at"]) - float(state["submitted_at"])

    def configuration(self, specs: list[ModelSpec], fraction: float, mode: Optional[str], order: list[str],
                      swap: Optional[WorkerSwap]) -> dict[str, Any]:
        bad_ids = malicious_set(order, fraction) if mode else []
        bad = {i: mode for i in bad_ids}
        label = f"{round(fraction * 100)}% {mode or 'honest'}"
        say(f"\n== {label}: malicious {', '.join(bad_ids) or 'none'}")
        fingerprints = list(self.names)
        if not wait_idle(fingerprints):
            say("  !! verification queues still busy after 300 s; going on")
        if swap is not None:
            swap.apply({i: bad.get(i) for i in self.identities})
        actual = {i: worker_mode(i) for i in self.identities}
        if {i: m for i, m in actual.items() if m} != bad:
            raise RuntimeError(f"workers are not as configured: {actual}")
        offsets = {i: log_file(i).stat().st_size if log_file(i).exists() else 0 for i in self.identities}
        expected, expected_hit = self.expectation(specs, bad, mode)

        started = time.monotonic()
        outcomes = self.submit_and_wait(specs, f"{round(fraction * 100)}{(mode or 'honest')[0]}")
        wall = time.monotonic() - started
        wait_idle(fingerprints, timeout=120)  # leftover tasks (third votes, closed models) finish first

        replays, tasks = [], []
        logged = task_seconds(self.identities, offsets)
        for out in outcomes:
            if not out.model_id:
                continue
            assignment = self.reader.get_assignment(out.model_id)
            out.predicted = predicted_status(out.spec, assignment, self.names, bad)
            ids = []
            for rec in assignment.get("intervals", []):
                out.malicious_in_quorums += sum(self.names.get(fp) in bad for fp in rec["verifiers"])
                rounds = [(rec.get("round", 0), rec["verifiers"])] + [(r["round"], r["verifiers"]) for r in rec.get("previous_rounds", [])]
                for rnd, members in rounds:
                    ids += [f"{out.model_id}:{rec['interval']}:{fp[:16]}:{rnd}" for fp in members]
            results = task_results(ids)
            for tid in ids:
                result = results.get(tid) or (logged.get(tid) or (None, None))[1]
                if result and result.get("status") == "voted" and "replay_seconds" in result:
                    replays.append(float(result["replay_seconds"]))
                    if tid in logged:
                        tasks.append(logged[tid][0])

        row = self.summarize(label, fraction, mode, bad_ids, outcomes, expected, expected_hit, replays, tasks, wall)
        self.print_row(row, outcomes)
        return row

    @staticmethod
    def summarize(label, fraction, mode, bad_ids, outcomes, expected, expected_hit, replays, tasks, wall) -> dict:
        def median(xs):
            xs = [x for x in xs if x is not None]
            return statistics.median(xs) if xs else None

        poisoned = [o for o in outcomes if o.spec.poisoned]
        return {
            "label": label, "fraction": fraction, "mode": mode, "malicious": bad_ids,
            "n": len(outcomes), "correct": sum(o.correct for o in outcomes),
            "expected_correct": expected, "expected_poison_selected": expected_hit,
            "by_kind": {k: [sum(o.correct for o in outcomes if o.spec.kind == k), sum(o.spec.kind == k for o in outcomes)]
                        for k in KINDS},
            "poisoned": len(poisoned), "poison_selected": sum(o.poisoned_selected for o in poisoned),
            "caught_poison_selected": sum(o.correct and o.poisoned_selected for o in poisoned),
            "rejected_for_poison": sum(bool(set(o.rejected_intervals) & set(o.spec.poisoned)) for o in poisoned),
            "statuses": {s: sum(o.status == s for o in outcomes) for s in sorted({o.status for o in outcomes})},
            "prediction_matches": sum(o.predicted == o.status for o in outcomes if o.predicted),
            "predicted": sum(bool(o.predicted) for o in outcomes),
            "median_submit_to_verdict": median([o.seconds for o in outcomes]),
            "median_ledger_seconds": median([o.ledger_seconds for o in outcomes]),
            "median_replay_seconds": median(replays), "median_task_seconds": median(tasks),
            "replays": len(replays), "wall_seconds": wall,
            "models": [{"label": o.spec.label, "model_id": o.model_id, "submitter": o.spec.submitter,
                        "poisoned": o.spec.poisoned, "selected": o.selected, "status": o.status,
                        "predicted": o.predicted, "rejected_intervals": o.rejected_intervals,
                        "malicious_in_quorums": o.malicious_in_quorums, "seconds": o.seconds,
                        "ledger_seconds": o.ledger_seconds, "error": o.error} for o in outcomes],
        }

    @staticmethod
    def print_row(row: dict, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            mark = "ok " if o.correct else "BAD"
            poisoned = f"poisoned {o.spec.poisoned}" if o.spec.poisoned else "clean"
            secs = f"{o.seconds:5.1f} s" if o.seconds is not None else "   -   "
            pred = "" if not o.predicted or o.predicted == o.status else f"  (predicted {o.predicted}!)"
            say(f"  {mark} {o.spec.label:<16} {o.spec.submitter:<10} {poisoned:<22} selected {str(o.selected):<14} "
                f"mal-seats {o.malicious_in_quorums:<2} → {o.status:<9} {secs}{pred}{'  ' + o.error if o.error else ''}")
        kinds = "  ".join(f"{k} {c}/{t}" for k, (c, t) in row["by_kind"].items() if t)
        say(f"  correct {row['correct']}/{row['n']} (expected {row['expected_correct']:.1f}); {kinds}; poisoned with a "
            f"poisoned interval selected {row['poison_selected']}/{row['poisoned']} (expected "
            f"{row['expected_poison_selected']:.1f}); verdict as predicted {row['prediction_matches']}/{row['predicted']}")
        say(f"  median submit→verdict {fmt(row['median_submit_to_verdict'])} s (ledger {fmt(row['median_ledger_seconds'])} s), "
            f"median replay {fmt(row['median_replay_seconds'], 2)} s, median task {fmt(row['median_task_seconds'], 2)} s "
            f"({row['replays']} replays voted), configuration {row['wall_seconds']:.0f} s")

    def solo(self, spec: ModelSpec, times: int) -> dict:
        """The demo model alone on an idle honest network: submit-to-verdict vs the replays it needed."""
        say(f"\n== demo model alone ({spec.label}), {times}×, honest workers")
        rows = []
        for _ in range(times):
            wait_idle(list(self.names))
            offsets = {i: log_file(i).stat().st_size if log_file(i).exists() else 0 for i in self.identities}
            out = self.submit_and_wait([spec], "solo")[0]
            wait_idle(list(self.names), timeout=60)
            logged = task_seconds(self.identities, offsets)
            voted = [(s, r) for tid, (s, r) in logged.items() if tid.startswith(out.model_id) and r.get("status") == "voted"]
            replay = [float(r["replay_seconds"]) for _, r in voted]
            rows.append({"seconds": out.seconds, "ledger_seconds": out.ledger_seconds, "status": out.status,
                         "selected": out.selected, "replays": replay, "tasks": [s for s, _ in voted]})
            say(f"  {out.status:<9} selected {out.selected}: submit→verdict {fmt(out.seconds)} s (ledger "
                f"{fmt(out.ledger_seconds)} s); {len(replay)} replays, each {', '.join(f'{x:.2f}' for x in replay)} s "
                f"(whole tasks {', '.join(f'{s:.2f}' for s, _ in voted)} s)")
        return {"runs": rows,
                "median_submit_to_verdict": statistics.median([r["seconds"] for r in rows if r["seconds"]] or [0]),
                "median_replay_seconds": statistics.median([x for r in rows for x in r["replays"]] or [0])}


def fmt(x: Optional[float], digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def print_table(rows: list[dict], modes: list[str]) -> None:
    by = {(r["fraction"], r["mode"]): r for r in rows}
    fractions = sorted({r["fraction"] for r in rows})

    def cell(r: Optional[dict]) -> str:
        if r is None:
            return "-"
        return f"{r['correct']}/{r['n']} {100 * r['correct'] / r['n']:3.0f} % (exp {100 * r['expected_correct'] / r['n']:3.0f} %)"

    say("\nJudged correctly (clean → VERIFIED, poisoned → REJECTED); exp = exact expectation for these models;"
        "\n0 % is one run (no malice to differ), shown in both columns")
    head = f"{'malicious':>9}  " + "  ".join(f"{m:<25}" for m in modes) + f"  {'poisoned w/ bad interval selected':<34} paper (Fig. 3)"
    say(head)
    say("-" * len(head))
    for f in fractions:
        cells = [cell(by.get((f, m)) or (by.get((f, None)) if f == 0 else None)) for m in modes]
        any_row = next((by[(f, m)] for m in [*modes, None] if (f, m) in by), None)
        sel = f"{any_row['poison_selected']}/{any_row['poisoned']}" if any_row else "-"
        if f > 0:
            sel = " / ".join(f"{by[(f, m)]['poison_selected']}/{by[(f, m)]['poisoned']}" for m in modes if (f, m) in by)
        say(f"{round(f * 100):>8} %  " + "  ".join(f"{c:<25}" for c in cells) + f"  {sel:<34} {PAPER.get(round(f * 100), '')}")
    say("\nTiming per configuration (all models submitted at once): median submit→verdict vs median replay")
    say(f"{'configuration':<16} {'submit→verdict':>14} {'(ledger)':>9} {'replay':>8} {'task':>7} {'replays':>8} {'wall':>6}")
    for r in rows:
        say(f"{r['label']:<16} {fmt(r['median_submit_to_verdict']):>12} s {fmt(r['median_ledger_seconds']):>7} s "
            f"{fmt(r['median_replay_seconds'], 2):>6} s {fmt(r['median_task_seconds'], 2):>5} s {r['replays']:>8} {r['wall_seconds']:>5.0f} s")


def percent(text: str) -> float:
    value = float(text)
    return value / 100 if value > 1 else value


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.robustness", description=__doc__,
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
    seconds = train_models(specs, work, args.intervals, args.steps, args.poison_fraction)
    asr = [s.attack_success_rate for s in specs if s.poisoned and s.attack_success_rate is not None]
    say(f"training: {seconds:.0f} s" + (f"; backdoor attack success rate of the poisoned runs: median {statistics.median(asr):.2f}"
                                         if asr else ""))

    identities = verifier_identities()
    down = [i for i in identities if worker_pid(i) is None]
    bad_now = {i: worker_mode(i) for i in identities if worker_pid(i) and worker_mode(i)}
    if down or bad_now:
        raise SystemExit(f"the verifier workers must all run honestly first (down: {down or 'none'}, malicious: "
                         f"{bad_now or 'none'}); run `make network-up` or `python -m bench.workers --restore`")

    bench = Bench(args)
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
            solo = bench.solo(demo_model(home / "bench-robustness" / "demo"), args.solo)
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
