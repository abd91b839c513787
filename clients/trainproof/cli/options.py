"""Options every command shares (--json, --identity), the session they build, and argument types.

``--json`` and ``--identity`` are accepted before the command name and after it alike
(``trainproof --json models`` = ``trainproof models --json``).
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

import click

from trainproof.cli.config import resolve_identity
from trainproof.cli.errors import EXPECTED, translate
from trainproof.cli.session import Session

JSON_KEY, IDENTITY_KEY = "trainproof.json", "trainproof.identity"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value:
            ctx.meta[key] = value  # meta is shared by the group's and the command's contexts
    return callback


def common_options(f: Callable) -> Callable:
    f = click.option("--json", "as_json", is_flag=True, expose_value=False, callback=_remember(JSON_KEY),
                     help="Print the result as JSON (errors too) for scripts.")(f)
    return click.option("--identity", metavar="NAME", expose_value=False, callback=_remember(IDENTITY_KEY),
                        help="Identity from the network profile (default: $TRAINPROOF_IDENTITY, the config "
                             "file, or org1-user1).")(f)


def pass_session(f: Callable) -> Callable:
    """Give the command a Session as first argument; turn expected errors into one-line ones."""
    @click.pass_context
    @functools.wraps(f)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        session = Session(resolve_identity(ctx.meta.get(IDENTITY_KEY)), bool(ctx.meta.get(JSON_KEY)))
        try:
            return f(session, *args, **kwargs)
        except EXPECTED as exc:
            raise translate(exc, session.identity, _role(session)) from exc
        finally:
            session.close()
    return wrapper


def _role(session: Session) -> str:
    try:
        return session.files.role
    except Exception:  # the profile itself may be what failed; the message then says so
        return ""


class ModelId(click.ParamType):
    """A model id as the contract stores it: a lowercase UUID (upper case accepted and lowered)."""

    name = "MODEL_ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if not UUID_RE.fullmatch(text):
            self.fail(f"{value!r} is not a model id (a UUID such as 0b5c6f0e-…, see `trainproof models`)", param, ctx)
        return text


MODEL_ID = ModelId()
