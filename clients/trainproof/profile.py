"""The connection profile of a running network: endpoints, TLS roots and identities.

``network/scripts/up.sh`` writes ``$TRAINPROOF_HOME/profile.json``; every client (CLI,
verifier workers, tests) reads it here, so no address or path is written twice.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from trainproof.gateway import Endpoint, Gateway, Identity, Timeouts, connect, signer_from_key_file
from trainproof.gateway.endorsements import MSPs

REPO_ROOT = Path(__file__).resolve().parents[2]


class ProfileError(Exception):
    """No usable profile: the network was never started here, or TRAINPROOF_HOME points elsewhere."""


def network_home() -> Path:
    return Path(os.environ.get("TRAINPROOF_HOME", REPO_ROOT / ".network"))


@dataclass(frozen=True)
class IdentityFiles:
    name: str
    mspid: str
    role: str  # admin | client | verifier
    cert: Path
    key: Path

    def identity(self) -> Identity:
        return Identity.from_files(self.mspid, self.cert)


@dataclass(frozen=True)
class Profile:
    home: Path
    channel: str
    chaincode: str
    peers: list[Endpoint]
    orderers: list[Endpoint]
    identities: dict[str, IdentityFiles]
    services: dict

    @classmethod
    def load(cls, home: Path | None = None) -> Profile:
        home = home or network_home()
        path = home / "profile.json"
        if not path.exists():
            raise ProfileError(f"no network profile at {path}: start the network with `make network-up`")
        data = json.loads(path.read_text())

        def endpoint(node: dict) -> Endpoint:
            return Endpoint(node["address"], Path(node["tls_ca"]).read_bytes(), node.get("server_name", ""),
                            node.get("mspid", ""))

        identities = {
            name: IdentityFiles(name, i["mspid"], i["role"], Path(i["cert"]), Path(i["key"]))
            for name, i in data["identities"].items()
        }
        return cls(home, data["channel"], data["chaincode"], [endpoint(p) for p in data["peers"]],
                   [endpoint(o) for o in data.get("orderers", [])], identities, data.get("services", {}))

    def identity_files(self, name: str) -> IdentityFiles:
        if name not in self.identities:
            known = ", ".join(sorted(self.identities))
            raise ProfileError(f"unknown identity {name!r}; this network has: {known}")
        return self.identities[name]

    @cached_property
    def msps(self) -> MSPs:
        """The channel's MSPs, from its configuration block (``blocks/<channel>.block``): what every
        gateway checks endorsements against, the same CA roots the peers validate with."""
        path = self.home / "blocks" / f"{self.channel}.block"
        if not path.is_file():
            raise ProfileError(f"no channel configuration block at {path}: copy it from the network's home "
                               "with the profile (clients check endorsements against its MSPs)")
        return MSPs.from_file(path)

    def connect(self, identity: str, timeouts: Timeouts | None = None) -> Gateway:
        """A gateway to every peer, checking endorsements against the channel's MSPs and taking
        commit status from the identity's own org's peer; the orderers are passed along but the
        peers' gateways reach them."""
        files = self.identity_files(identity)
        return connect(files.identity(), signer_from_key_file(files.key), self.peers, self.orderers, timeouts,
                       msps=lambda: self.msps)
