"""``trainproof attest``, ``verify-output`` and ``attestation`` against the live network (issue 17)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.conftest import UNKNOWN_MODEL, as_json, expect_error, expect_json_error

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def verified_model(invoke, model_id) -> str:
    result = invoke("status", model_id, "--wait", "--timeout", "240", "--json")
    assert result.exit_code == 0 and as_json(result)["model"]["status"] == "VERIFIED", result.output
    return model_id


@pytest.fixture
def sample(tmp_path):
    from sklearn.datasets import load_digits

    path = tmp_path / "sample.json"
    path.write_text(json.dumps((load_digits().data[5] / 16.0).tolist()))
    return path


def test_attest_writes_a_receipt_that_verify_output_accepts(invoke, verified_model, sample, tmp_path):
    receipt = tmp_path / "receipt.json"
    result = invoke("attest", verified_model, "--input", str(sample), "--out", str(receipt), "--json")
    assert result.exit_code == 0, result.output
    done = as_json(result)
    assert done["count"] == 1 and done["receipt"] == str(receipt) and len(done["outputs"][0]) == 10
    checked = invoke("verify-output", str(receipt), "--input", str(sample), "--online", "--json")
    assert checked.exit_code == 0, checked.output
    report = as_json(checked)
    assert report["ok"] and report["model_id"] == verified_model and report["matched_item"] == 0
    assert report["online"]["model_status"] == "VERIFIED"
    text = invoke("verify-output", str(receipt))
    assert text.exit_code == 0 and "the receipt holds" in text.stdout
    shown = invoke("attestation", done["attestation_id"], "--json")
    assert shown.exit_code == 0 and as_json(shown)["root"] == done["root"]

    data = json.loads(receipt.read_text())
    value = data["items"][0]["output"]["values"][3]
    data["items"][0]["output"]["values"][3] = float(np.float32(value) + np.float32(1))  # a float32, not the model's
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    bad = invoke("verify-output", str(tampered), "--json")
    assert bad.exit_code == 7 and {"part": "item 0", "message": "the output values it carries do not hash to its "
                                   "output digest"} in as_json(bad)["problems"]
    assert "✗ item 0" in invoke("verify-output", str(tampered)).stdout


def test_attest_errors_are_one_line_with_a_hint(invoke, verified_model, sample, tmp_path):
    expect_error(invoke("attest", UNKNOWN_MODEL, "--input", str(sample)), 4, "unknown model")
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"inputs": [1, "two"]}')
    expect_error(invoke("attest", verified_model, "--input", str(garbage)), 2, "garbage.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([[0.5] * 63]))
    expect_error(invoke("attest", verified_model, "--input", str(wrong)), 6, "expects")
    not_a_receipt = tmp_path / "other.json"
    not_a_receipt.write_text('{"format": "something else"}')
    expect_json_error(invoke("verify-output", str(not_a_receipt), "--json"), 2, "not a trainproof output receipt")
