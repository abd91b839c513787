"""Which identity a command acts as: --identity, $TRAINPROOF_IDENTITY, the config file, the default."""
from __future__ import annotations

import pytest

from tests.cli.conftest import expect_error, expect_json_error
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli


def test_environment_variable(invoke, tiny_run):
    expect_error(invoke("submit", str(tiny_run), env={"TRAINPROOF_IDENTITY": "org2-verifier2"}), Exit.DENIED,
                 "org2-verifier2 is a verifier")


def test_flag_beats_environment(invoke):
    result = invoke("--identity", "org1-user1", "models", "--page-size", "1", env={"TRAINPROOF_IDENTITY": "nobody"})
    assert result.exit_code == 0, result.output


def test_config_file(invoke, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('identity = "nobody"\n')
    expect_error(invoke("models", env={"TRAINPROOF_CONFIG": str(config)}), Exit.USAGE, "unknown identity 'nobody'")
    config.write_text("identity = [")
    expect_json_error(invoke("models", "--json", env={"TRAINPROOF_CONFIG": str(config)}), Exit.USAGE,
                      "cannot read the config file")
