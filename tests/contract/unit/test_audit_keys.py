"""The verifier an audit draws for an attestation of a confidential model (issues 17 and 18): its
submitter may deliver it the final snapshot's key, only that key, and only while it checks."""
from __future__ import annotations

import pytest

from tests.contract.factories import Cast, Net
from tests.contract.unit.test_attestations import BY_FP, audited, check
from tests.contract.unit.test_datakeys import delivery

pytestmark = pytest.mark.unit
DAY = 86400


def outside_auditor(net: Net, model: dict) -> tuple[str, dict]:
    """An audited attestation whose drawn verifier holds no seat on the model (so only its audit
    can make it a recipient): each attestation is its own draw, tried until one is."""
    seated = {fp for rec in net.call(Cast.client1, "GetAssignment", model["model_id"])["intervals"]
              for fp in rec["verifiers"]}
    for _ in range(30):
        aid, audit = audited(net, model)
        if audit["verifier"] not in seated:
            return aid, audit
    raise AssertionError("30 draws all fell on the model's own verifiers")


def test_the_auditor_gets_the_final_snapshots_key_only_while_it_checks(net: Net, confidential_verified):
    model, mid = confidential_verified, confidential_verified["model_id"]
    final = model["snapshots"][-1]["sha256"]
    aid, audit = outside_auditor(net, model)
    me = BY_FP[audit["verifier"]]

    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(model, me), status=403,
               match="needs the final snapshot's key")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(model, me, artifacts=[model["dataset"]["sha256"]]),
               status=403, match="not dataset's")
    out = net.call(Cast.client1, "DeliverDataKeys", mid, delivery(model, me, artifacts=[final]))
    assert out["recipients"] == [{"fingerprint": me.fingerprint, "role": "auditor", "artifacts": 1, "intervals": [],
                                  "missing": len(model["snapshots"]), "attestations": [aid]}]
    mine = net.call(me, "GetDataKeys", mid)
    assert mine["role"] == "auditor" and mine["attestations"] == [aid] and list(mine["keys"]) == [final]

    root = net.call(Cast.client1, "GetAttestation", aid)["root"]
    net.call(me, "ConfirmAttestation", aid, "CONFIRMED", check(root))
    net.refuse(me, "GetDataKeys", mid, status=403, match="checks none of its attestations")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(model, me, artifacts=[final]), status=403,
               match="checking one of its attestations")


def test_a_restaffed_audit_moves_the_right_to_the_new_verifier(net: Net, confidential_verified):
    model, mid = confidential_verified, confidential_verified["model_id"]
    final = model["snapshots"][-1]["sha256"]
    aid, audit = outside_auditor(net, model)
    late = BY_FP[audit["verifier"]]
    net.ledger.clock += DAY + 1  # the drawn verifier never checked
    now = net.call(Cast.admin2, "AuditAttestation", aid)["audit"]
    assert now["state"] == "AUDITING" and now["verifier"] != late.fingerprint
    net.refuse(late, "GetDataKeys", mid, status=403, match="checks none of its attestations")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(model, late, artifacts=[final]), status=403,
               match="checking one of its attestations")
    out = net.call(Cast.client1, "DeliverDataKeys", mid, delivery(model, BY_FP[now["verifier"]], artifacts=[final]))
    assert out["recipients"][0]["fingerprint"] == now["verifier"]
    assert out["recipients"][0]["role"] in ("auditor", "verifier")  # the new one may hold a seat on the model
