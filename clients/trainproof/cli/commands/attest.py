"""``trainproof attest``, ``trainproof verify-output`` and ``trainproof attestation``: signed model outputs.

``attest`` runs a VERIFIED model on an input file and has the contract record the outputs
(trainproof.attestation.attest says how), writing a receipt; ``verify-output`` checks a receipt
offline, and with ``--online`` also against the ledger now; ``attestation`` shows the ledger's
record of one attestation, its audit included.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from trainproof.cli.options import JSON_KEY, MODEL_ID, common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, err_console, safe, short, styled
from trainproof.cli.progress import transfer_bars
from trainproof.cli.session import Session

HEX64 = click.STRING


def _array(path: Path, what: str):
    from trainproof.attestation.tensors import TensorFileError, read_array

    try:
        return read_array(path)
    except TensorFileError as exc:
        raise CliError(f"{what} {path}: {exc}", "give a .safetensors, .npy (no pickles) or .json array of numbers",
                       Exit.USAGE) from None


@click.command()
@click.argument("model_id", type=MODEL_ID)
@click.option("--input", "input_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The input: .safetensors, .npy or .json; a batch along the first dimension, or one sample.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the receipt (default: trainproof-receipt-<attestation id 12>.json here).")
@common_options
@pass_session
def attest(session: Session, model_id: str, input_file: Path, out: Path | None) -> None:
    """Run MODEL_ID on the input and record its outputs on the ledger, signed by every org.

    The contract refuses unless the model is VERIFIED and the weights are its final snapshot.
    The receipt proves the outputs to anyone: `trainproof verify-output RECEIPT`. For a
    confidential model the batch file is sealed, its key kept in your key store: leave
    `trainproof keys agent` running so that the verifier an audit draws receives it."""
    from trainproof.attestation.attest import AttestError
    from trainproof.attestation.attest import attest as run_attest
    from trainproof.confidential.artifacts import KeyStore
    from trainproof.ml.inference import InferenceError

    inputs = _array(input_file, "input")
    say = (lambda _m: None) if session.as_json else (lambda m: err_console.print(f"[dim]{safe(m)}[/]"))
    try:
        with session.store() as store, transfer_bars(not session.as_json) as progress:
            done = run_attest(session.contract, store, model_id, inputs, say, progress, identity=session.files,
                              key_store=KeyStore(session.profile.home, session.identity))
    except (AttestError, InferenceError) as exc:
        raise CliError(str(exc), "attest a VERIFIED model (`trainproof models --status VERIFIED`) on inputs of the "
                                 "shape its architecture takes", Exit.REFUSED) from None
    out = out or Path(f"trainproof-receipt-{done.attestation_id[:12]}.json")
    out.write_text(json.dumps(done.receipt, sort_keys=True) + "\n")
    result = {"attestation_id": done.attestation_id, "model_id": model_id, "block": done.block, "count": done.count,
              "root": done.root, "receipt": str(out), "outputs": done.outputs.tolist() if done.outputs.size <= 1024
              else f"{done.outputs.size} values (in the batch file)"}
    if session.as_json:
        emit_json(result)
        return
    console.print(f"attested {done.count} output(s) of model {safe(model_id)} in block {done.block}, attestation "
                  f"{short(done.attestation_id, 16)} (root {short(done.root, 16)})")
    if done.outputs.size <= 64:
        console.print(f"output: {safe(json.dumps(done.outputs.tolist()))}", soft_wrap=True)
    console.print(f"receipt → {safe(out)}; check it with [bold]trainproof verify-output {safe(out)}[/]")


def _trusted(pairs: tuple[str, ...]) -> dict[str, set[str]]:
    trusted: dict[str, set[str]] = {}
    for pair in pairs:
        mspid, sep, fingerprint = pair.partition("=")
        if not sep or len(fingerprint) != 64:
            raise CliError(f"--trust {pair!r}: expected MSPID=SHA256 of a root certificate (64 hex digits)",
                           "e.g. --trust Org1MSP=3f2a…; the receipt's `roots` lists them", Exit.USAGE)
        trusted.setdefault(mspid, set()).add(fingerprint.lower())
    return trusted


@click.command("verify-output")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Check that this input is the attested one.")
@click.option("--output", "output_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Check that this output is the attested one.")
@click.option("--item", type=click.IntRange(min=0), help="Check only this output of a batch receipt.")
@click.option("--trust", "trust", multiple=True, metavar="MSPID=SHA256",
              help="Pin an MSP's root certificate fingerprint (repeatable).")
@click.option("--online", is_flag=True, help="Also ask the ledger: the block is there, the model still VERIFIED, "
                                             "and the attestation's audit.")
@common_options
@click.pass_context
def verify_output(ctx: click.Context, receipt_file: Path, input_file: Path | None, output_file: Path | None,
                  item: int | None, trust: tuple[str, ...], online: bool) -> None:
    """Check an output receipt. Exit 0: it holds; 7: it does not (the failing part is named)."""
    from trainproof.attestation import receipt as receipts

    as_json = bool(ctx.meta.get(JSON_KEY))
    try:
        data = receipts.load(receipt_file.read_bytes())
        inputs = _array(input_file, "input") if input_file else None
        outputs = _array(output_file, "output") if output_file else None
        report = receipts.verify(data, inputs, outputs, item, _trusted(trust))
    except receipts.ReceiptError as exc:
        raise CliError(f"{receipt_file}: {exc}", "a receipt is what `trainproof attest --out` writes", Exit.USAGE) from None
    if online and report.block >= 0:
        report = _online(ctx, report, data)
    if as_json:
        emit_json(report.as_dict())
    else:
        _render(report)
    ctx.exit(Exit.OK if report.ok else Exit.INTEGRITY)


def _online(ctx: click.Context, report, data: dict[str, Any]):
    from trainproof.attestation.receipt import check_online
    from trainproof.cli.errors import EXPECTED, translate
    from trainproof.cli.options import IDENTITY_KEY, resolve_identity

    session = Session(resolve_identity(ctx.meta.get(IDENTITY_KEY)))
    try:
        return check_online(report, data, session.ledger, session.contract.network.get_contract("qscc"),
                            session.profile.channel)
    except EXPECTED as exc:
        raise translate(exc, session.identity) from exc
    finally:
        session.close()


def _render(report) -> None:
    model = report.model or {}
    console.print(f"attestation {safe(report.attestation_id)} in block {report.block}, attested by "
                  f"{safe(report.attester)}; endorsed by {safe(', '.join(report.endorsed_by) or 'nobody')}", soft_wrap=True)
    console.print(f"model {safe(report.model_id)} ({safe(model.get('name'))} v{safe(model.get('version'))}), "
                  f"{styled(str(model.get('status')))} when attested", soft_wrap=True)
    console.print("root CAs (SHA-256): " + safe("; ".join(f"{m} {', '.join(fps)}" for m, fps in report.roots.items()))
                  + (" [green](pinned)[/]" if report.pinned else ""), soft_wrap=True)
    if not report.pinned:
        console.print("[yellow]the roots are the receipt's own: compare them with your consortium's published "
                      "fingerprints, or pin them with --trust MSPID=SHA256[/]", soft_wrap=True)
    if report.items_checked:
        shown = ", ".join(map(str, report.items_checked[:10])) + (" …" if len(report.items_checked) > 10 else "")
        console.print(f"items checked against the root: {shown}")
    if report.matched_item is not None:
        console.print(f"the given file is item {report.matched_item}")
    if report.online is not None:
        o = report.online
        console.print(f"ledger now: model {styled(str(o.get('model_status')))}, audit {styled(str(o.get('audit')))}")
    for p in report.problems:
        console.print(f"[bold red]✗[/] {safe(str(p))}", soft_wrap=True)
    console.print("[bold green]the receipt holds[/]" if report.ok else "[bold red]the receipt does not hold[/]")


@click.command()
@click.argument("attestation_id", type=HEX64)
@common_options
@pass_session
def attestation(session: Session, attestation_id: str) -> None:
    """Show an attestation's ledger record: the model, the outputs' root, and its audit."""
    record = session.ledger.get_attestation(attestation_id.lower())
    if session.as_json:
        emit_json(record)
        return
    audit = record["audit"]
    console.print(f"attestation {safe(record['attestation_id'])}: {record['count']} output(s) of model "
                  f"{safe(record['model_id'])} (now {styled(record['model_status'])}), root {short(record['root'], 16)}")
    console.print(f"attested by {safe(record['attester']['mspid'])} {safe(record['attester'].get('common_name', ''))} "
                  f"in tx {short(record['tx_id'], 16)}")
    line = f"audit: {styled(audit['state'])}"
    if audit.get("verifier"):
        line += f" by {short(audit['verifier'], 16)} ({safe(audit.get('verifier_mspid'))}, round {audit.get('round')})"
    if audit.get("check"):
        line += f": {safe(audit['check']['evidence'].get('reason', ''))}"
    console.print(line, soft_wrap=True)
