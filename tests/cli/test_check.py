"""`trainproof check`: which layer of a weights file differs from the ledger, and its repair."""
from __future__ import annotations

import pytest

from tests.cli.conftest import UNKNOWN_MODEL, as_json, expect_error
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def weights(session_run, tmp_path_factory):
    """(the run's final weights as a plain safetensors file, a copy with layer fc2 altered)."""
    from demo.tamper import export_weights, tamper

    work = tmp_path_factory.mktemp("check")
    good = export_weights(session_run / "snapshots" / "3.safetensors", work / "good.safetensors")
    return good, tamper(good, work / "bad.safetensors", "fc2")


def test_matching_file(invoke, model_id, weights):
    result = invoke("check", str(weights[0]), "--model", model_id)
    assert result.exit_code == Exit.OK, result.output
    assert "every layer matches" in result.stdout
    answer = as_json(invoke("check", str(weights[0]), "--model", model_id, "--json"))
    assert answer["matches"] and answer["differing"] == [] and answer["layers"] == ["fc1", "fc2"]


def test_tampered_layer_is_named(invoke, model_id, weights):
    result = invoke("check", str(weights[1]), "--model", model_id)
    assert result.exit_code == Exit.DIFFERS, result.output
    assert "1 layer(s) differ from the ledger: fc2" in result.stdout
    answer = as_json(invoke("check", str(weights[1]), "--model", model_id, "--json"))
    assert answer["differing"] == ["fc2"] and not answer["matches"]


def test_restore_writes_a_file_that_matches(invoke, model_id, weights, tmp_path):
    from demo.tamper import identical

    repaired = tmp_path / "repaired.safetensors"
    answer = as_json(invoke("check", str(weights[1]), "--model", model_id, "--restore", str(repaired), "--json"))
    assert answer["restored"] == ["fc2"] and answer["restored_file"] == str(repaired)
    assert identical(repaired, weights[0])
    human = invoke("check", str(weights[1]), "--model", model_id, "--restore", str(tmp_path / "again.safetensors"))
    assert human.exit_code == Exit.DIFFERS and "the repaired file matches the ledger's hash chain" in human.stdout
    assert invoke("check", str(repaired), "--model", model_id).exit_code == Exit.OK


def test_unknown_model(invoke, weights):
    expect_error(invoke("check", str(weights[0]), "--model", UNKNOWN_MODEL), Exit.NOT_FOUND, "unknown model")


def test_not_a_weights_file(invoke, model_id, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    expect_error(invoke("check", str(junk), "--model", model_id), Exit.INTEGRITY)


def test_missing_file(invoke, model_id, tmp_path):
    expect_error(invoke("check", str(tmp_path / "nope"), "--model", model_id), Exit.USAGE, "does not exist")
