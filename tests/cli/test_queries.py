"""`status`, `show`, `history`, `lineage`, `models`: both output modes and the expected errors."""
from __future__ import annotations

import pytest

from tests.cli.conftest import UNKNOWN_MODEL, as_json, expect_error, expect_json_error
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli
FINAL = ("VERIFIED", "REJECTED", "INCONCLUSIVE")


def test_status_waits_for_the_verdict(invoke, model_id):
    result = invoke("status", model_id, "--wait", "--timeout", "240", "--json")
    assert result.exit_code == 0, result.output
    report = as_json(result)
    assert report["model"]["status"] in FINAL and report["model"]["model_id"] == model_id
    assert any(i["kind"] == "replay" for i in report["intervals"]), "a decided model has selected intervals"
    for interval in report["intervals"]:
        assert interval["kind"] in ("replay", "scores") and interval["why"] and interval["verifiers"]
        assert interval["reasons"] if interval["kind"] == "replay" else not interval["reasons"]
        assert all(v["verdict"] in ("ACCEPT", "REJECT") for v in interval["votes"])


def test_status_human(invoke, model_id):
    invoke("status", model_id, "--wait", "--timeout", "240")
    result = invoke("status", model_id)
    assert result.exit_code == 0, result.output
    for text in (model_id, "selected for replay", "verdict", "selected because", "decision"):
        assert text in result.stdout


def test_status_wait_gives_up_after_its_timeout(invoke, tiny_run):
    fresh = as_json(invoke("submit", str(tiny_run), "--json"))["model_id"]
    result = invoke("status", fresh, "--wait", "--timeout", "0")
    if result.exit_code == 0:  # the verifiers were quicker than the first poll
        assert "VERIFIED" in result.stdout or "REJECTED" in result.stdout
    else:
        expect_error(result, Exit.TIMEOUT, "no verdict")


def test_show(invoke, model_id):
    certificate = as_json(invoke("show", model_id, "--json"))
    assert certificate["model_id"] == model_id and certificate["certificate"]["recipe"]["steps_per_interval"] == 5
    result = invoke("show", model_id)
    assert result.exit_code == 0
    for text in ("recipe", "dataset", "environment", "snapshots and interval scores", "layer hash chain", "fc1, fc2"):
        assert text in result.stdout


def test_history(invoke, model_id):
    entries = as_json(invoke("history", model_id, "--json"))["entries"]
    assert entries[0]["record"] == "model" and all(e["tx_id"] and e["timestamp"] for e in entries)
    result = invoke("history", model_id)
    assert result.exit_code == 0
    assert "birth certificate recorded" in result.stdout and "status SUBMITTED" in result.stdout


def test_lineage(invoke, model_id, tiny_run):
    child = as_json(invoke("submit", str(tiny_run), "--parent", model_id, "--name", "cli-lineage", "--json"))
    answer = as_json(invoke("lineage", child["model_id"], "--json"))
    assert answer["ancestors"][0]["model_id"] == model_id
    result = invoke("lineage", child["model_id"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    parent_line = next(i for i, line in enumerate(lines) if model_id in line)
    child_line = next(i for i, line in enumerate(lines) if child["model_id"] in line)
    assert parent_line < child_line and "this model" in lines[child_line]
    assert lines[child_line].lstrip().startswith(("└", "├"))  # drawn under its parent


def test_models_paginated_and_filtered(invoke, model_id):
    first = as_json(invoke("models", "--page-size", "1", "--json"))
    assert len(first["models"]) == 1 and first["bookmark"]
    second = as_json(invoke("models", "--page-size", "1", "--bookmark", first["bookmark"], "--json"))
    assert second["models"][0]["model_id"] != first["models"][0]["model_id"]
    mine = as_json(invoke("models", "--submitter", "org1", "--name", "cli-test", "--page-size", "100", "--json"))
    assert model_id in {m["model_id"] for m in mine["models"]}
    assert all(m["submitter"]["mspid"] == "Org1MSP" for m in mine["models"])
    by_identity = as_json(invoke("models", "--submitter", "org1-user1", "--name", "cli-test", "--json"))
    assert by_identity["models"]
    none = as_json(invoke("models", "--submitter", "org2", "--name", "cli-test", "--json"))
    assert none["models"] == []
    result = invoke("models", "--status", "verified", "--page-size", "5")
    assert result.exit_code == 0 and "model(s) on this page" in result.stdout


def test_models_bad_submitter(invoke):
    expect_error(invoke("models", "--submitter", "org9"), Exit.USAGE, "--submitter 'org9'")


@pytest.mark.parametrize("command", ["status", "show", "history", "lineage"])
def test_unknown_model(invoke, command):
    expect_error(invoke(command, UNKNOWN_MODEL), Exit.NOT_FOUND, "unknown model")
    expect_json_error(invoke(command, UNKNOWN_MODEL, "--json"), Exit.NOT_FOUND, "unknown model")


def test_malformed_model_id(invoke):
    expect_error(invoke("status", "not-a-model"), Exit.USAGE, "is not a model id")
    expect_json_error(invoke("show", "--json", "not-a-model"), Exit.USAGE, "is not a model id")


@pytest.mark.parametrize("args", [("models",), ("status", UNKNOWN_MODEL)])
def test_network_down(invoke, down_env, args):
    expect_error(invoke(*args, env=down_env), Exit.UNAVAILABLE, "the network does not answer")
    error = expect_json_error(invoke(*args, "--json", env=down_env), Exit.UNAVAILABLE, "does not answer")
    assert "make network-up" in error["hint"]


def test_no_network_profile(invoke, tmp_path):
    expect_error(invoke("models", env={"TRAINPROOF_HOME": str(tmp_path)}), Exit.UNAVAILABLE, "no network profile")
