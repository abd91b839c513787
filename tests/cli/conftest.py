"""Fixtures for the CLI tests: the commands run in-process (click's CliRunner) on the live network.

One tiny recorded run (3 intervals of 5 steps) is trained per session and submitted once; the
tests read that model back through every command. A test that submits trains its own tiny run
(``tiny_run``), since an artifact is claimed once on the ledger. "Network down" is a copy of the profile
whose peers and orderers point at closed ports, so the real network is never touched.
"""
from __future__ import annotations

import json
import re
import secrets
import socket
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from trainproof.cli import output
from trainproof.cli.main import cli
from trainproof.profile import network_home

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNKNOWN_MODEL = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="session", autouse=True)
def wide_consoles():
    """Wide enough that tables never fold an id across lines."""
    output.console.width = output.err_console.width = 250


@pytest.fixture(scope="session")
def invoke() -> Callable[..., Result]:
    """invoke(*args, env=None) → click Result; fails on any traceback (unexpected exception).

    The user's own identity settings are hidden, so the default identity is org1-user1.
    """
    def _invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        env = {"TRAINPROOF_IDENTITY": None, "TRAINPROOF_CONFIG": "/nonexistent/config.toml", **(env or {})}
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"trainproof {' '.join(args)} raised {result.exception!r}") from result.exception
        return result
    return _invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def expect_error(result: Result, code: int, text: str = "") -> None:
    """One line of error and one of hint on stderr, nothing on stdout, the given exit code."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and text in lines[0], lines
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), lines
    assert result.stdout == ""


def expect_json_error(result: Result, code: int, text: str = "") -> dict:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    error = as_json(result)
    assert error["exit_code"] == code and text in error["error"] and "hint" in error, error
    return error


def _train_tiny(run_dir: Path) -> Path:
    from demo.digits import train_digits

    # a fresh seed each time: an artifact is claimed once on the ledger, so every submission
    # needs a run of its own
    train_digits(run_dir, intervals=3, steps_per_interval=5, seed=secrets.randbelow(2 ** 31 - 2) + 1, name="cli-test")
    return run_dir


@pytest.fixture
def tiny_run(tmp_path) -> Path:
    """A tiny recorded run of this test's own (3 intervals of 5 steps: milliseconds to train)."""
    return _train_tiny(tmp_path / "tiny")


@pytest.fixture(scope="session")
def session_run(tmp_path_factory) -> Path:
    """The tiny run behind ``model_id``."""
    return _train_tiny(tmp_path_factory.mktemp("cli") / "run")


@pytest.fixture(scope="session")
def model_id(invoke, session_run) -> str:
    """The session's tiny run, submitted once for the whole session."""
    result = invoke("submit", str(session_run), "--json")
    assert result.exit_code == 0, result.output
    return as_json(result)["model_id"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.fixture(scope="session")
def down_env(tmp_path_factory) -> dict[str, str]:
    """TRAINPROOF_HOME with the real profile, except that no node answers at its addresses."""
    home = tmp_path_factory.mktemp("down-home")
    profile = json.loads((network_home() / "profile.json").read_text())
    for node in profile["peers"] + profile["orderers"]:
        node["address"] = f"127.0.0.1:{_closed_port()}"
        node["operations"] = f"https://127.0.0.1:{_closed_port()}"
    (home / "profile.json").write_text(json.dumps(profile))
    return {"TRAINPROOF_HOME": str(home)}
