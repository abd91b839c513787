"""Property test on the live peers: whatever arguments arrive, the chaincode process survives and
the contract answers with a clean refusal (status 4xx, "<Transaction> refused: …"), never with
an internal error (500: an exception escaped the contract) and never with a crash.

The same properties run in-process with thousands of examples in ``tests/contract/test_fuzz.py``;
here 200 examples go through the real path: gRPC to both peers, the peers' chaincode-as-a-service
connection, our shim, the contract, and back. Every example is endorsed (queries: evaluated) and
never sent to the orderers, so nothing a case does can reach the ledger even if the contract
wrongly accepted it; and a garbage *write* that both peers endorse fails the test.

"Never changes state": a refused endorsement leaves no write set, and afterwards none of the
examples' transaction ids is in any block committed during the run, the world model's stored
certificate is the one submitted, and the configuration reads back the same. The channel height
itself is not compared: on this shared network the dispatcher, the workers and other engineers
commit blocks all the time. "Never crashes": each org's chaincode server keeps the PID in
``.network/pids/chaincode-<org>.pid`` and both still answer ``Ping``.

More examples: ``TRAINPROOF_LIVE_FUZZ_EXAMPLES=1000 pytest -m contract tests/contract/live/test_fuzz_live.py``.
"""
from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainproof.chaincode.contract.args import MAX_ARG_BYTES
from trainproof.chaincode.contract.config import RULES
from trainproof.chaincode.contract.router import QUERIES, TRANSACTIONS
from tests.contract.live.conftest import Live, fake_payload, process_alive
from tests.contract.test_fuzz import mutated
from trainproof.gateway import EndorseError, EvaluateError

pytestmark = pytest.mark.contract

EXAMPLES = int(os.environ.get("TRAINPROOF_LIVE_FUZZ_EXAMPLES", "200"))
CALLERS = ["org1-user1", "org2-user1", "org1-admin", "org2-admin", "org1-verifier1", "org2-verifier2"]
# How many arguments each transaction takes, so most garbage gets past the count check.
ARITY = {"SubmitVote": 4, "SetVerifierStatus": 2, "GetVotes": 2, "GetConfig": 0, "ListModels": 1, "ListVerifiers": 1}
FUNCTIONS = sorted(TRANSACTIONS) + ["", "Nope", "submitmodel", "GetModel\x00", "Ping2"]

KNOWN_FIELDS = set(RULES)  # {"k": 2} would be a valid ProposeConfig, not garbage
json_keys = st.text(max_size=12).filter(lambda k: k not in KNOWN_FIELDS)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=12,
)
OVERSIZED = b"x" * (MAX_ARG_BYTES + 1)


def garbage_arg(world_id: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=48),
        st.text(max_size=48).map(lambda t: t.encode("utf-8", "surrogatepass")),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([b"", b"0", b"1", b"-1", b"ACCEPT", b"REJECT", b"SUSPENDED", b"ACTIVE", b"null", b"{}",
                         b"[]", b'"\\ud800"', b"1e999", b"NaN", b'{"a":1,"a":2}', b"[" * 64, b"\xff\xfe",
                         str(uuid.uuid4()).encode(), world_id.encode(), world_id.upper().encode(), b"0" * 64,
                         OVERSIZED]),
    )


@st.composite
def garbage_call(draw: st.DrawFn, world_id: str) -> tuple[str, list[bytes], bool]:
    function = draw(st.sampled_from(FUNCTIONS))
    count = draw(st.sampled_from([ARITY.get(function, 1)] * 3 + [0, 1, 2, 3, 5]))
    return function, draw(st.lists(garbage_arg(world_id), min_size=count, max_size=count)), False


@st.composite
def near_miss(draw: st.DrawFn, certificate: dict[str, Any]) -> tuple[str, list[bytes], bool]:
    """A valid certificate with one part deleted, replaced or added: reaches the deep checks.
    Some mutations leave it valid (a new model id, another metric): then it may be endorsed,
    and is still never ordered."""
    doc = draw(mutated(certificate))
    return "SubmitModel", [json.dumps(doc).encode("utf-8", "surrogatepass")], True


@pytest.fixture(scope="module")
def world(live: Live) -> dict[str, Any]:
    payload = fake_payload("fuzz-world")
    live.submit_model(payload)
    return payload


def test_garbage_never_crashes_the_chaincode_nor_changes_state(live: Live, world):
    pids = live.chaincode_pids()
    assert len(pids) == 2 and all(map(process_alive, pids.values())), f"the chaincode servers are not running: {pids}"
    config_before = live.query("GetConfig")
    start = live.height()
    sent: list[str] = []
    outcomes = {"refused": 0, "answered": 0, "endorsed near miss": 0}
    statuses: set[int] = set()
    fresh = fake_payload("fuzz-world-nm")  # its own snapshots: an artifact is claimed once

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=st.one_of(garbage_call(world["model_id"]), near_miss(fresh)), who=st.sampled_from(CALLERS))
    def one(case, who):
        function, args, may_endorse = case
        proposal = live.contract(who).new_proposal(function, args)
        sent.append(proposal.tx_id)
        try:
            if function in QUERIES:
                json.loads(proposal.evaluate())  # an answer is always JSON
                outcomes["answered"] += 1
            else:
                proposal.endorse()  # and never .submit(): nothing is ordered
                assert may_endorse, f"{function} endorsed garbage from {who}: {[a[:80] for a in args]!r}"
                outcomes["endorsed near miss"] += 1
        except (EndorseError, EvaluateError) as exc:
            answers = [d for d in exc.details if d.status is not None]
            assert answers, f"no peer answered {function} (chaincode down?): {exc}"
            prefix = f"{function} refused: " if function in TRANSACTIONS else f"{function[:64]!r} refused: "
            for answer in answers:
                assert 400 <= answer.status < 500, f"{function} from {who}: {answer.status} {answer.message}"
                assert answer.message.startswith(prefix), answer.message
                statuses.add(answer.status)
            outcomes["refused"] += 1
        assert all(map(process_alive, pids.values())), f"a chaincode process died after {function}({[a[:80] for a in args]!r})"

    one()

    assert live.chaincode_pids() == pids and all(map(process_alive, pids.values())), \
        "a chaincode server was restarted during the run"
    assert live.contract("org1-user1").evaluate("Ping") == b"pong"
    assert live.contract("org2-user1").evaluate("Ping") == b"pong"
    assert live.query("GetModel", world["model_id"])["certificate"] == world
    assert live.model(fresh["model_id"]) is None
    assert live.query("GetConfig") == config_before
    end = live.height()
    assert not set(sent) & live.tx_ids(start, end), "a fuzz proposal reached the ledger"
    assert outcomes["refused"] > EXAMPLES // 2 and statuses >= {400}, (outcomes, statuses)
    print(f"live fuzz: {len(sent)} proposals, {outcomes}, statuses {sorted(statuses)}, "
          f"{end - start} block(s) committed meanwhile by others")
