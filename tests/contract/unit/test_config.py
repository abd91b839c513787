"""GetConfig and governance: ProposeConfig → ApproveConfig by member orgs' admins, bounds checked.

(Until issue 15, SetConfig by one admin took effect alone: these tests replace that one.)
"""
from __future__ import annotations

import pytest

from trainproof.chaincode.contract.config import DEFAULTS, PROPOSAL_TTL
from tests.contract.factories import Cast, Net, party

pytestmark = pytest.mark.unit


def test_defaults_when_nothing_was_set(bare_net: Net):
    view = bare_net.call(Cast.client1, "GetConfig")
    assert view["values"] == DEFAULTS == {"k": 4.0, "audit_fraction": 0.2, "sub_quorum_size": 3,
                                          "deadline_seconds": 86400, "max_reassignments": 2,
                                          "shift_k": 5.0, "low_k": 3.0, "joint_k": 5.0, "probe_rise": 0.04,
                                          "clock_skew_seconds": 300, "seed_reveal_seconds": 900,
                                          "approval_rule": "majority", "replication": "majority-first",
                                          "max_steps_per_interval": 100_000, "max_parameters": 100_000_000,
                                          "max_dataset_bytes": 1 << 30, "max_snapshot_bytes": 1 << 30,
                                          "attest_audit_fraction": 0.1, "max_attested_outputs": 1_000_000,
                                          "storage_uri_prefixes": ["s3://datasets/sha256/", "s3://snapshots/sha256/"]}
    assert view["updated"] is None and view["members"] == ["Org1MSP", "Org2MSP"]


def test_one_admin_alone_changes_nothing_until_another_org_approves(net: Net):
    proposal = net.call(Cast.admin1, "ProposeConfig", {"k": 2, "sub_quorum_size": 5}, {"note": "tighter"})
    assert proposal["status"] == "PENDING" and proposal["needed"] == 2 and proposal["note"] == "tighter"
    assert [a["mspid"] for a in proposal["approvals"]] == ["Org1MSP"]
    assert net.call(Cast.client1, "GetConfig")["values"] == DEFAULTS  # nothing in force yet
    pid = proposal["proposal_id"]
    net.refuse(Cast.admin1, "ApproveConfig", pid, status=409, match="already approved: Org1MSP")
    net.refuse(Cast.client2, "ApproveConfig", pid, status=403, match="not an MSP admin")
    applied = net.call(Cast.admin2, "ApproveConfig", pid)
    assert applied["status"] == "APPLIED" and [a["mspid"] for a in applied["approvals"]] == ["Org1MSP", "Org2MSP"]
    view = net.call(Cast.client1, "GetConfig")
    assert view["values"] == {**DEFAULTS, "k": 2.0, "sub_quorum_size": 5}
    assert view["updated"]["proposal_id"] == pid and view["updated"]["by"]["fingerprint"] == Cast.admin1.fingerprint
    assert net.call(Cast.client1, "GetConfigProposal", pid) == applied
    assert net.call(Cast.client1, "ListConfigProposals", {"status": "APPLIED"})["proposals"] == [applied]
    net.refuse(Cast.admin2, "ApproveConfig", pid, status=409, match="is APPLIED")


def test_a_proposal_expires_unapproved(net: Net):
    pid = net.call(Cast.admin2, "ProposeConfig", {"k": 5})["proposal_id"]
    net.advance(PROPOSAL_TTL)
    assert net.call(Cast.client1, "GetConfigProposal", pid)["status"] == "EXPIRED"
    net.refuse(Cast.admin1, "ApproveConfig", pid, status=409, match="is EXPIRED")
    assert net.call(Cast.client1, "GetConfig")["values"]["k"] == DEFAULTS["k"]


def test_non_members_and_unknown_proposals_are_refused(net: Net):
    outsider = party("Org3MSP", "Admin@org3.example.com", "admin")
    net.refuse(outsider, "ProposeConfig", {"k": 2}, status=403, match="not a member org")
    net.refuse(Cast.admin1, "ApproveConfig", "0" * 64, status=404, match="unknown proposal")
    net.refuse(Cast.admin1, "ApproveConfig", "x-y", status=400, match="proposal id")


def test_bounds_are_checked_again_when_the_change_applies(net: Net):
    pid = net.call(Cast.admin1, "ProposeConfig", {"sub_quorum_size": 5})["proposal_id"]
    net.call(Cast.admin2, "SetVerifierStatus", Cast.org2_verifiers[0].fingerprint, "SUSPENDED")  # 5 active now
    net.refuse(Cast.admin2, "ApproveConfig", pid, status=409, match="needs at least 6 active verifiers, 5 are active")


def test_all_rule_needs_every_member(net: Net):
    net.set_config({"approval_rule": "all"})
    assert net.call(Cast.admin1, "ProposeConfig", {"k": 4})["needed"] == 2


def test_only_admins_propose(bare_net: Net):
    bare_net.refuse(Cast.client1, "ProposeConfig", {"k": 2}, status=403, match="not an MSP admin")
    bare_net.refuse(Cast.admin1, "SetConfig", {"k": 2}, status=404, match="unknown transaction")


@pytest.mark.parametrize("change, rule", [
    ({}, "no setting given"),
    ({"colour": 1}, "unknown setting"),
    ({"k": 0}, "k must be"),
    ({"k": 100}, "k must be a number in [1, 10]"),
    ({"k": "3"}, "k must be"),
    ({"k": 10 ** 400}, "k must be"),
    ({"audit_fraction": 1.5}, "audit_fraction must be"),
    ({"audit_fraction": 0.01}, "audit_fraction must be a number in [0.05, 1]"),
    ({"audit_fraction": True}, "audit_fraction must be"),
    ({"sub_quorum_size": 4}, "sub_quorum_size must be an odd"),
    ({"sub_quorum_size": 1}, "sub_quorum_size must be an odd integer in [3, 51]"),
    ({"sub_quorum_size": 51}, "needs at least 52 active verifiers"),
    ({"sub_quorum_size": 3.0}, "sub_quorum_size must be"),
    ({"deadline_seconds": 1}, "deadline_seconds must be an integer in [60, 31536000]"),
    ({"max_reassignments": 0}, "max_reassignments must be an integer in [1, 10]"),
    ({"clock_skew_seconds": 0}, "clock_skew_seconds must be an integer in [1, 86400]"),
    ({"clock_skew_seconds": 1.5}, "clock_skew_seconds must be"),
    ({"approval_rule": "any"}, "approval_rule must be"),
    ([1], "must be a JSON object"),
])
def test_bad_settings_are_refused(net: Net, change, rule):
    net.refuse(Cast.admin1, "ProposeConfig", change, status=400, match=rule)
