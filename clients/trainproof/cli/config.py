"""Which identity a command acts as: ``--identity``, else $TRAINPROOF_IDENTITY, else the config file.

The config file is TOML, ``$TRAINPROOF_CONFIG`` or ``~/.config/trainproof/config.toml``
(``$XDG_CONFIG_HOME`` respected), e.g. ``identity = "org2-user1"``. Without any of them the
CLI acts as ``org1-user1``, the local network's first client.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from trainproof.cli.output import CliError, Exit

DEFAULT_IDENTITY = "org1-user1"
IDENTITY_ENV = "TRAINPROOF_IDENTITY"
CONFIG_ENV = "TRAINPROOF_CONFIG"


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "trainproof" / "config.toml"


def load_config() -> dict:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read the config file {path}: {exc}", f"fix it or point {CONFIG_ENV} elsewhere",
                       Exit.USAGE) from None


def resolve_identity(flag: str | None) -> str:
    """The identity name to act as, by precedence: flag, environment, config file, default."""
    if flag:
        return flag
    if os.environ.get(IDENTITY_ENV):
        return os.environ[IDENTITY_ENV]
    value = load_config().get("identity")
    if value is not None and not isinstance(value, str):
        raise CliError(f"{config_path()}: identity must be a string", 'e.g. identity = "org1-user1"', Exit.USAGE)
    return value or DEFAULT_IDENTITY
