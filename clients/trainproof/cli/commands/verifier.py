"""``trainproof verifier register|join|list|suspend|activate``: the verifier registry.

The contract lets an org's admin authorize (register) and suspend only its own org's verifiers,
and a registration takes effect when the verifier itself joins (``join --identity
org1-verifier6``): the registry holds only certificates Fabric validated for their MSP. These
commands do not pre-check roles, so what is shown is the ledger's own refusal.
"""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from trainproof.cli.identities import certificate_of, fingerprint_of
from trainproof.cli.options import common_options, pass_session
from trainproof.cli.output import console, emit_json, safe, short, styled, when
from trainproof.cli.session import Session


@click.group()
@common_options
def verifier() -> None:
    """Register, list and suspend verifiers (register/suspend/activate need an org admin identity)."""


@verifier.command()
@click.argument("who", metavar="IDENTITY|CERT_FILE")
@click.option("--name", help="Name on the ledger (default: the identity name or the file's stem).")
@common_options
@pass_session
def register(session: Session, who: str, name: str | None) -> None:
    """Authorize a verifier of your org (an identity of the profile or a PEM file); it then joins."""
    pem, default_name = certificate_of(session.profile, who)
    record = session.ledger.register_verifier(pem.decode(), name or default_name)
    _done(session, record, "authorized")


@verifier.command()
@common_options
@pass_session
def join(session: Session) -> None:
    """As the verifier identity itself: activate the registration your org's admin authorized."""
    _done(session, session.ledger.activate_verifier(), "joined as")


@verifier.command(name="list")
@click.option("--status", type=click.Choice(("ACTIVE", "SUSPENDED", "PENDING"), case_sensitive=False))
@click.option("--org", help="Only this org's verifiers (org1 or Org1MSP).")
@common_options
@pass_session
def list_(session: Session, status: str | None, org: str | None) -> None:
    """Every registered verifier with its status."""
    mspid = (org if org.endswith("MSP") else f"{org[:1].upper()}{org[1:]}MSP") if org else None
    rows = session.ledger.list_verifiers(status.upper() if status else None, mspid)
    if session.as_json:
        emit_json({"verifiers": rows})
        return
    table = Table()
    for column in ("name", "org", "status", "fingerprint", "registered (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for v in rows:
        table.add_row(safe(v["name"]), safe(v["mspid"]), styled(v["status"]), short(v["fingerprint"], 16),
                      when(v["registered_at"]), safe(v.get("reason") or ""))
    console.print(table)
    console.print(f"{len(rows)} verifier(s)")


@verifier.command()
@click.argument("who", metavar="IDENTITY|CERT_FILE|FINGERPRINT")
@click.option("--reason", help="Why, recorded on the ledger.")
@common_options
@pass_session
def suspend(session: Session, who: str, reason: str | None) -> None:
    """Take a verifier out of future sub-quorums and refuse its votes."""
    _set_status(session, who, "SUSPENDED", reason)


@verifier.command()
@click.argument("who", metavar="IDENTITY|CERT_FILE|FINGERPRINT")
@click.option("--reason", help="Why, recorded on the ledger.")
@common_options
@pass_session
def activate(session: Session, who: str, reason: str | None) -> None:
    """Make a suspended verifier active again."""
    _set_status(session, who, "ACTIVE", reason)


def _set_status(session: Session, who: str, status: str, reason: str | None) -> None:
    record = session.ledger.set_verifier_status(fingerprint_of(session.profile, who), status, reason)
    _done(session, record, status.lower())


def _done(session: Session, record: dict[str, Any], what: str) -> None:
    if session.as_json:
        emit_json(record)
        return
    console.print(f"{what} verifier [bold]{safe(record['name'])}[/] of {safe(record['mspid'])}: "
                  f"{styled(record['status'])}, fingerprint {safe(record['fingerprint'])}, "
                  f"tx {short(record['updated_tx'], 16)}")
