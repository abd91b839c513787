"""A sealed attestation batch file (issue #18): its attester delivers the key, only to itself and
to the verifier checking the attestation now; the attester may be a grantee, not the submitter."""
from __future__ import annotations

import pytest

from tests.contract.factories import Cast, Net, attestation_request, sha
from tests.contract.unit.test_attestations import BY_FP, attest, check, seed, verified  # noqa: F401 (fixture)
from tests.contract.unit.test_datakeys import wrapped_for

pytestmark = pytest.mark.unit
DAY = 86400
SEALED = {"uri": f"s3://datasets/sha256/{sha('ciphertext')}", "sha256": sha("batch"), "size": 4096,
          "sealed": {"sha256": sha("ciphertext"), "size": 4096 + 53}}


def key_for(who, record: dict) -> dict:
    """DeliverAttestationKey's argument: the batch's key wrapped to ``who``."""
    sha256 = record["batch"]["sha256"]
    return {"keys": {who.fingerprint: {sha256: wrapped_for(who, record, sha256)}}}


def sealed_audit(net: Net, model: dict, who=Cast.client1) -> tuple[dict, dict]:
    """An attestation of ``model`` with a sealed batch, drawn for audit: its record and audit."""
    net.set_config({"attest_audit_fraction": 1.0})
    record = attest(net, model, who=who, batch=SEALED)
    seed(net, record["attestation_id"])
    admin = Cast.admin1 if who.mspid == "Org2MSP" else Cast.admin2  # another org draws
    return record, net.call(admin, "AuditAttestation", record["attestation_id"])["audit"]


def test_a_sealed_batch_is_addressed_by_its_ciphertext(net: Net, verified):
    addressed_by_plaintext = {**SEALED, "uri": f"s3://datasets/sha256/{sha('batch')}"}
    net.refuse(Cast.client1, "AttestOutput", attestation_request(verified, batch=addressed_by_plaintext),
               match="not the network's storage")
    record = attest(net, verified, batch=SEALED)
    assert record["batch"]["sealed"] == SEALED["sealed"]


def test_the_attester_delivers_the_batch_key_to_the_auditor_only_while_it_checks(net: Net, verified):
    record, audit = sealed_audit(net, verified)
    aid, me = record["attestation_id"], BY_FP[audit["verifier"]]
    other = next(v for fp, v in sorted(BY_FP.items()) if fp != audit["verifier"])

    net.refuse(me, "GetAttestationKey", aid, status=404, match="not delivered yet")
    net.refuse(Cast.client2, "DeliverAttestationKey", aid, key_for(me, record), status=403, match="only the attester")
    net.refuse(Cast.client1, "DeliverAttestationKey", aid, key_for(other, record), status=403,
               match="neither the attester nor the verifier checking")
    wrong = {"keys": {me.fingerprint: {sha("other"): wrapped_for(me, record, sha("other"))}}}
    net.refuse(Cast.client1, "DeliverAttestationKey", aid, wrong, match="not the plaintext sha256 of attestation")
    net.refuse(Cast.client1, "DeliverAttestationKey", aid, {**key_for(me, record), "child": verified["model_id"]},
               match="an attestation has none")

    out = net.call(Cast.client1, "DeliverAttestationKey", aid, key_for(me, record))
    assert out["recipients"] == [{"fingerprint": me.fingerprint, "role": "auditor", "artifacts": 1}]
    before = net.ledger.snapshot()
    mine = net.call(me, "GetAttestationKey", aid)
    assert mine["role"] == "auditor" and list(mine["keys"]) == [record["batch"]["sha256"]]
    assert net.ledger.snapshot() == before, "a query writes nothing"
    net.refuse(other, "GetAttestationKey", aid, status=403, match="not auditing")
    net.refuse(Cast.admin1, "GetAttestationKey", aid, status=403, match="MSP admin")

    net.call(me, "ConfirmAttestation", aid, "CONFIRMED", check(record["root"]))
    net.refuse(me, "GetAttestationKey", aid, status=403, match="its audit is CONFIRMED")


def test_a_grantee_attester_delivers_its_own_batch_key(net: Net, verified):
    record, audit = sealed_audit(net, verified, who=Cast.client2)
    aid = record["attestation_id"]
    net.refuse(Cast.client1, "DeliverAttestationKey", aid, key_for(BY_FP[audit["verifier"]], record), status=403,
               match="only the attester")  # the model's submitter holds no key to another's batch
    net.call(Cast.client2, "DeliverAttestationKey", aid, key_for(Cast.client2, record))
    assert net.call(Cast.client2, "GetAttestationKey", aid)["role"] == "attester"


def test_a_batch_in_the_clear_has_no_key(net: Net, verified):
    aid = attest(net, verified)["attestation_id"]
    net.refuse(Cast.client1, "DeliverAttestationKey", aid, key_for(Cast.client1, net.call(Cast.client1,
                                                                                           "GetAttestation", aid)),
               status=409, match="not sealed")
    net.refuse(Cast.client1, "GetAttestationKey", aid, status=409, match="not sealed")
    net.refuse(Cast.client1, "GetAttestationKey", "f" * 64, status=404, match="unknown attestation")
