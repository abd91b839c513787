"""Live fuzz of the verifier (issue 15): every certificate the contract accepts ends in a verdict.

The contract's own fuzz (tests/contract/live/test_fuzz_live.py) shows that garbage is refused;
this one follows what gets *past* the contract into the verifier. Hypothesis mutates the valid
certificate of a real recorded run (a tiny digits run, demo/digits.py, trained afresh for every
example because a trained snapshot is claimed once on the ledger, its dataset and snapshots
uploaded to MinIO): recipe fields (optimizer, lr, scheduler, loss, batch size, architecture
widths, amp, seeds), scores, snapshot steps, sizes and hashes (a made-up hash names an artifact
MinIO does not hold), dataset fields, the snapshots' order. Each certificate is submitted by
org1-user1:

* refused by the contract: a clean refusal (4xx, "SubmitModel refused: …" from every peer) and
  no state change (the proposal is endorsed and never ordered; the model does not exist);
* accepted: it is ordered, and the dispatcher and the verifier workers must bring it to a final
  status (VERIFIED / REJECTED / INCONCLUSIVE) within ``DEADLINE`` seconds, never leaving it
  ASSIGNED; a verifier that cannot process a submission votes REJECT "unusable submission: …".

After every example every worker and the dispatcher (``$TRAINPROOF_HOME/pids``) are still alive.
The distribution of outcomes is printed (``pytest -s``). 7 fixed examples and 9 drawn ones by default
(about 13 s each on an idle 2-core machine: 3-4 minutes).

More examples: ``TRAINPROOF_VERIFIER_FUZZ_EXAMPLES=60 pytest -m e2e -s tests/e2e/test_fuzz_verifier.py``.
"""
from __future__ import annotations

import collections
import copy
import json
import os
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.contract.live.conftest import (FINAL, PREFIX, RETRY_CODES, Live, RecordedRun, Runs, process_alive,
                                          unique_name)
from trainproof.gateway import EndorseError

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("TRAINPROOF_VERIFIER_FUZZ_EXAMPLES", "9"))
DEADLINE = float(os.environ.get("TRAINPROOF_VERIFIER_FUZZ_DEADLINE", "120"))  # seconds per accepted model
RUN = {"intervals": 2, "steps_per_interval": 5}  # two tiny intervals: the replays cost next to nothing


def fake_sha() -> str:
    return secrets.token_hex(32)


# --- mutations: (what, value) pairs, so a found case can be written down as an @example ----------

floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                   st.sampled_from([0.0, -1.0, 1e-12, 1e6, 1e300, -0.0]))
big_ints = st.one_of(st.integers(-2, 40), st.sampled_from([0, 1, 2 ** 20, 2 ** 31, 10 ** 9, 10 ** 12, 2 ** 63]))
labels = st.one_of(st.sampled_from(["", "x", "mse", "nll", "rmsprop", "lbfgs", "cosine", "transformer"]),
                   st.text(max_size=10))

MUTATIONS = st.one_of(
    st.tuples(st.just("optimizer"), st.sampled_from(["sgd", "adam", "adamw", "rmsprop", ""])),
    st.tuples(st.just("lr"), floats),
    st.tuples(st.just("optimizer_param"), st.tuples(st.sampled_from(["momentum", "betas", "eps", "nesterov",
                                                                     "weight_decay", "amsgrad", "bogus"]),
                                                    st.one_of(floats, st.booleans(), st.lists(floats, max_size=3)))),
    st.tuples(st.just("scheduler"), st.one_of(
        st.none(),
        st.fixed_dictionaries({"name": st.sampled_from(["step", "exponential", "cosine", "warmup_cosine", "plateau"]),
                               "params": st.dictionaries(st.sampled_from(["step_size", "gamma", "T_max", "eta_min",
                                                                          "warmup_steps", "total_steps",
                                                                          "min_factor", "x"]),
                                                         st.one_of(big_ints, floats), max_size=3)}))),
    st.tuples(st.just("loss"), st.one_of(st.just("cross_entropy"), labels)),
    st.tuples(st.just("batch_size"), big_ints),
    st.tuples(st.just("hidden"), st.lists(st.one_of(st.integers(0, 4096), st.sampled_from([2 ** 20, 10 ** 6])),
                                          max_size=3)),
    st.tuples(st.just("architecture"), st.sampled_from(["mlp", "cnn", "transformer", ""])),
    st.tuples(st.just("arch_param"), st.tuples(st.sampled_from(["in_features", "out_features", "dropout", "image_size",
                                                                "channels"]),
                                               st.one_of(big_ints, floats, st.lists(big_ints, max_size=3)))),
    st.tuples(st.just("amp"), st.one_of(st.none(), st.fixed_dictionaries(
        {"dtype": st.sampled_from(["float16", "bfloat16", "float64"])}, optional={"scaler": st.booleans()}))),
    st.tuples(st.just("seed"), st.tuples(st.sampled_from(["torch", "data", "extra"]),
                                         st.one_of(big_ints, st.just(2 ** 64 - 1), st.just("7")))),
    st.tuples(st.just("steps"), st.tuples(st.sampled_from(["steps_per_interval", "total_steps"]), big_ints)),
    st.tuples(st.just("score"), st.tuples(st.integers(0, 1), st.sampled_from(["absolute", "l2", "percent", "cosine",
                                                                             "input_shift"]), floats)),
    st.tuples(st.just("drop_score"), st.integers(0, 1)),
    st.tuples(st.just("snapshot_step"), st.tuples(st.integers(0, 2), big_ints)),
    st.tuples(st.just("snapshot_size"), st.tuples(st.integers(0, 2), big_ints)),
    st.tuples(st.just("snapshot_missing"), st.integers(0, 2)),  # a made-up hash: MinIO holds no such object
    st.tuples(st.just("snapshot_order"), st.sampled_from(["reverse", "swap01", "drop_last", "duplicate"])),
    st.tuples(st.just("dataset"), st.sampled_from(["missing", "size+1", "size-1", "size_huge", "preprocessing",
                                                   "no_preprocessing", "name"])),
)


