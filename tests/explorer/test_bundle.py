"""Audit bundles of the demo's REJECTED model: built from the index, verified offline (CLI too),
and refused when any part of them is altered or a root CA other than the pinned one is named."""
from __future__ import annotations

import base64
import copy
import json

import pytest
from fabric_protos.common import common_pb2

from trainproof.explorer import bundle
from trainproof.explorer.decode import data_hash

pytestmark = [pytest.mark.explorer, pytest.mark.network]


@pytest.fixture(scope="module")
def rejected(indexed) -> dict:
    return indexed.row("SELECT model_id, reason, state FROM models WHERE status = 'REJECTED' AND name = 'digits-backdoor' "
                       "ORDER BY submitted_at DESC")


@pytest.fixture(scope="module")
def made(indexed, rejected, profile) -> dict:
    return bundle.build(indexed, rejected["model_id"], profile.channel, profile.chaincode)


def _roots(profile) -> dict[str, list[bytes]]:
    crypto = profile.home / "crypto" / "peerOrganizations"
    return {f"Org{n}MSP": [(crypto / f"org{n}.trainproof.test" / "msp" / "cacerts" /
                            f"ca.org{n}.trainproof.test-cert.pem").read_bytes()] for n in (1, 2)}


def test_bundle_proves_the_verdict_offline(made, rejected, profile):
    report = bundle.verify(json.loads(json.dumps(made)), _roots(profile))
    assert report.ok, report.problems
    assert report.status == "REJECTED" and report.reason == rejected["reason"]
    bad = json.loads(rejected["state"])["rejected_intervals"]
    assert [d["interval"] for d in report.decisions if d["outcome"] == "REJECTED"] == bad
    functions = [t["function"] for t in report.transactions]
    assert functions[0] == "SubmitModel" and "AssignVerifiers" in functions and "SubmitVote" in functions
    assert all(set(t["endorsed_by"]) == {"Org1MSP", "Org2MSP"} for t in report.transactions if t["function"] == "SubmitVote")


def test_cli_writes_and_verifies_a_bundle(indexed, rejected, tmp_path):
    """`trainproof audit bundle` then `audit verify`: exit 0 and the verdict; a broken header chain: exit 7."""
    from click.testing import CliRunner

    from trainproof.cli.main import cli

    runner = CliRunner(env={"TRAINPROOF_EXPLORER_DB": str(indexed.path)})
    out = tmp_path / "bundle.json"
    made = runner.invoke(cli, ["audit", "bundle", rejected["model_id"], "-o", str(out), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["transactions"] >= 4
    checked = runner.invoke(cli, ["audit", "verify", str(out)])
    assert checked.exit_code == 0, checked.output
    assert f"proven: model {rejected['model_id']} is REJECTED" in " ".join(checked.stdout.split())
    tampered = json.loads(out.read_text())
    tampered["headers"][3][1] = "00" * 32
    out.write_text(json.dumps(tampered))
    refused = runner.invoke(cli, ["audit", "verify", str(out)])
    assert refused.exit_code == 7, refused.output
    assert "does not prove a verdict" in refused.stdout


REJECTED_STATE = b'"status":"REJECTED"'


def _decisive_vote(made: dict) -> tuple[str, int]:
    """(block, index in the block) of the vote whose write set made the model REJECTED. Not simply
    the last vote's block: a block holds several transactions, and a late vote may follow."""
    for number in sorted({str(t["block"]) for t in made["transactions"] if t["function"] == "SubmitVote"},
                         key=int, reverse=True):
        block = common_pb2.Block.FromString(base64.b64decode(made["blocks"][number]))
        for index, envelope in enumerate(block.data.data):
            if REJECTED_STATE in envelope:
                return number, index
    raise AssertionError("no vote in the bundle wrote the REJECTED status")


def test_a_flipped_verdict_is_refused(made, profile):
    """The decisive vote's block with REJECTED changed to VERIFIED: data hash, or (resealed) header chain and signatures."""
    forged = copy.deepcopy(made)
    n, index = _decisive_vote(made)
    block = common_pb2.Block.FromString(base64.b64decode(forged["blocks"][n]))
    block.data.data[index] = block.data.data[index].replace(REJECTED_STATE, b'"status":"VERIFIED"')
    forged["blocks"][n] = base64.b64encode(block.SerializeToString()).decode()
    report = bundle.verify(forged, _roots(profile))
    assert not report.ok and any("data_hash" in p for p in report.problems)
    block.header.data_hash = data_hash(block)  # resealed: the header no longer matches the chain, nor the orderer's signature
    forged["blocks"][n] = base64.b64encode(block.SerializeToString()).decode()
    report = bundle.verify(forged, _roots(profile))
    assert not report.ok
    assert any("not the block the header chain names" in p for p in report.problems)
    assert any("orderer signature" in p for p in report.problems)


def test_a_missing_transaction_or_foreign_root_is_refused(made, profile):
    dropped = copy.deepcopy(made)
    del dropped["blocks"][_decisive_vote(made)[0]]
    assert not bundle.verify(dropped, _roots(profile)).ok
    swapped = _roots(profile)
    swapped["Org1MSP"] = swapped["Org2MSP"]
    report = bundle.verify(made, swapped)
    assert not report.ok and any("not the pinned ones" in p for p in report.problems)
    assert not bundle.verify(made, genesis_hash="00" * 32).ok
