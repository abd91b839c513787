"""Fixtures shared by every suite that talks to the live network."""
from __future__ import annotations

import pytest

from trainproof.profile import Profile, ProfileError


@pytest.fixture(scope="session")
def profile() -> Profile:
    try:
        return Profile.load()
    except ProfileError as exc:
        pytest.fail(f"{exc} (run the suite with `make test`)")


@pytest.fixture(scope="session")
def connect(profile):
    """connect(name) → a Gateway for that identity; all closed at the end of the session."""
    opened = []

    def _connect(name: str = "org1-user1"):
        gateway = profile.connect(name)
        opened.append(gateway)
        return gateway

    yield _connect
    for gateway in opened:
        gateway.close()


@pytest.fixture(scope="session")
def contract(profile, connect):
    return connect("org1-user1").get_network(profile.channel).get_contract(profile.chaincode)
