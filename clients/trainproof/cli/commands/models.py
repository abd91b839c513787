"""``trainproof models``: the models on the ledger, a page at a time, filtered."""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from trainproof.cli.identities import FINGERPRINT, fingerprint_of
from trainproof.cli.options import common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, safe, short, styled, visible, when
from trainproof.cli.session import Session

STATUSES = ("SUBMITTED", "ASSIGNED", "VERIFIED", "REJECTED", "INCONCLUSIVE")


@click.command()
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only models with this status.")
@click.option("--submitter", metavar="ORG|IDENTITY|FINGERPRINT",
              help="Only models of this org (org1, Org1MSP), identity (org1-user1) or certificate fingerprint.")
@click.option("--name", help="Only models with this name.")
@click.option("--page-size", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--bookmark", default="", help="Where the next page starts (printed under each page).")
@common_options
@pass_session
def models(session: Session, status: str | None, submitter: str | None, name: str | None, page_size: int,
           bookmark: str) -> None:
    """List the models on the ledger, a page at a time (follow the bookmark for the next page)."""
    query: dict[str, Any] = {"page_size": page_size}
    if bookmark:
        query["bookmark"] = bookmark
    if status:
        query["status"] = status.upper()
    if name:
        query["name"] = name
    mspid = None
    if submitter:
        mspid, fingerprint = _submitter(session, submitter)
        if fingerprint:
            query["submitter"] = fingerprint
    answer = session.ledger.list_models(query)
    rows = [m for m in answer["models"] if mspid is None or m["submitter"]["mspid"] == mspid]
    if session.as_json:
        emit_json({"models": rows, "bookmark": answer["bookmark"]})
        return
    table = Table()
    for column in ("model id", "name", "version", "status", "submitter", "parent", "submitted (UTC)"):
        table.add_column(column, overflow="fold", no_wrap=column == "model id")
    for m in rows:
        table.add_row(safe(m["model_id"]), safe(m["name"]), safe(m["version"]), styled(m["status"]),
                      safe(f"{m['submitter']['mspid']} {m['submitter']['common_name'].split('@')[0]}"),
                      short(m["parent_id"]), when(m["submitted_at"]))
    console.print(table)
    note = f"{len(rows)} model(s) on this page"
    if answer["bookmark"]:
        note += f"; next page: trainproof models --bookmark '{answer['bookmark']}'" + _repeat(status, submitter, name)
    console.print(visible(note), markup=False, soft_wrap=True)


def _submitter(session: Session, value: str) -> tuple[str | None, str | None]:
    """(mspid to filter on here, fingerprint for the contract's index); one of them is None."""
    if FINGERPRINT.fullmatch(value.lower()) or value in session.profile.identities:
        return None, fingerprint_of(session.profile, value)
    mspids = {f.mspid for f in session.profile.identities.values()}
    for mspid in mspids:
        if value.lower() in (mspid.lower(), mspid.removesuffix("MSP").lower()):
            return mspid, None
    raise CliError(f"--submitter {value!r} is neither an org ({', '.join(sorted(mspids))}), an identity of the "
                   "profile, nor a certificate fingerprint", "e.g. --submitter org1", Exit.USAGE)


def _repeat(status: str | None, submitter: str | None, name: str | None) -> str:
    return "".join(f" --{flag} '{value}'" for flag, value in (("status", status), ("submitter", submitter),
                                                              ("name", name)) if value)
