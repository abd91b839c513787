"""Which characters free text on the ledger may hold.

Names, descriptions and every other string of a certificate end up on screens: the CLI, the
explorer, logs. Control characters (ANSI escapes, carriage returns, NUL) can rewrite what a
terminal shows, and Unicode format characters (the bidi overrides U+202A–U+202E and isolates
U+2066–U+2069, zero-width characters) can make one name display as another. Nothing honest
needs them in a model or verifier name, so the contract refuses them where text is written;
readers still escape whatever is on the ledger already (``trainproof.cli.output.visible``).
"""
from __future__ import annotations

import unicodedata
from typing import Any

from trainproof.chaincode.shim.stub import ChaincodeError

# Cc control, Cf format (bidi, zero-width), Cs surrogates, Zl/Zp line and paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def first_refused(value: str) -> str | None:
    """The first character of ``value`` the ledger refuses, or None."""
    return next((ch for ch in value if unicodedata.category(ch) in REFUSED_CATEGORIES), None)


def check_text(where: str, value: Any) -> None:
    """Refuses (400 ``text:``) any string in ``value`` (keys and values of nested objects too)
    holding a control or format character; ``where`` names the field in the message."""
    if isinstance(value, str):
        bad = first_refused(value)
        if bad is not None:
            raise ChaincodeError(f"text: {where} contains U+{ord(bad):04X} ({unicodedata.name(bad, 'control')}) at "
                                 f"position {value.index(bad)}; control and bidi/format characters are not allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(f"{where}/{key}", key)
            check_text(f"{where}/{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(f"{where}/{index}", item)
