"""`trainproof submit`: upload and certificate, human and JSON, and what it refuses."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.cli.conftest import UNKNOWN_MODEL, UUID, as_json, expect_error, expect_json_error
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli


def test_submit_prints_the_model_id(invoke, tiny_run):
    result = invoke("submit", str(tiny_run))
    assert result.exit_code == 0, result.output
    assert "submitted cli-test v1: 3 intervals, 4 snapshots + dataset" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("model id: "))
    assert UUID.fullmatch(line.removeprefix("model id: "))
    assert "trainproof status" in result.stdout


def test_submit_json_with_name_and_parent(invoke, tiny_run, model_id):
    result = invoke("submit", str(tiny_run), "--name", "cli-child", "--parent", model_id, "--json")
    assert result.exit_code == 0, result.output
    answer = as_json(result)
    assert UUID.fullmatch(answer["model_id"]) and answer["model_id"] != model_id
    assert (answer["name"], answer["parent_id"], answer["intervals"]) == ("cli-child", model_id, 3)
    assert answer["artifacts"]["dataset"].startswith("s3://datasets/sha256/")
    assert sorted(answer["artifacts"]) == ["dataset", "snapshot 0", "snapshot 1", "snapshot 2", "snapshot 3"]
    lineage = as_json(invoke("lineage", model_id, "--json"))
    assert answer["model_id"] in {d["model_id"] for d in lineage["descendants"]}


def test_a_directory_without_run_json_is_refused(invoke, tmp_path):
    expect_error(invoke("submit", str(tmp_path)), Exit.USAGE, "has no run.json")
    expect_json_error(invoke("submit", str(tmp_path / "missing"), "--json"), Exit.USAGE, "is not a directory")


def test_a_run_with_a_missing_snapshot_is_refused(invoke, tiny_run, tmp_path):
    broken = shutil.copytree(tiny_run, tmp_path / "run")
    (broken / "snapshots" / "2.safetensors").unlink()
    expect_error(invoke("submit", str(broken)), Exit.USAGE, "snapshot 2 is missing")


def test_a_run_json_that_is_not_a_certificate_is_refused(invoke, tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"name": "x"}))
    expect_error(invoke("submit", str(tmp_path)), Exit.USAGE, "is not a recorder's run.json")


def test_an_unknown_parent_is_refused_before_uploading(invoke, tiny_run):
    expect_error(invoke("submit", str(tiny_run), "--parent", UNKNOWN_MODEL), Exit.NOT_FOUND, "unknown model")


def test_a_verifier_identity_may_not_submit(invoke, tiny_run):
    expect_error(invoke("submit", str(tiny_run), "--identity", "org1-verifier1"), Exit.DENIED, "only client identities")


def test_network_down(invoke, tiny_run, down_env):
    expect_error(invoke("submit", str(tiny_run), env=down_env), Exit.UNAVAILABLE, "the network does not answer")
