"""SubmitModel: the birth certificate, and every way a submission is refused with state unchanged."""
from __future__ import annotations

import copy
import json
import uuid

import pytest

from trainproof.chaincode.contract.args import MAX_ARG_BYTES
from tests.contract.factories import Cast, Net, model_payload

pytestmark = pytest.mark.unit


def test_submission_records_the_certificate_and_the_submitter_from_the_creator(net: Net):
    payload = model_payload()
    state = net.call(Cast.client1, "SubmitModel", payload)
    assert state["status"] == "SUBMITTED" and state["intervals"] == 10 and state["selected"] is None
    assert state["submitter"] == {"fingerprint": Cast.client1.fingerprint, "mspid": "Org1MSP",
                                  "common_name": "User1@org1.example.com"}
    model = net.call(Cast.client2, "GetModel", payload["model_id"])
    assert model["certificate"] == payload
    assert model["status"] == "SUBMITTED"
    name, event = net.last_event()
    assert name == "ModelSubmitted"
    assert event["model_id"] == payload["model_id"] and event["submitter"]["mspid"] == "Org1MSP"
    assert event["intervals"] == 10 and event["certificate_sha256"] == state["certificate_sha256"]


def test_a_submitter_field_in_the_payload_is_refused_not_trusted(net: Net):
    payload = {**model_payload(), "submitter": {"fingerprint": "ab" * 32, "mspid": "Org2MSP"}}
    net.refuse(Cast.client1, "SubmitModel", payload, status=400, match="Additional properties")


@pytest.mark.parametrize("who", [Cast.admin1, Cast.peer1])
def test_only_client_identities_submit(net: Net, who):
    net.refuse(who, "SubmitModel", model_payload(), status=403, match="OU=client required")


def test_duplicate_model_id_is_refused(net: Net):
    payload = model_payload()
    net.call(Cast.client1, "SubmitModel", payload)
    again = {**model_payload(payload["model_id"]), "name": "other"}
    net.refuse(Cast.client2, "SubmitModel", again, status=409, match="duplicate")


def test_unknown_parent_is_refused(net: Net):
    net.refuse(Cast.client1, "SubmitModel", model_payload(parent=str(uuid.uuid4())), status=404, match="unknown parent")


def test_a_model_cannot_be_its_own_parent(net: Net):
    mid = str(uuid.uuid4())
    net.refuse(Cast.client1, "SubmitModel", model_payload(mid, parent=mid), status=400, match="its own parent")


def test_oversized_argument_is_refused(net: Net):
    payload = model_payload()
    payload["description"] = "x" * 100
    raw = json.dumps(payload)
    raw = raw[:-1] + "," + '"pad": "' + "x" * (MAX_ARG_BYTES - len(raw)) + '"}'
    assert len(raw.encode()) > MAX_ARG_BYTES
    net.refuse(Cast.client1, "SubmitModel", raw, status=413, match="size limit: argument 1")


def _mutate(path: str, value=None, delete: bool = False):
    def apply(payload):
        payload = copy.deepcopy(payload)
        *parents, leaf = path.split(".")
        node = payload
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        leaf = int(leaf) if leaf.isdigit() else leaf
        if delete:
            del node[leaf]
        else:
            node[leaf] = value(payload) if callable(value) else value
        return payload
    return apply


SCHEMA_FAILURES = [
    # missing fields
    (_mutate("dataset", delete=True), "'dataset' is a required property"),
    (_mutate("recipe.seeds", delete=True), "'seeds' is a required property"),
    (_mutate("snapshots.3.sha256", delete=True), "at /snapshots/3: 'sha256' is a required property"),
    (_mutate("environment.git_commit", delete=True), "'git_commit' is a required property"),
    (_mutate("scores.4.input_shift", delete=True), "at /scores/4: 'input_shift' is a required property"),
    # wrong types
    (_mutate("recipe.batch_size", "64"), "at /recipe/batch_size"),
    (_mutate("recipe.batch_size", 64.0), "at /recipe/batch_size"),
    (_mutate("recipe.total_steps", True), "at /recipe/total_steps"),
    (_mutate("scores.2.absolute", "big"), "at /scores/2/absolute"),
    (_mutate("scores.2.input_shift", -0.5), "at /scores/2/input_shift"),
    (_mutate("snapshots", {}), "at /snapshots"),
    (_mutate("metrics.accuracy", "high"), "at /metrics/accuracy"),
    (_mutate("recipe.architecture.params", [1]), "at /recipe/architecture/params"),
    (_mutate("environment.command_line", ["python"]), "at /environment/command_line"),
    # bad hashes
    (_mutate("dataset.sha256", "ABC"), "at /dataset/sha256"),
    (_mutate("snapshots.0.sha256", "f" * 63), "at /snapshots/0/sha256"),
    (_mutate("snapshots.0.sha256", "F" * 64), "at /snapshots/0/sha256"),
    (_mutate("layer_hashes.chain.1", "g" * 64), "at /layer_hashes/chain/1"),
    (_mutate("environment.git_commit", "abc"), "at /environment/git_commit"),
    (_mutate("parent_id", "root"), "at /parent_id"),
    # bounds and formats
    (_mutate("model_id", "not-a-uuid"), "at /model_id"),
    (_mutate("name", ""), "at /name"),
    (_mutate("name", "a\nb"), "at /name"),
    (_mutate("name", "x" * 201), "at /name"),
    (_mutate("dataset.size", -1), "at /dataset/size"),
    (_mutate("dataset.uri", "no scheme"), "at /dataset/uri"),
    (_mutate("scores.0.l2", -0.5), "at /scores/0/l2"),
    (_mutate("scores.2.probe_loss", delete=True), "'probe_loss' is a required property"),
    (_mutate("scores.2.probe_loss", [1.0]), "at /scores/2/probe_loss"),
    (_mutate("scores.2.probe_loss.1", -1.0), "at /scores/2/probe_loss/1"),
    (_mutate("snapshots", lambda p: p["snapshots"][:1]), "at /snapshots"),
]


