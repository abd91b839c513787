"""A private PostgreSQL server for the explorer's tests and benchmark: initdb into a temporary
directory, pg_ctl start on a Unix socket only (no TCP port), stopped and removed afterwards.

PostgreSQL refuses to run as root; as root the server runs as Debian's ``postgres`` user,
which then owns the temporary directory. Debian's own service (if any) is never touched.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run network/scripts/install.sh explorer")
    return found[-1].parent


class PostgresServer:
    """``url`` reaches database ``explorer`` as superuser ``postgres`` over the server's private socket."""

    def __init__(self, port: int = 26432) -> None:
        self.port = port
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="trainproof-pg-"))
        self.data, self.socket = self.root / "data", self.root / "socket"
        self.socket.mkdir()
        self.log = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            os.chown(self.socket, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/explorer?host={self.socket}&port={self.port}"

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as, *cmd], check=True, capture_output=True, cwd=self.root)

    def start(self) -> PostgresServer:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start",
                  "-o", f"-c listen_addresses='' -k {self.socket} -p {self.port} -c fsync=off -c max_connections=50")
        self._run(str(self.bin / "createdb"), "-h", str(self.socket), "-p", str(self.port), "-U", "postgres", "explorer")
        return self

    def reset(self) -> None:
        """A fresh, empty ``explorer`` database."""
        for cmd in ("dropdb", "createdb"):
            self._run(str(self.bin / cmd), "-h", str(self.socket), "-p", str(self.port), "-U", "postgres", "explorer")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                           capture_output=True, cwd=self.root)
        shutil.rmtree(self.root, ignore_errors=True)
