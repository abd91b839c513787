"""Property tests: whatever arrives as arguments, the contract only ever refuses with a
ChaincodeError, and a refused transaction changes nothing — not even a buffered write.

Two generators: pure garbage (random bytes, text and JSON, from any caller, including callers
with broken certificates) and near misses (valid arguments with one part mutated), which reach
the deep validation paths. tests/contract/live/test_fuzz_live.py runs the same properties
against the live peers.
"""
from __future__ import annotations

import copy
import json
import os
import uuid
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainproof.chaincode.contract.config import RULES
from trainproof.chaincode.contract.router import QUERIES, TRANSACTIONS, WRITES, handle
from trainproof.chaincode.shim.stub import Creator
from tests.contract.factories import Cast, Net, evidence, model_payload, sealed_payload

pytestmark = pytest.mark.unit

CALLERS = [Cast.admin1, Cast.admin2, Cast.client1, Cast.client2, Cast.peer1, *Cast.org1_verifiers, *Cast.org2_verifiers]
# More examples for a longer hunt: TRAINPROOF_FUZZ_EXAMPLES=5000 pytest tests/contract/test_fuzz.py
PROFILE = settings(max_examples=int(os.environ.get("TRAINPROOF_FUZZ_EXAMPLES", "300")), deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])


SUBMITTED_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"
ASSIGNED_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def build_world() -> tuple[Net, dict[str, Any]]:
    """Verifiers, a submitted model, and an assigned model with one vote cast; the same every
    time (fixed ids, deterministic transaction ids), so generated cases fit any fresh copy."""
    net = Net()
    net.register_verifiers()
    submitted, assigned = model_payload(SUBMITTED_ID), model_payload(ASSIGNED_ID, name="assigned")
    net.call(Cast.client1, "SubmitModel", submitted)
    net.call(Cast.client1, "SubmitModel", assigned)
    out = net.call(Cast.admin2, "AssignVerifiers", ASSIGNED_ID)
    rec = out["intervals"][0]
    voter = next(v for v in CALLERS if v.fingerprint == rec["verifiers"][0])
    net.call(voter, "SubmitVote", ASSIGNED_ID, str(rec["interval"]), "ACCEPT", evidence())
    return net, {"submitted": submitted, "assigned": assigned, "interval": rec["interval"]}


@cache
def shared_world() -> tuple[Net, dict[str, Any]]:
    return build_world()


def check(net: Net, creator: Creator, function: str, args: list[bytes]) -> bool:
    """Run one transaction; assert the properties; return whether it was accepted."""
    before = net.ledger.snapshot()
    endorsement = net.ledger.endorse(handle, creator, function, args)  # anything but ChaincodeError escapes here
    if endorsement.error is not None:
        assert endorsement.stub.writes == {}, f"{function} buffered writes before refusing: {endorsement.error.message}"
        assert endorsement.stub.event is None
        assert endorsement.error.message.startswith((f"{function} refused: ", f"{function[:64]!r} refused: "))
        assert 400 <= endorsement.error.status < 500, endorsement.error.message
        assert net.ledger.snapshot() == before
        return False
    json.loads(endorsement.response)  # every answer is JSON
    if function in QUERIES:
        assert endorsement.stub.writes == {} and endorsement.stub.event is None
    net.ledger.commit(endorsement)
    return True


# --- pure garbage ------------------------------------------------------------------------------

KNOWN_FIELDS = set(RULES)  # a random {"k": 2} would be a valid ProposeConfig, not garbage
json_keys = st.text(max_size=12).filter(lambda k: k not in KNOWN_FIELDS)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=12,
)
garbage_arg = st.one_of(
    st.binary(max_size=48),
    st.text(max_size=48).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"0", b"-1", b"ACCEPT", b"REJECT", b"SUSPENDED", b"ACTIVE", b"null", b"{}", b"[]",
                     b'"\\ud800"', b"1e999", b"NaN", b'{"a":1,"a":2}', b"[" * 64, str(uuid.uuid4()).encode()]),
)
garbage_creator = st.one_of(
    st.sampled_from([c.creator for c in CALLERS]),
    st.builds(Creator, mspid=st.sampled_from(["", "Org1MSP", "Org9MSP"]), cert_pem=st.binary(max_size=64)),
)


# How many arguments each transaction takes, so most garbage gets past the count check.
ARITY = {"SubmitVote": 4, "SetVerifierStatus": 2, "GetVotes": 2, "GetConfig": 0, "ListModels": 1, "ListVerifiers": 1,
         "DeliverDataKeys": 2, "GrantAccess": 2}