@pytest.mark.parametrize("mutate, rule", SCHEMA_FAILURES)
def test_schema_violations_are_refused_with_the_path(net: Net, mutate, rule):
    error = net.refuse(Cast.client1, "SubmitModel", mutate(model_payload()), status=400, match=rule)
    assert "schema model_submission" in error.message


CONSISTENCY_FAILURES = [
    (_mutate("snapshots.2.index", 7), "indices must be contiguous"),
    (_mutate("snapshots.0.step", 5), "initial state, step 0"),
    (_mutate("snapshots.4.step", 300), "steps must increase"),
    (_mutate("snapshots.4.step", 450), "interval 3 spans 150 steps"),
    (_mutate("recipe.total_steps", 2000), "recipe.total_steps is 2000"),
    (_mutate("scores", lambda p: p["scores"][:-1]), "9 scores for 10 intervals"),
    (_mutate("scores.3.interval", 4), "intervals must be contiguous"),
    (_mutate("scores.4.probe_loss.0", 0.25), "interval 4's probe_loss starts at 0.25, but interval 3's ends at"),
    (_mutate("layer_hashes.chain", lambda p: p["layer_hashes"]["chain"][:-1]), "2 chain hashes for 2 layers"),
    (_mutate("layer_hashes.layers.1", "fc1"), "layer names must be unique"),
    (_mutate("snapshots.3.uri", "s3://snapshots/sha256/" + "a" * 64), "snapshot 3's uri"),
    (_mutate("dataset.uri", "https://example.org/digits.npz"), "dataset's uri"),
]


@pytest.mark.parametrize("mutate, rule", CONSISTENCY_FAILURES)
def test_inconsistent_manifests_are_refused(net: Net, mutate, rule):
    net.refuse(Cast.client1, "SubmitModel", mutate(model_payload()), status=400, match=rule)


@pytest.mark.parametrize("change", [
    _mutate("environment.git_commit", ""),  # trained outside a git checkout
    _mutate("environment.git_commit", None),
    _mutate("recipe.scheduler", {"name": "step", "params": {"step_size": 5, "gamma": 0.5}}),
    _mutate("recipe.init", {"parent_snapshot_sha256": "a" * 64}),  # the recorder's recipe_extra
    _mutate("recipe.amp", None),
    _mutate("dataset.preprocessing", []),
    _mutate("metrics", {}),
])
def test_what_the_recorder_may_write_is_accepted(net: Net, change):
    net.call(Cast.client1, "SubmitModel", change(model_payload()))


def test_last_interval_may_be_shorter():
    payload = model_payload()
    payload["snapshots"][-1]["step"] -= 40
    payload["recipe"]["total_steps"] -= 40
    Net().call(Cast.client1, "SubmitModel", payload)


@pytest.mark.parametrize("raw, rule", [
    ("{not json", "submission is not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_json_is_refused(net: Net, raw, rule):
    net.refuse(Cast.client1, "SubmitModel", raw, status=400, match=rule)


def test_wrong_argument_count_is_refused(net: Net):
    net.refuse(Cast.client1, "SubmitModel", status=400, match="expected 1 argument(s), got 0")
    net.refuse(Cast.client1, "SubmitModel", model_payload(), "extra", match="got 2")


def test_refused_submissions_leave_no_model_behind(net: Net):
    payload = model_payload()
    net.refuse(Cast.client1, "SubmitModel", _mutate("dataset.sha256", "bad")(payload))
    net.refuse(Cast.client2, "GetModel", payload["model_id"], status=404, match="unknown model")
    assert net.call(Cast.client1, "ListModels")["models"] == []
