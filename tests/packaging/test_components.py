"""Each component is its own installed distribution; the chaincode server's environment has no ML."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
CC_PYTHON = REPO / ".venv-chaincode" / "bin" / "python"
COMPONENTS = {"trainproof-chaincode": "chaincode", "trainproof-storage": "storage", "trainproof-ml": "ml",
              "trainproof": "clients", "trainproof-verifier": "verifier"}
ML_LIBRARIES = ("torch", "numba", "sklearn", "numpy", "safetensors", "celery")


def _python(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.unit
def test_pip_lists_every_component_installed_editable_from_its_folder() -> None:
    shown = subprocess.run([str(VENV_PYTHON), "-m", "pip", "show", *COMPONENTS], capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    found = {}
    for block in shown.stdout.split("\n---\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        found[fields["Name"]] = Path(fields["Editable project location"])
    assert found == {name: REPO / folder for name, folder in COMPONENTS.items()}


@pytest.mark.unit
@pytest.mark.parametrize("name", ["storage", "verifier", "chaincode", "ml", "clients", "demo", "bench", "tests"])
def test_no_generic_top_level_import_names(name: str, tmp_path: Path) -> None:
    """Outside the checkout, only the qualified names exist (``trainproof.storage``, …)."""
    result = _python(VENV_PYTHON, f"import {name}", tmp_path)
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, (name, result.stdout, result.stderr)


@pytest.mark.unit
def test_qualified_names_import_from_anywhere(tmp_path: Path) -> None:
    code = ("import trainproof.chaincode.contract.router, trainproof.storage, trainproof.ml.outliers, trainproof.cli.main, "
            "trainproof.verifier.app, trainproof.attestation.merkle, trainproof.attestation.tensors, trainproof.ml.inference")
    result = _python(VENV_PYTHON, code, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.unit
def test_chaincode_environment_holds_the_contract_and_no_ml_library(tmp_path: Path) -> None:
    code = ("import importlib.util, json, trainproof.chaincode.contract.router, trainproof.chaincode.shim.server\n"
            f"print(json.dumps({{n: importlib.util.find_spec(n) is not None for n in {ML_LIBRARIES!r}}}))\n"
            "print(importlib.util.find_spec('trainproof.ml') is not None, importlib.util.find_spec('trainproof.cli') is not None)")
    result = _python(CC_PYTHON, code, tmp_path)
    assert result.returncode == 0, result.stderr
    libraries, components = result.stdout.splitlines()
    assert libraries == "{" + ", ".join(f'"{n}": false' for n in ML_LIBRARIES) + "}"
    assert components == "False False"


@pytest.mark.unit
def test_chaincode_pins_are_its_own() -> None:
    pins = subprocess.run([sys.executable, str(REPO / "network/scripts/lib/requirements.py"), "chaincode"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert not [p for p in pins if p.split("=")[0].split("[")[0] in ("torch", "numba", "scikit-learn", "celery", "minio")]
    assert any(p.startswith("grpcio==") for p in pins) and any(p.startswith("jsonschema==") for p in pins)


@pytest.mark.network
def test_running_chaincode_servers_run_in_the_chaincode_environment_without_torch(profile) -> None:
    """The peers' chaincode servers: started from .venv-chaincode, no torch mapped into the process."""
    pids = {p.stem: int(p.read_text()) for p in (profile.home / "pids").glob("chaincode-*.pid")}
    assert sorted(pids) == ["chaincode-org1", "chaincode-org2"]
    for name, pid in pids.items():
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert Path(argv[0].decode()) == CC_PYTHON and b"trainproof.chaincode" in argv, (name, argv)
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "torch" not in maps and "site-packages/numpy" not in maps, name