@st.composite
def garbage_call(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    function = draw(st.sampled_from(sorted(TRANSACTIONS) + ["", "Nope", "\x00"]))
    count = draw(st.sampled_from([ARITY.get(function, 1)] * 3 + [0, 1, 2, 3, 5]))
    return function, draw(st.lists(garbage_arg, min_size=count, max_size=count))


@PROFILE
@given(call=garbage_call(), creator=garbage_creator)
def test_garbage_is_refused_with_a_chaincode_error_and_changes_nothing(call, creator):
    function, args = call
    net, _ = shared_world()
    accepted = check(net, creator, function, args)
    assert not (accepted and function in WRITES), f"garbage accepted by {function}: {args!r}"


# --- near misses -------------------------------------------------------------------------------

def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a JSON document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, prefix + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += paths(child, prefix + (i,))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    doc = copy.deepcopy(document)
    where = draw(st.sampled_from(paths(doc)[1:]))
    *parents, leaf = where
    node = doc
    for p in parents:
        node = node[p]
    action = draw(st.sampled_from(["delete", "replace", "add"]))
    if action == "delete":
        del node[leaf]
    elif action == "replace":
        node[leaf] = draw(json_values | st.sampled_from(["", "x" * 300, "A" * 64, -1, 0, 2**70, 1.5, None, {}, []]))
    elif isinstance(node, dict):
        node[draw(st.text(max_size=8))] = draw(json_values)
    else:
        node.insert(leaf, draw(json_values))
    return doc


def flip(data: bytes, position: int, byte: int) -> bytes:
    position %= max(len(data), 1)
    return data[:position] + bytes([byte]) + data[position + 1:]


@st.composite
def near_miss(draw: st.DrawFn) -> tuple[Creator, str, list[bytes]]:
    _, ids = shared_world()
    assigned, interval = ids["assigned"]["model_id"], ids["interval"]
    fresh_verifier = Cast.org2_verifiers[0]
    choice = draw(st.sampled_from(["submit", "sealed", "vote", "register", "config", "list", "status", "cert"]))
    if choice in ("submit", "sealed"):
        doc = model_payload(parent=draw(st.sampled_from([None, ids["submitted"]["model_id"]])))
        doc = draw(mutated(sealed_payload(doc, snapshots=[0, 3, 10]) if choice == "sealed" else doc))
        return Cast.client1.creator, "SubmitModel", [json.dumps(doc).encode()]
    if choice == "vote":
        voter = draw(st.sampled_from(CALLERS))
        args = [assigned.encode(), str(interval).encode(), draw(st.sampled_from([b"ACCEPT", b"REJECT"])),
                json.dumps(draw(mutated(evidence("r"))) if draw(st.booleans()) else evidence("r")).encode()]
        if draw(st.booleans()):
            args[draw(st.integers(0, 3))] = draw(garbage_arg)
        return voter.creator, "SubmitVote", args
    if choice == "register":
        request = {"cert_pem": fresh_verifier.pem, "name": "v", "mspid": "Org2MSP"}
        return Cast.admin2.creator, "RegisterVerifier", [json.dumps(draw(mutated(request))).encode()]
    if choice == "config":
        change = draw(st.dictionaries(st.sampled_from(sorted(RULES) + ["x"]), json_values, min_size=1, max_size=3))
        return Cast.admin1.creator, "ProposeConfig", [json.dumps(change).encode()]
    if choice == "list":
        query = draw(mutated({"status": "SUBMITTED", "page_size": 2, "bookmark": "", "name": "a"}))
        return Cast.client2.creator, "ListModels", [json.dumps(query).encode()]
    if choice == "status":
        fp = draw(st.sampled_from([v.fingerprint for v in Cast.org2_verifiers] + ["0" * 64]))
        return Cast.admin2.creator, "SetVerifierStatus", [fp.encode(), draw(garbage_arg)]
    pem = fresh_verifier.creator.cert_pem
    broken = flip(pem, draw(st.integers(0, len(pem))), draw(st.integers(0, 255)))
    function = draw(st.sampled_from(["SubmitModel", "SubmitVote", "AssignVerifiers", "RegisterVerifier"]))
    return Creator(draw(st.sampled_from(["Org1MSP", "Org2MSP"])), broken), function, [assigned.encode()]


@PROFILE
@given(case=near_miss())
def test_near_misses_are_refused_cleanly_or_accepted_whole(case):
    creator, function, args = case
    net, _ = build_world()
    check(net, creator, function, args)
