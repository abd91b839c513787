"""One command's view of the network: who it acts as, and connections opened only when needed.

Commands that only read local files (``check`` without ``--restore``'s download, ``--help``)
never open a gRPC channel; the gateway is closed when the command ends.
"""
from __future__ import annotations

from dataclasses import dataclass, field


from trainproof.storage import ArtifactStore
from trainproof.contract import TrainproofContract
from trainproof.gateway import Contract, Gateway
from trainproof.profile import IdentityFiles, Profile


@dataclass
class Session:
    identity: str
    as_json: bool = False
    _profile: Profile | None = field(default=None, repr=False)
    _gateway: Gateway | None = field(default=None, repr=False)
    _contract: Contract | None = field(default=None, repr=False)

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = Profile.load()
        return self._profile

    @property
    def files(self) -> IdentityFiles:
        return self.profile.identity_files(self.identity)

    @property
    def org(self) -> str:
        """The identity's org as storage names it (Org1MSP → org1)."""
        return self.files.mspid.removesuffix("MSP").lower()

    @property
    def contract(self) -> Contract:
        if self._contract is None:
            files = self.files  # an unknown identity fails here, before any connection
            self._gateway = self.profile.connect(files.name)
            self._contract = self._gateway.get_network(self.profile.channel).get_contract(self.profile.chaincode)
        return self._contract

    @property
    def ledger(self) -> TrainproofContract:
        """The contract's typed calls over this session's gateway."""
        return TrainproofContract(self.contract)

    def store(self) -> ArtifactStore:
        """MinIO as this identity's org: verifiers with the verifier key, everyone else as submitter."""
        role = "verifier" if self.files.role == "verifier" else "submitter"
        return ArtifactStore.from_state(role=role, org=self.org)

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = self._contract = None
