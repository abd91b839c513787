"""GetConfig / SetConfig: defaults when unset, admins only, every value checked."""
from __future__ import annotations

import pytest

from chaincode.contract.config import DEFAULTS
from tests.contract.factories import Cast, Net

pytestmark = pytest.mark.unit


def test_defaults_when_nothing_was_set(bare_net: Net):
    view = bare_net.call(Cast.client1, "GetConfig")
    assert view["values"] == DEFAULTS == {"k": 3.0, "audit_fraction": 0.2, "sub_quorum_size": 3,
                                          "deadline_seconds": 86400, "max_reassignments": 2,
                                          "shift_k": 4.0, "clock_skew_seconds": 300,
                                          "max_steps_per_interval": 100_000, "max_parameters": 100_000_000,
                                          "max_dataset_bytes": 1 << 30, "max_snapshot_bytes": 1 << 30,
                                          "storage_uri_prefixes": ["s3://datasets/sha256/", "s3://snapshots/sha256/"]}
    assert view["updated"] is None


def test_admin_changes_some_settings_and_the_rest_keep_their_values(bare_net: Net):
    view = bare_net.call(Cast.admin2, "SetConfig", {"k": 2, "sub_quorum_size": 5})
    assert view["values"] == {**DEFAULTS, "k": 2.0, "sub_quorum_size": 5}
    assert bare_net.call(Cast.client1, "GetConfig")["updated"]["by"]["fingerprint"] == Cast.admin2.fingerprint


def test_only_admins_set_config(bare_net: Net):
    bare_net.refuse(Cast.client1, "SetConfig", {"k": 2}, status=403, match="not an MSP admin")


@pytest.mark.parametrize("change, rule", [
    ({}, "no setting given"),
    ({"colour": 1}, "unknown setting"),
    ({"k": 0}, "k must be"),
    ({"k": "3"}, "k must be"),
    ({"k": 10 ** 400}, "k must be"),
    ({"audit_fraction": 1.5}, "audit_fraction must be"),
    ({"audit_fraction": True}, "audit_fraction must be"),
    ({"sub_quorum_size": 4}, "sub_quorum_size must be an odd"),
    ({"sub_quorum_size": 3.0}, "sub_quorum_size must be"),
    ({"deadline_seconds": 0}, "deadline_seconds must be"),
    ({"max_reassignments": -1}, "max_reassignments must be"),
    ({"clock_skew_seconds": 0}, "clock_skew_seconds must be an integer in [1, 86400]"),
    ({"clock_skew_seconds": 1.5}, "clock_skew_seconds must be"),
    ([1], "must be a JSON object"),
])
def test_bad_settings_are_refused(bare_net: Net, change, rule):
    bare_net.refuse(Cast.admin1, "SetConfig", change, status=400, match=rule)
