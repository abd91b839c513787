"""``trainproof check WEIGHTS_FILE --model ID``: which layers of a local file differ from the ledger.

The ledger holds the per-layer hash chain of the final weights (DeepRing, Goel et al.). A
changed layer breaks exactly the chain entries around it, which names it without any other
copy of the weights. ``--restore`` is DeepRing's tracking mode: the final snapshot is fetched
from storage, accepted only if its SHA-256 is the ledger's, and the damaged layers are copied
from it into a repaired file, which is checked against the chain again before it is kept.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import Exit, console, emit_json, safe, short, styled
from trainproof.cli.progress import transfer_bars
from trainproof.cli.session import Session


@click.command()
@click.argument("weights_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_id", type=MODEL_ID, required=True, help="The model the file claims to be.")
@click.option("--restore", "restore_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a repaired copy here, its damaged layers taken from the verified final snapshot.")
@common_options
@pass_session
@click.pass_context
def check(ctx: click.Context, session: Session, weights_file: Path, model_id: str, restore_to: Path | None) -> None:
    """Compare a safetensors weights file with the ledger's layer hash chain.

    Exit code 0: every layer matches. 1: some layers differ (they are named; with --restore
    the repaired file is written). Other codes: errors, as for every command.
    """
    from trainproof.ml.hashchain import diff_layers  # torch: loaded only for this command

    model = session.ledger.get_model(model_id)
    chain = model["certificate"]["layer_hashes"]
    differing = diff_layers(weights_file, chain)
    result: dict[str, Any] = {
        "model_id": model_id, "status": model["status"], "file": str(weights_file), "layers": chain["layers"],
        "differing": differing, "matches": not differing, "restored": [], "restored_file": None,
    }
    if restore_to is not None and differing:
        result.update(_restore(session, model, weights_file, restore_to))
    if session.as_json:
        emit_json(result)
    else:
        _render(model, result)
    ctx.exit(Exit.DIFFERS if differing else Exit.OK)


def _restore(session: Session, model: dict[str, Any], weights_file: Path, restore_to: Path) -> dict[str, Any]:
    from safetensors.torch import save_file

    from trainproof.ml.hashchain import diff_layers, restore_layers
    from trainproof.ml.snapshot import SnapshotError, load_verified

    cert = model["certificate"]
    final = max(cert["snapshots"], key=lambda s: s["index"])
    chain = cert["layer_hashes"]
    with tempfile.TemporaryDirectory(prefix="trainproof-check-") as tmp:
        source = Path(tmp) / "final.safetensors"
        from trainproof.confidential.artifacts import fetch, my_keys

        keys = my_keys(session.ledger, model["model_id"], session.files) if cert.get("confidential") else None
        with session.store() as store, transfer_bars(not session.as_json) as progress:
            fetch(store, keys, cert, final, source, progress)
        load_verified(source, final["sha256"], final["size"])  # the ledger's bytes, and a well-formed snapshot
        state, restored = restore_layers(weights_file, chain, source)
    partial = restore_to.with_name(restore_to.name + ".partial")
    save_file({name: t.contiguous() for name, t in state.items()}, str(partial))
    if diff_layers(partial, chain):
        partial.unlink()
        raise SnapshotError("the repaired file still differs from the ledger's hash chain; nothing was written")
    os.replace(partial, restore_to)
    return {"restored": restored, "restored_file": str(restore_to),
            "source": {"uri": final["uri"], "sha256": final["sha256"], "snapshot": final["index"]}}


def _render(model: dict[str, Any], result: dict[str, Any]) -> None:
    console.print(f"{safe(result['file'])} against model {safe(model['model_id'])} ([bold]{safe(model['name'])}[/] "
                  f"v{safe(model['version'])}, {styled(model['status'])}):")
    differing = set(result["differing"])
    for layer in result["layers"]:
        console.print(f"  {safe(f'{layer:<24}')} " + ("[bold red]DIFFERS[/]" if layer in differing else "[green]ok[/]"))
    for layer in [d for d in result["differing"] if d not in result["layers"]]:
        console.print(f"  {safe(f'{layer:<24}')} [bold red]not on the ledger[/]")
    if model["status"] != "VERIFIED":
        console.print(f"[yellow]note: the model is {model['status']}; the ledger's weights themselves are not "
                      "verified[/]")
    if not differing:
        console.print("[green]every layer matches the ledger's hash chain[/]")
        return
    console.print(f"[bold red]{len(differing)} layer(s) differ from the ledger:[/] {safe(', '.join(result['differing']))}")
    if result["restored_file"]:
        src = result["source"]
        console.print(f"restored {safe(', '.join(result['restored']))} from snapshot {safe(src['snapshot'])} "
                      f"(sha256 {short(src['sha256'], 16)}, checked against the ledger) → {safe(result['restored_file'])}; "
                      "[green]the repaired file matches the ledger's hash chain[/]")
    else:
        console.print("[dim]repair it with --restore OUT[/]")
