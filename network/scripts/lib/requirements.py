"""Prints the pinned third-party requirements of some components, one per line, sorted.

``requirements.py chaincode`` is what the chaincode server's environment gets;
``requirements.py all`` every component's plus the workspace's test and build groups. The
output is also the cache key of the environment built from it (install.sh hashes it), so a
changed pin builds a new environment and never edits one in place.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COMPONENTS = ("chaincode", "storage", "ml", "clients", "verifier")
INTERNAL = {"trainproof", "trainproof-chaincode", "trainproof-storage", "trainproof-ml", "trainproof-verifier"}


def _name(requirement: str) -> str:
    return requirement.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()


def requirements(components: list[str], groups: list[str]) -> list[str]:
    found: set[str] = set()
    for component in components:
        project = tomllib.loads((ROOT / component / "pyproject.toml").read_text())["project"]
        found.update(r for r in project.get("dependencies", []) if _name(r) not in INTERNAL)
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("dependency-groups", {})
    for group in groups:
        found.update(workspace[group])
    return sorted(found)


def main(argv: list[str]) -> int:
    if argv == ["all"]:
        lines = requirements(list(COMPONENTS), ["test", "build"])
    elif argv and all(a in COMPONENTS for a in argv):
        lines = requirements(argv, ["build"])
    else:
        print(f"usage: requirements.py all | COMPONENT… (of {', '.join(COMPONENTS)})", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
