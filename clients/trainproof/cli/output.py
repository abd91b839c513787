"""Printing results: JSON for scripts (--json), readable text otherwise; errors as one line plus a hint.

Results go to stdout, progress and errors to stderr, so ``--json`` output can be piped as is.
Exit codes are fixed here so scripts can tell failures apart (README, "CLI reference").
"""
from __future__ import annotations

import datetime
import json
import sys
import unicodedata
from enum import IntEnum
from typing import Any, NoReturn

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class Exit(IntEnum):
    OK = 0
    DIFFERS = 1      # `check`: the weights differ from the ledger (a finding, not an error)
    USAGE = 2        # bad arguments, unknown identity, malformed run directory
    UNAVAILABLE = 3  # network or storage not answering
    NOT_FOUND = 4    # unknown model, verifier or object
    DENIED = 5       # the identity's role may not do this
    REFUSED = 6      # the contract refused the input or the state forbids it (duplicate, conflict)
    INTEGRITY = 7    # bytes that do not match the ledger's hash
    TIMEOUT = 8      # `status --wait`: no verdict in time
    FAILED = 9       # anything else that is expected (e.g. a transaction committed as invalid)


class CliError(Exception):
    """An expected failure: printed as one line and a hint, exit code ``code``, no traceback."""

    def __init__(self, message: str, hint: str = "", code: int = Exit.FAILED) -> None:
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, int(code)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def fail(error: CliError, as_json: bool) -> NoReturn:
    """Print the error (JSON on stdout with --json, one line and a hint on stderr otherwise) and exit."""
    if as_json:
        emit_json({"error": error.message, "hint": error.hint, "exit_code": error.code})
    else:
        err_console.print(f"[bold red]error:[/] {_escape(error.message)}", soft_wrap=True)
        if error.hint:
            err_console.print(f"[dim]hint:[/] {_escape(error.hint)}", soft_wrap=True)
    sys.exit(error.code)


def _escape(text: str) -> str:
    return safe(" ".join(text.split()))  # one line, whatever the source message looked like


# ---- text from the ledger ---------------------------------------------------------------------
# Everything the ledger holds was written by some member and is untrusted: a name may carry rich
# markup ("[/]" crashes a table, "[green]VERIFIED[/]" forges a status), ANSI escapes that rewrite
# the terminal, or bidi overrides that make one name read as another. So no ledger text reaches
# the console as markup or raw: commands pass it through ``safe`` (inside markup) or ``visible``
# (printed with markup=False).

# Cc control, Cf format (bidi, zero-width), Cs surrogates, Zl/Zp separators (as the contract refuses).
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _show(ch: str) -> str:
    if ch == "\\":
        return "\\\\"  # so that a literal "\u202e" in a name cannot pass for an escaped character
    if unicodedata.category(ch) in _INVISIBLE:
        return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
    return ch


def visible(value: Any) -> str:
    """``value`` as text whose every character shows: control and bidi/format characters become
    ``\\uXXXX``, a backslash ``\\\\``; None becomes "–"."""
    if value is None:
        return "–"
    return "".join(_show(ch) for ch in str(value))


def safe(value: Any) -> str:
    """``visible(value)`` escaped for rich markup: prints exactly as the text it is."""
    from rich.markup import escape

    return escape(visible(value))


# ---- small formatters shared by the commands --------------------------------------------------

STATUS_STYLE = {"VERIFIED": "bold green", "REJECTED": "bold red", "INCONCLUSIVE": "bold yellow",
                "ASSIGNED": "cyan", "SUBMITTED": "cyan", "ACTIVE": "green", "SUSPENDED": "yellow", "PENDING": "cyan",
                "ACCEPT": "green", "REJECT": "red", "ACCEPTED": "green", "CONFIRMED": "bold green",
                "DISPUTED": "bold red", "AUDITING": "cyan", "AWAITING_DRAW": "cyan", "NOT_SAMPLED": "dim",
                "UNCHECKED": "yellow"}


def styled(word: str | None) -> str:
    """A status word in its colour (rich markup)."""
    if word is None:
        return "[dim]–[/]"
    style = STATUS_STYLE.get(word)
    return f"[{style}]{word}[/]" if style else safe(word)


def when(timestamp: float | None) -> str:
    """Ledger time (seconds since the epoch) as UTC, to the second."""
    if timestamp is None:
        return "–"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m {rest:02d}s"


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def short(identifier: str | None, n: int = 8) -> str:
    """The first ``n`` characters of an id, escaped (ids come from the ledger too)."""
    return safe(identifier[:n]) if identifier else "–"
