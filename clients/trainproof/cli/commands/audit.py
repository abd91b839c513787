"""``trainproof audit bundle MODEL_ID`` and ``trainproof audit verify BUNDLE``.

A bundle is built from the explorer's index (which holds only blocks that passed its checks)
and verified with nothing but the file and, optionally, the MSP root certificates an auditor
trusts: ``verify`` needs no network (trainproof.explorer.bundle says what it proves).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from trainproof.cli.commands.explorer import open_db
from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, short, styled
from trainproof.cli.session import Session


@click.group()
def audit() -> None:
    """Audit bundles: one model's ledger record, provable offline."""


@audit.command()
@click.argument("model_id", type=MODEL_ID)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: trainproof-audit-ID8.json here).")
@click.option("--db", "db_url", metavar="URL", help="The explorer's database (as for `trainproof explorer`).")
@common_options
@pass_session
def bundle(session: Session, model_id: str, output: Path | None, db_url: str | None) -> None:
    """Write MODEL_ID's audit bundle: every transaction that touched it, in its blocks, with the header chain."""
    from trainproof.explorer.bundle import BundleError, build

    db = open_db(session, db_url)
    try:
        data = build(db, model_id, session.profile.channel, session.profile.chaincode)
    except BundleError as exc:
        raise CliError(str(exc), "is the explorer indexing (`make network-up` starts it; or run `trainproof "
                                 "explorer`)? check the id with `trainproof models`", Exit.NOT_FOUND) from None
    finally:
        db.close()
    output = output or Path(f"trainproof-audit-{model_id[:8]}.json")
    output.write_text(json.dumps(data, sort_keys=True) + "\n")
    summary = {"file": str(output), "model_id": model_id, "transactions": len(data["transactions"]),
               "blocks": len(data["blocks"]), "indexed_to": data["indexed_to"], "claimed": data["claimed"]}
    if session.as_json:
        emit_json(summary)
        return
    console.print(f"wrote {output}: {summary['transactions']} transactions in {summary['blocks']} blocks, headers 0–"
                  f"{data['indexed_to']}; check it offline with [bold]trainproof audit verify {output}[/]")


def _roots(pairs: tuple[str, ...]) -> dict[str, list[bytes]]:
    roots: dict[str, list[bytes]] = {}
    for pair in pairs:
        mspid, sep, path = pair.partition("=")
        if not sep or not Path(path).is_file():
            raise CliError(f"--msp-root {pair!r}: expected MSPID=PEM_FILE", "e.g. --msp-root Org1MSP=ca.pem", Exit.USAGE)
        roots.setdefault(mspid, []).append(Path(path).read_bytes())
    return roots


@audit.command()
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--msp-root", "msp_roots", multiple=True, metavar="MSPID=PEM",
              help="Pin an MSP's root CA certificate (repeatable); the bundle's genesis config must name exactly these.")
@click.option("--genesis-hash", metavar="HEX", help="Pin the channel's genesis block hash.")
@common_options
@click.pass_context
def verify(ctx: click.Context, bundle_file: Path, msp_roots: tuple[str, ...], genesis_hash: str | None) -> None:
    """Check a bundle offline and print the verdict it proves. Exit 0: proven; 7: it does not hold."""
    from trainproof.cli.options import JSON_KEY
    from trainproof.explorer.bundle import BundleError
    from trainproof.explorer.bundle import verify as check

    as_json = bool(ctx.meta.get(JSON_KEY))
    try:
        report = check(json.loads(bundle_file.read_text()), _roots(msp_roots), genesis_hash)
    except (BundleError, ValueError) as exc:
        raise CliError(f"{bundle_file}: {exc}", "make one with `trainproof audit bundle MODEL_ID`", Exit.USAGE) from None
    if as_json:
        emit_json(report.as_dict())
    else:
        _render(report, bool(msp_roots), genesis_hash)
    ctx.exit(Exit.OK if report.ok else Exit.INTEGRITY)


def _render(report, pinned: bool, genesis_hash: str | None) -> None:
    anchor = "pinned" if genesis_hash else "not pinned: compare it with your org's copy"
    console.print(f"genesis block {report.genesis_hash} ({anchor}); MSP roots "
                  f"{'pinned' if pinned else 'from the genesis config'}: {', '.join(sorted(report.msps))}", soft_wrap=True)
    console.print(f"header chain 0–{report.indexed_to}; {len(report.transactions)} transactions of model {report.model_id}:")
    for t in report.transactions:
        console.print(f"  block {t['block']:>5} {short(t['tx_id'], 12)} {t['function']:<18} {styled(t['validation_code'])} "
                      f"creator {t['creator']}, endorsed by {', '.join(t['endorsed_by']) or 'nobody'}")
    for d in report.decisions:
        console.print(f"  interval {d['interval']}: {styled(d['outcome'])} {d['reason'] or ''}")
    if not report.ok:
        for p in report.problems:
            console.print(f"[bold red]✗[/] {p}", soft_wrap=True)
        console.print("[bold red]the bundle does not prove a verdict[/]")
        return
    where = f" (tx {short(report.verdict_tx['tx_id'], 12)}, block {report.verdict_tx['block']})" if report.verdict_tx else ""
    console.print(f"[bold]proven:[/] model {report.model_id} is {styled(report.status)}{where}"
                  + (f": {report.reason}" if report.reason else ""), soft_wrap=True)
