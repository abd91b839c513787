"""The live run: submit a configuration's models at once, wait for every verdict (events,
confirmed by GetModel), read the workers' task results and summarise."""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from bench.robustness.expectation import expected_correct, malicious_set, org_of, predicted_status
from bench.robustness.report import fmt
from bench.robustness.results import task_results, wait_idle
from bench.robustness.scenarios import KINDS, SUBMITTERS, ModelSpec, retrained, say
from bench.workers import WorkerSwap, verifier_identities, worker_mode

FINAL = ("VERIFIED", "REJECTED", "INCONCLUSIVE")


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
    replays: int = 0                  # replays voted on this model, by every member of every round

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
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        from trainproof.storage import ArtifactStore
        from trainproof.contract import TrainproofContract
        from trainproof.profile import Profile

        self.args = args
        self.work = work  # fresh runs per submission round go here
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

    def task_ids(self, model_id: str, assignment: Optional[dict] = None) -> list[str]:
        """The dispatcher's task ids for every seat of every round of the model's assignment."""
        assignment = assignment or self.reader.get_assignment(model_id)
        ids = []
        for rec in assignment.get("intervals", []):
            rounds = [(rec.get("round", 0), rec["verifiers"])] + [(r["round"], r["verifiers"]) for r in rec.get("previous_rounds", [])]
            for rnd, members in rounds:
                ids += [f"{model_id}:{rec['interval']}:{fp[:16]}:{rnd}" for fp in members]
        return ids

    def configuration(self, specs: list[ModelSpec], fraction: float, mode: Optional[str], order: list[str],
                      swap: Optional[WorkerSwap]) -> dict[str, Any]:
        bad_ids = malicious_set(order, fraction) if mode else []
        bad = {i: mode for i in bad_ids}
        label = f"{round(fraction * 100)}% {mode or 'honest'}"
        say(f"\n== {label}: malicious {', '.join(bad_ids) or 'none'}")
        specs = retrained(specs, self.work, self.args.intervals, self.args.steps, self.args.poison_fraction)
        fingerprints = list(self.names)
        if not wait_idle(fingerprints):
            say("  !! verification queues still busy after 300 s; going on")
        if swap is not None:
            swap.apply({i: bad.get(i) for i in self.identities})
        actual = {i: worker_mode(i) for i in self.identities}
        if {i: m for i, m in actual.items() if m} != bad:
            raise RuntimeError(f"workers are not as configured: {actual}")
        expected, expected_hit = self.expectation(specs, bad, mode)

        started = time.monotonic()
        outcomes = self.submit_and_wait(specs, f"{round(fraction * 100)}{(mode or 'honest')[0]}")
        wall = time.monotonic() - started
        wait_idle(fingerprints, timeout=120)  # leftover tasks (third votes, closed models) finish first

        replays, tasks = [], []
        for out in outcomes:
            if not out.model_id:
                continue
            assignment = self.reader.get_assignment(out.model_id)
            out.predicted = predicted_status(out.spec, assignment, self.names, bad)
            for rec in assignment.get("intervals", []):
                out.malicious_in_quorums += sum(self.names.get(fp) in bad for fp in rec["verifiers"])
            for result in task_results(self.task_ids(out.model_id, assignment)).values():
                if result.get("status") == "voted" and result.get("kind", "replay") == "replay":  # score checks replay nothing
                    replays.append(float(result["replay_seconds"]))
                    tasks.append(float(result["task_seconds"]))
                    out.replays += 1

        row = self.summarize(label, fraction, mode, bad_ids, outcomes, expected, expected_hit, replays, tasks, wall)
        # Cost ratio: replayed steps over all verifiers ÷ training steps (every interval has the same steps).
        for kind, group in (("clean", [o for o in outcomes if o.model_id and not o.spec.poisoned]),
                            ("all", [o for o in outcomes if o.model_id])):
            row[f"cost_ratio_{kind}"] = (sum(o.replays for o in group) / (len(group) * self.args.intervals)
                                         if group else None)
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
        say(f"  cost ratio (replayed ÷ trained steps): clean models {fmt(row.get('cost_ratio_clean'), 2)}, "
            f"all models {fmt(row.get('cost_ratio_all'), 2)}")

    def solo(self, spec: ModelSpec, times: int) -> dict:
        """The demo model alone on an idle honest network: submit-to-verdict vs the replays it needed."""
        say(f"\n== demo model alone ({spec.label}), {times}×, honest workers")
        rows = []
        from demo import training

        for _ in range(times):
            run = retrained([spec], self.work / "demo", training.INTERVALS, training.STEPS_PER_INTERVAL, 0.0)[0]
            wait_idle(list(self.names))
            out = self.submit_and_wait([run], "solo")[0]
            wait_idle(list(self.names), timeout=60)
            voted = [r for r in task_results(self.task_ids(out.model_id)).values() if r.get("status") == "voted"]
            replay = [float(r["replay_seconds"]) for r in voted]
            rows.append({"seconds": out.seconds, "ledger_seconds": out.ledger_seconds, "status": out.status,
                         "selected": out.selected, "replays": replay, "tasks": [float(r["task_seconds"]) for r in voted]})
            say(f"  {out.status:<9} selected {out.selected}: submit→verdict {fmt(out.seconds)} s (ledger "
                f"{fmt(out.ledger_seconds)} s); {len(replay)} replays, each {', '.join(f'{x:.2f}' for x in replay)} s "
                f"(whole tasks {', '.join(f'{s:.2f}' for s in rows[-1]['tasks'])} s)")
        return {"runs": rows,
                "median_submit_to_verdict": statistics.median([r["seconds"] for r in rows if r["seconds"]] or [0]),
                "median_replay_seconds": statistics.median([x for r in rows for x in r["replays"]] or [0])}
