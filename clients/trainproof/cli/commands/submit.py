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
from trainproof.confidential.artifacts import KeyStore


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--name", help="Model name on the ledger (default: the name the run was recorded with).")
@click.option("--parent", "parent_id", type=MODEL_ID,
              help="Id of the model this one was fine-tuned from (its family tree).")
@click.option("--confidential", type=click.Choice(["dataset", "snapshots", "all"]),
              help="Encrypt these artifacts before upload (fresh AES-256-GCM keys, kept in $TRAINPROOF_HOME/keys); "
                   "only the assigned verifiers and identities you grant receive the keys.")
@click.option("--deliver-timeout", type=click.FloatRange(min=0), default=180.0, show_default=True,
              help="With --confidential: seconds to wait for the assignment, then deliver the keys to its verifiers.")
@common_options
@pass_session
def submit(session: Session, run_dir: Path, name: str | None, parent_id: str | None, confidential: str | None,
           deliver_timeout: float) -> None:
    """Upload RUN_DIR's dataset and snapshots, submit its birth certificate, print the model id.

    RUN_DIR is a directory written by trainproof's Recorder (run.json, snapshots/, dataset/).
    Artifacts are stored under their SHA-256, so already stored ones are not sent again.
    With --confidential, the chosen artifacts are stored encrypted, and the data keys are
    delivered, wrapped to each certificate, to the verifiers the contract assigns; after a
    re-staffing, deliver again with `trainproof keys deliver MODEL_ID`.
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
    sealed, keys = {}, {}
    with session.store() as store, transfer_bars(not session.as_json) as progress:
        if confidential:
            from trainproof.confidential.artifacts import seal_and_upload

            kinds = ("dataset", "snapshots") if confidential == "all" else (confidential,)
            uris, sealed, keys = seal_and_upload(files, store, kinds, progress)
        else:
            uris = submission.upload_artifacts(files, store, progress)
    cert = submission.build_certificate(run, uris, model_id=str(uuid.uuid4()), name=name, parent_id=parent_id)
    if sealed:
        cert["confidential"] = sealed
    tx_id, state = submission.submit_certificate(session.contract, cert)
    total = sum(f.size for f in files)
    delivered = _keep_and_deliver(session, state["model_id"], keys, deliver_timeout) if keys else None
    if session.as_json:
        emit_json({"model_id": state["model_id"], "tx_id": tx_id, "name": state["name"], "version": state["version"],
                   "parent_id": state["parent_id"], "status": state["status"], "intervals": state["intervals"],
                   "bytes": total, "artifacts": uris, "confidential": sealed or None, "keys_delivered_to": delivered})
        return
    if delivered is not None:
        kept = KeyStore(session.profile.home, session.identity).path(state["model_id"])
        console.print(f"sealed {len(keys)} artifact(s); data keys kept in {safe(kept)}; delivered to {len(delivered)} "
                      "identity(ies) (you and the assigned verifiers)")
    parent = f", child of {parent_id}" if parent_id else ""
    console.print(f"submitted [bold]{safe(state['name'])}[/] v{safe(state['version'])}: {state['intervals']} intervals, "
                  f"{len(files) - 1} snapshots + dataset ({size(total)}){parent}; tx {tx_id[:16]}")
    console.print(f"model id: [bold]{state['model_id']}[/]")
    console.print(f"[dim]follow it with: trainproof status {state['model_id']} --wait[/]")


def _keep_and_deliver(session: Session, model_id: str, keys: dict[str, bytes], timeout: float) -> list[str]:
    """Save the data keys, deliver them to this identity, then to the verifiers once assigned."""
    import time

    from trainproof.confidential import keywrap
    from trainproof.confidential.artifacts import deliver, deliver_to_assigned

    KeyStore(session.profile.home, session.identity).save(model_id, keys)
    me = keywrap.load_certificate(session.files.cert.read_bytes())
    delivered = deliver(session.ledger, model_id, keys, [me])
    deadline = time.monotonic() + timeout
    while session.ledger.model_state(model_id)["status"] == "SUBMITTED" and time.monotonic() < deadline:
        time.sleep(1.0)
    if session.ledger.model_state(model_id)["status"] == "ASSIGNED":
        delivered += deliver_to_assigned(session.ledger, model_id, keys)
    return delivered
