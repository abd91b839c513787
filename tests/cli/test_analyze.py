"""``trainproof analyze``: offline scores and flags of a recorded run (no services needed)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from trainproof.cli.main import cli
from trainproof.cli.output import Exit

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def poisoned_run(tmp_path_factory):
    from demo.digits import train_digits

    run_dir = tmp_path_factory.mktemp("poisoned")
    run = train_digits(run_dir, hidden=[64], intervals=30, steps_per_interval=10, seed=11, poison_intervals=[9, 21])
    return run_dir, run


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_json_lists_every_interval_and_flags_the_poisoned_ones(poisoned_run):
    run_dir, _ = poisoned_run
    result = invoke("analyze", str(run_dir), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [s["interval"] for s in out["intervals"]] == list(range(30))
    assert all(s["absolute"] > 0 for s in out["intervals"])
    rules = {e["interval"]: e["rule"] for e in out["flagged"]}
    assert rules[9] == rules[21] == "input-shift"
    assert 10 in out["momentum_spillover"] and 10 not in rules  # SGD momentum carried interval 9's shift on
    # The ledger's own rule, as AssignVerifiers would run it on these claims (before its audit).
    from trainproof.chaincode.contract import selection
    from trainproof.chaincode.contract.config import DEFAULTS

    run = poisoned_run[1]
    assert [s["probe_loss"] for s in out["intervals"]] == [s["probe_loss"] for s in run["scores"]]  # as recorded
    expected = selection.deterministic(**selection.claims({"scores": out["intervals"], "recipe": run["recipe"]}),
                                       **selection.settings(DEFAULTS))
    assert [e["interval"] for e in out["contract"]["selected"]] == sorted(expected)
    assert out["contract"]["audit"] == min(30 - len(expected), selection.audit_size(30, DEFAULTS["audit_fraction"]))


def test_table_names_the_rule(poisoned_run):
    result = invoke("analyze", str(poisoned_run[0]))
    assert result.exit_code == 0 and "input-shift" in result.stdout
    assert "flagged by the analysis rules at k=3" in result.stdout and "the contract's rule selects" in result.stdout
    assert "momentum spillover, not flagged: interval(s) 10" in result.stdout


def test_edited_snapshot_is_refused(poisoned_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(poisoned_run[0], run_dir)
    entry = poisoned_run[1]["snapshots"][5]
    path = run_dir / entry["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # same size, different bytes
    path.write_bytes(bytes(data))
    result = invoke("analyze", str(run_dir), "--json")
    assert result.exit_code == Exit.INTEGRITY
    error = json.loads(result.stdout)
    assert "snapshot 5 changed since it was recorded" in error["error"] and "re-record" in error["hint"]


def test_not_a_run_directory(tmp_path):
    result = invoke("analyze", str(tmp_path), "--json")
    assert result.exit_code == Exit.USAGE and "run.json" in json.loads(result.stdout)["error"]
