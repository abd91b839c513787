"""``trainproof explorer``: index the channel's blocks and serve the audit web app.

Runs until interrupted (SIGINT or SIGTERM). Bound to a loopback address by default; any other
address requires ``--token-file``, and the start-up message says which.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import click

from trainproof.cli.options import common_options, pass_session
from trainproof.cli.output import CliError, Exit, console
from trainproof.cli.session import Session

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 17080


def open_db(session: Session, url: str | None):
    """The explorer's database: ``--db``, else $TRAINPROOF_EXPLORER_DB, else $TRAINPROOF_HOME/explorer/explorer.db."""
    from trainproof.explorer.db import Database
    from trainproof.explorer.service import default_db

    target = url or os.environ.get("TRAINPROOF_EXPLORER_DB") or str(default_db(session.profile))
    try:
        return Database(target)
    except Exception as exc:  # psycopg's OperationalError, sqlite3's: the database is not reachable
        raise CliError(f"cannot open the explorer database {target.split('@')[-1]}: {exc}",
                       "give a SQLite path or a postgresql:// URL with --db", Exit.UNAVAILABLE) from None


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to bind.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--db", "db_url", metavar="URL", help="SQLite path or postgresql:// URL (default: "
              "$TRAINPROOF_EXPLORER_DB or $TRAINPROOF_HOME/explorer/explorer.db).")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file holding the access token; required when --host is not a loopback address.")
@common_options
@pass_session
def explorer(session: Session, host: str, port: int, db_url: str | None, token_file: Path | None) -> None:
    """Index the channel (checking every block and signature) and serve the audit explorer."""
    from trainproof.explorer.service import Explorer
    from trainproof.explorer.web import is_loopback, read_token

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = None
    if token_file is not None:
        try:
            token = read_token(token_file)
        except ValueError as exc:
            raise CliError(str(exc), "write a random token, e.g. `openssl rand -hex 24 > FILE`", Exit.USAGE) from None
    elif not is_loopback(host):
        raise CliError(f"--host {host} is not a loopback address: the explorer then requires a token",
                       "add --token-file FILE (e.g. `openssl rand -hex 24 > FILE`), or bind 127.0.0.1", Exit.USAGE)
    files = session.files
    db = open_db(session, db_url)
    try:
        service = Explorer(session.profile, files.name, db, host, port, token)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}", "choose another --port", Exit.UNAVAILABLE) from None
    access = (f"token required (from {token_file}: Authorization: Bearer TOKEN, or ?token=TOKEN once)" if token
              else "open to this machine's loopback only, no token")
    console.print(f"trainproof explorer on {service.url} — {access}")
    console.print(f"indexing channel {session.profile.channel} as {files.name} ({files.mspid}) into {db.label}", soft_wrap=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    service.stop()
