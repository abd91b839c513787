"""``trainproof submit --confidential``, ``keys deliver`` and ``grant`` against the live network (issue 18)."""
from __future__ import annotations

import stat

import pytest

from tests.cli.conftest import as_json, expect_error

pytestmark = pytest.mark.cli


def test_submit_confidential_keeps_the_keys_and_delivers_them(invoke, tiny_run):
    from trainproof.profile import network_home

    result = invoke("submit", str(tiny_run), "--confidential", "all", "--json")
    assert result.exit_code == 0, result.output
    done = as_json(result)
    model_id = done["model_id"]
    assert set(done["confidential"]) == {"dataset", "snapshots"} and len(done["confidential"]["snapshots"]) == 4
    assert len(done["keys_delivered_to"]) >= 1 + 2  # itself, then at least one interval's seated pair (majority-first)
    path = network_home() / "keys" / "org1-user1" / f"{model_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    again = invoke("keys", "deliver", model_id, "--json")
    assert again.exit_code == 0 and len(as_json(again)["delivered_to"]) >= 1, again.output
    granted = invoke("grant", model_id, "org2-user1", "--note", "auditor", "--json")
    assert granted.exit_code == 0, granted.output
    assert as_json(granted)["grant"]["mspid"] == "Org2MSP"
    expect_error(invoke("grant", model_id, "org2-user1"), 6, "already")
    expect_error(invoke("keys", "deliver", model_id, "--identity", "org2-user1"), 4, "no data keys")
    waited = invoke("status", model_id, "--wait", "--timeout", "240", "--json")
    assert waited.exit_code == 0 and as_json(waited)["model"]["status"] == "VERIFIED", waited.output