def mutate(cert: dict[str, Any], mutations: list[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of ``cert`` with the mutations applied in order."""
    doc = copy.deepcopy(cert)
    recipe, snaps = doc["recipe"], doc["snapshots"]
    for what, value in mutations:
        if what == "optimizer":
            recipe["optimizer"]["name"] = value
        elif what == "lr":
            recipe["optimizer"]["params"]["lr"] = value
        elif what == "optimizer_param":
            recipe["optimizer"]["params"][value[0]] = value[1]
        elif what == "scheduler":
            recipe["scheduler"] = value
        elif what == "loss":
            recipe["loss"] = value
        elif what == "batch_size":
            recipe["batch_size"] = value
        elif what == "hidden":
            recipe["architecture"]["params"]["hidden"] = value
        elif what == "architecture":
            recipe["architecture"]["name"] = value
        elif what == "arch_param":
            recipe["architecture"]["params"][value[0]] = value[1]
        elif what == "amp":
            recipe["amp"] = value
        elif what == "seed":
            recipe["seeds"][value[0]] = value[1]
        elif what == "steps":
            recipe[value[0]] = value[1]
        elif what == "score":
            interval, metric, number = value
            if interval < len(doc["scores"]):
                doc["scores"][interval][metric] = number
        elif what == "drop_score":
            if len(doc["scores"]) > 1:
                del doc["scores"][value % len(doc["scores"])]
        elif what == "snapshot_step":
            snaps[value[0] % len(snaps)]["step"] = value[1]
        elif what == "snapshot_size":
            snaps[value[0] % len(snaps)]["size"] = value[1]
        elif what == "snapshot_missing":
            snap = snaps[value % len(snaps)]
            snap["sha256"] = fake_sha()
            snap["uri"] = f"s3://snapshots/sha256/{snap['sha256']}"
        elif what == "snapshot_order":
            if value == "reverse":
                snaps.reverse()
            elif value == "swap01":
                snaps[0], snaps[1] = snaps[1], snaps[0]
            elif value == "drop_last" and len(snaps) > 2:
                snaps.pop()
            elif value == "duplicate":
                snaps.append(copy.deepcopy(snaps[-1]) | {"index": len(snaps)})
        elif what == "dataset":
            dataset = doc["dataset"]
            if value == "missing":
                dataset["sha256"] = fake_sha()
                dataset["uri"] = f"s3://datasets/sha256/{dataset['sha256']}"
            elif value == "size+1":
                dataset["size"] += 1
            elif value == "size-1":
                dataset["size"] -= 1
            elif value == "size_huge":
                dataset["size"] = 1 << 29
            elif value == "preprocessing":
                dataset["preprocessing"] = ["divide by 0", {"op": "shuffle", "params": {"seed": 1}}]
            elif value == "no_preprocessing":
                dataset["preprocessing"] = []
            elif value == "name":
                dataset["name"] = "cifar10"
        else:  # pragma: no cover - a typo in an @example
            raise AssertionError(f"unknown mutation {what!r}")
    return doc


# --- the network's processes ------------------------------------------------------------------

def service_pids(home: Path) -> dict[str, int]:
    """Every verifier worker's and the dispatcher's PID."""
    return {path.stem: int(path.read_text().strip()) for path in sorted((home / "pids").glob("*.pid"))
            if path.stem.startswith(("worker-", "dispatcher"))}


def train_fresh(root: Path, runs: Runs) -> RecordedRun:
    from demo.digits import train_digits

    directory = Path(tempfile.mkdtemp(prefix="fuzz-", dir=root)) / "run"
    train_digits(directory, name=f"{PREFIX}fuzz", seed=secrets.randbelow(2 ** 31 - 2) + 1, **RUN)
    return runs._upload(directory)


def submit_or_refusal(live: Live, cert: dict[str, Any]) -> str | None:
    """Submit ``cert``: None if it committed, else the contract's refusal message (then nothing
    was ordered, and the model does not exist)."""
    body = json.dumps(cert).encode()
    for attempt in range(1, 5):
        proposal = live.contract("org1-user1").new_proposal("SubmitModel", [body])
        try:
            endorsed = proposal.endorse()
        except EndorseError as exc:
            answers = [d for d in exc.details if d.status is not None]
            assert len(answers) == len(live.profile.peers), f"a peer did not answer SubmitModel: {exc}"
            for answer in answers:
                assert 400 <= answer.status < 500, f"{answer.status} {answer.message}"
                assert answer.message.startswith("SubmitModel refused: "), answer.message
            assert live.model(cert["model_id"]) is None, "a refused SubmitModel left a model on the ledger"
            return answers[0].message
        submitted = endorsed.submit()
        status = submitted.get_status()
        if status.successful:
            live.sync(status.block_number + 1)
            return None
        assert status.code in RETRY_CODES and attempt < 4, f"SubmitModel committed as invalid: {status.code}"
        time.sleep(0.3 * attempt)
    raise AssertionError("unreachable")


def wait_verdict(live: Live, model_id: str, mutations, pids: dict[str, int]) -> dict[str, Any]:
    """The model's final state; fails with the model id and its mutations after ``DEADLINE``."""
    deadline = time.monotonic() + DEADLINE
    state = None
    while time.monotonic() < deadline:
        state = live.model(model_id)
        if state is not None and state["status"] in FINAL:
            return state
        dead = [name for name, pid in pids.items() if not process_alive(pid)]
        assert not dead, f"{dead} died while verifying {model_id} (mutations {mutations!r})"
        time.sleep(0.5)
    assignment = live.assignment(model_id)
    pytest.fail(f"model {model_id} (mutations {mutations!r}) has no verdict after {DEADLINE:g}s: status "
                f"{state and state['status']}, assignment {json.dumps(assignment)[:1500]}")


def reasons(live: Live, model_id: str) -> list[str]:
    votes = live.query("GetVotes", model_id)["votes"]
    return sorted({str((v.get("evidence") or {}).get("reason", ""))[:60] for v in votes})


def test_certificates_the_contract_accepts_all_end_in_a_verdict(profile, connect, tmp_path_factory):
    live = Live(profile, connect)
    assert live.contract("org1-user1").evaluate("Ping") == b"pong", "start the network with `make network-up`"
    pids = service_pids(profile.home)
    assert any(n.startswith("worker-") for n in pids) and all(map(process_alive, pids.values())), \
        f"the verifier workers are not running (`make network-up`): {pids}"
    root = tmp_path_factory.mktemp("verifier-fuzz")
    runs = Runs(root)
    outcomes: collections.Counter[str] = collections.Counter()
    refusals: collections.Counter[str] = collections.Counter()
    why: collections.Counter[str] = collections.Counter()
    slowest = [0.0, ""]
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
    # Fixed examples: every field group once, so each run covers them whatever hypothesis draws.
    @example(mutations=[("lr", 0.5), ("optimizer", "adam")])            # accepted; the replay differs
    @example(mutations=[("hidden", [10 ** 6, 10 ** 6])])                 # 10^12 parameters: over the limits
    @example(mutations=[("snapshot_missing", 1)])                        # missing artifact
    @example(mutations=[("batch_size", 10 ** 9)])                        # more than the dataset holds
    @example(mutations=[("score", (0, "l2", 1.0))])                      # falsified scores
    @example(mutations=[("snapshot_step", (2, 99_999))])                 # the manifest's steps are not the snapshot's
    @example(mutations=[("amp", {"dtype": "bfloat16", "scaler": True})])  # a recipe the replay cannot follow
    def one(mutations):
        run = train_fresh(root, runs)
        cert = mutate(run.certificate("fuzz"), mutations)
        cert["model_id"], cert["name"] = str(uuid.uuid4()), unique_name("fuzz")
        refusal = submit_or_refusal(live, cert)
        if refusal is not None:
            outcomes["refused by the contract"] += 1
            refusals[refusal.split(":")[1].strip()[:40]] += 1
        else:
            t0 = time.monotonic()
            state = wait_verdict(live, cert["model_id"], mutations, pids)
            took = time.monotonic() - t0
            if took > slowest[0]:
                slowest[:] = [took, f"{cert['model_id']} {mutations!r}"]
            outcomes[state["status"]] += 1
            for reason in reasons(live, cert["model_id"]):
                why[reason] += 1
        dead = [name for name, pid in pids.items() if not process_alive(pid)]
        assert not dead, f"{dead} died after {cert['model_id']} (mutations {mutations!r})"

    one()

    assert service_pids(profile.home) == pids, "a worker or the dispatcher was restarted during the run"
    assert all(map(process_alive, pids.values()))
    print(f"\nverifier fuzz: {sum(outcomes.values())} certificates in {time.monotonic() - started:.0f}s: "
          f"{dict(outcomes)}; slowest verdict {slowest[0]:.1f}s ({slowest[1]})")
    print(f"  refusals: {dict(refusals)}")
    print(f"  vote reasons: {dict(why)}")
    accepted = sum(n for k, n in outcomes.items() if k in FINAL)
    assert accepted >= min(5, EXAMPLES // 3), f"too few certificates got past the contract: {dict(outcomes)}"
