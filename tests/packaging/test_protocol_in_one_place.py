"""The contract's protocol is spelled out in one place: the typed client (clients/trainproof/contract.py).

Outside chaincode/ (the contract itself), that module and tests/, no source names a transaction
as a string — the only way to call one is through ``TrainproofContract``. (Comments and log
messages may still name a transaction for a reader.)
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def _transactions() -> list[str]:
    """The transaction table of chaincode/contract/README.md, the typed client's specification."""
    table = (REPO / "chaincode/contract/README.md").read_text()
    names = sorted(set(re.findall(r"^\| `([A-Z][A-Za-z]+)`", table, re.M)))
    assert len(names) >= 10, names
    return names


def test_transaction_names_appear_as_strings_only_in_the_typed_client() -> None:
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    outside = [f for f in files if not f.startswith(("chaincode/", "tests/")) and f != "clients/trainproof/contract.py"]
    quoted = re.compile(r"""["'](%s)["']""" % "|".join(_transactions()))
    found = [f"{f}:{n}: {line.strip()}" for f in outside
             for n, line in enumerate((REPO / f).read_text().splitlines(), 1) if quoted.search(line)]
    assert found == []
    client = (REPO / "clients/trainproof/contract.py").read_text()
    assert all(f'"{name}"' in client for name in _transactions())
