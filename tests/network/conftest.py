"""The ledger's tests write with the plumbing transaction PutValue, served only by test networks."""
from __future__ import annotations

import json

import pytest

from trainproof.profile import network_home


@pytest.fixture(autouse=True, scope="session")
def _test_network() -> None:
    path = network_home() / "profile.json"
    if path.is_file() and not json.loads(path.read_text()).get("test_plumbing"):
        pytest.skip(f"the network in {network_home()} does not serve PutValue: start a test network "
                    "(make test, or TRAINPROOF_TEST_PLUMBING=1 make network-up on a clean home)")
