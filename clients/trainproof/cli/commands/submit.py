"""``trainproof submit RUN_DIR``: upload a recorded run's artifacts and put its certificate on the ledger."""
from __future__ import annotations

import uuid
from pathlib import Path

import click

from trainproof import submission
from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, safe, size
from trainproof.cli.progress import transfer_bars
from trainproof.cli.session import Session


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--name", help="Model name on the ledger (default: the name the run was recorded with).")
@click.option("--parent", "parent_id", type=MODEL_ID,
              help="Id of the model this one was fine-tuned from (its family tree).")
@common_options
@pass_session
def submit(session: Session, run_dir: Path, name: str | None, parent_id: str | None) -> None:
    """Upload RUN_DIR's dataset and snapshots, submit its birth certificate, print the model id.

    RUN_DIR is a directory written by trainproof's Recorder (run.json, snapshots/, dataset/).
    Artifacts are stored under their SHA-256, so already stored ones are not sent again.
    """
    run, files = submission.read_run(run_dir)  # a malformed run fails before any connection
    if session.files.role != "client":
        raise CliError(f"identity {session.identity} is a {session.files.role}; only client identities submit models",
                       "submit as a client, e.g. --identity org1-user1", Exit.DENIED)
    parent_id = parent_id or run.get("parent_id")
    # The ledger must answer (and know the parent) before minutes of uploading.
    if parent_id:
        session.ledger.get_model(parent_id)
    else:
        session.ledger.get_config()
    with session.store() as store, transfer_bars(not session.as_json) as progress:
        uris = submission.upload_artifacts(files, store, progress)
    cert = submission.build_certificate(run, uris, model_id=str(uuid.uuid4()), name=name, parent_id=parent_id)
    tx_id, state = submission.submit_certificate(session.contract, cert)
    total = sum(f.size for f in files)
    if session.as_json:
        emit_json({"model_id": state["model_id"], "tx_id": tx_id, "name": state["name"], "version": state["version"],
                   "parent_id": state["parent_id"], "status": state["status"], "intervals": state["intervals"],
                   "bytes": total, "artifacts": uris})
        return
    parent = f", child of {parent_id}" if parent_id else ""
    console.print(f"submitted [bold]{safe(state['name'])}[/] v{safe(state['version'])}: {state['intervals']} intervals, "
                  f"{len(files) - 1} snapshots + dataset ({size(total)}){parent}; tx {tx_id[:16]}")
    console.print(f"model id: [bold]{state['model_id']}[/]")
    console.print(f"[dim]follow it with: trainproof status {state['model_id']} --wait[/]")
