"""`trainproof config`: the settings, their governance, and its refusals (issue 15, finding 1).

Nothing here changes a setting: an applied change would be global. The propose → approve flow
itself is shown on the live contract (tests/contract/live/test_consortium.py).
"""
from __future__ import annotations

import pytest

from tests.cli.conftest import as_json, expect_error, expect_json_error
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli


def test_show(invoke):
    view = as_json(invoke("config", "show", "--json"))
    assert view["members"] == ["Org1MSP", "Org2MSP"] and view["values"]["approval_rule"] in ("majority", "all")
    assert isinstance(view["pending"], list)
    result = invoke("config", "show")
    assert result.exit_code == 0 and "sub_quorum_size" in result.stdout and "member orgs: Org1MSP, Org2MSP" in result.stdout
    assert invoke("config", "proposals", "--json").exit_code == 0


def test_a_client_may_not_propose(invoke):
    expect_error(invoke("config", "propose", "k=2.5"), Exit.DENIED, "not an MSP admin")


def test_out_of_bounds_and_malformed_proposals_are_refused(invoke):
    expect_json_error(invoke("config", "propose", "audit_fraction=0.01", "--identity", "org1-admin", "--json"),
                      Exit.REFUSED, "audit_fraction must be a number in [0.05, 1]")
    expect_error(invoke("config", "propose", "k", "--identity", "org1-admin"), Exit.USAGE, "is not NAME=VALUE")
    expect_error(invoke("config", "approve", "0" * 64, "--identity", "org2-admin"), Exit.NOT_FOUND, "unknown proposal")
