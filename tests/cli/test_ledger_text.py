"""Ledger text is printed as text (issue 15, finding 9).

A member chooses the names, reasons and every string of a certificate. The contract refuses
control and bidi/format characters where text is written; markup such as ``[/]`` is ordinary
text, and the CLI prints it literally instead of interpreting it (or crashing on it).
"""
from __future__ import annotations

import json
import uuid

import pytest

from tests.cli.conftest import as_json
from tests.contract.live.conftest import Live, fake_payload
from trainproof.cli.output import safe, visible

pytestmark = pytest.mark.cli

# name → the refusal's rule; C0 controls in a name were already refused by the schema's label pattern.
HOSTILE = {
    "rtl-override": ("model\u202egpj.exe", "text: certificate/name contains U+202E"),
    "rtl-isolate": ("a\u2067b", "text: certificate/name contains U+2067"),
    "zero-width": ("digits\u200b", "text: certificate/name contains U+200B"),
    "line-separator": ("one\u2028line", "text: certificate/name contains U+2028"),
    "ansi": ("\x1b[32mVERIFIED\x1b[0m", "schema model_submission: at /name"),
}


@pytest.fixture(scope="module")
def live(profile, connect) -> Live:
    return Live(profile, connect)


@pytest.mark.parametrize("text, rule", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_contract_refuses_control_and_bidi_characters_in_names(live, text, rule):
    payload = fake_payload("text")
    payload["name"] = text
    live.refuse("org1-user1", "SubmitModel", payload, status=400, match=rule)
    assert live.model(payload["model_id"]) is None


def test_the_contract_refuses_them_anywhere_in_a_certificate(live):
    payload = fake_payload("text-nested")
    payload["dataset"]["preprocessing"] = ["scale 1/16", "\x1b]0;owned\x07"]
    refusal = live.refuse("org1-user1", "SubmitModel", payload, status=400,
                          match="certificate/dataset/preprocessing/1 contains U+001B")
    assert "position 0" in refusal.message


def test_the_contract_refuses_them_in_verifier_names_and_reasons(live):
    cert = live.profile.identity_files("org1-verifier1").cert.read_text()
    live.refuse("org1-admin", "RegisterVerifier", {"cert_pem": cert, "name": "org1-verifier1\u202e"}, status=400,
                match="text: name contains U+202E")
    live.refuse("org1-admin", "SetVerifierStatus", live.fingerprint("org1-verifier1"), "SUSPENDED",
                "ok\x1b[2J", status=400, match="text: reason contains U+001B")


def test_markup_in_a_name_is_printed_as_the_text_it_is(invoke, live):
    names = {"[/]": None, "[bold green]VERIFIED[/] [link=http://evil.example]x[/link]": None}
    for name in names:
        payload = fake_payload("markup")
        payload["name"] = name
        live.submit_model(payload)
        names[name] = payload["model_id"]
    for name, model_id in names.items():
        listed = invoke("models", "--name", name)
        assert listed.exit_code == 0, listed.output
        assert name in listed.stdout and model_id in listed.stdout
        assert json.loads(invoke("models", "--name", name, "--json").stdout)["models"][0]["name"] == name
        for command in ("status", "show", "lineage", "history"):
            result = invoke(command, model_id)
            assert result.exit_code == 0, (command, result.output)
            if command != "history":
                assert name in result.stdout, (command, result.stdout)
        assert as_json(invoke("show", model_id, "--json"))["name"] == name


@pytest.mark.unit
def test_every_invisible_character_is_shown_as_an_escape():
    assert visible("model\u202egpj.exe") == "model\\u202egpj.exe"
    assert visible("\x1b[31mred") == "\\u001b[31mred"
    assert visible("a\\u202e") == "a\\\\u202e"  # a literal backslash-u cannot pass for an escaped character
    assert visible("tag\U000e0041") == "tag\\U000e0041"
    assert visible(None) == "–" and visible("plain [text] ünï") == "plain [text] ünï"
    assert safe("[/]") == "\\[/]" and safe("[bold]x[/]") == "\\[bold]x\\[/]"


@pytest.mark.unit
def test_a_workers_reason_quoting_the_submission_is_written_out():
    from trainproof.verifier.verification import Finding

    reason = Finding("REJECT", f"unusable submission: no object s3://x/\x1b[2J{uuid.UUID(int=0)}\u202e").vote_evidence()["reason"]
    assert "\x1b" not in reason and "\u202e" not in reason and "\\u001b[2J" in reason and reason.endswith("\\u202e")
