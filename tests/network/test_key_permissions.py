"""Issue 15, finding 14: no key of the running network is readable by other local users.

With the chaincode servers' TLS client key (inside each chaincode package's connection.json)
any local user could hold connections to a chaincode server and starve it. Every file that
holds private key material must be the owner's alone.
"""
from __future__ import annotations

import gzip
import io
import stat
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

KEY_NAMES = ("priv_sk", "connection.json")
KEY_SUFFIXES = (".key", "_sk", ".url")


def holds_a_key(path: Path) -> bool:
    if path.name in KEY_NAMES or path.name.endswith(KEY_SUFFIXES):
        return True
    if path.suffix == ".gz" and path.stat().st_size < 1 << 20:  # a chaincode package
        try:
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as tar:
                return any(m.name.endswith(("code.tar.gz", "connection.json")) for m in tar.getmembers())
        except (OSError, tarfile.TarError, EOFError):
            return False
    if path.stat().st_size < 64 << 10:
        try:
            return b"PRIVATE KEY" in path.read_bytes()
        except OSError:
            return False
    return False


def test_no_key_file_is_readable_by_group_or_others(profile):
    exposed = []
    for path in profile.home.rglob("*"):
        if path.is_symlink() or not path.is_file() or "logs" in path.relative_to(profile.home).parts:
            continue
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO) and holds_a_key(path):
            exposed.append(f"{oct(path.stat().st_mode & 0o777)} {path.relative_to(profile.home)}")
    assert not exposed, "key material readable by other users:\n" + "\n".join(sorted(exposed)[:40])
