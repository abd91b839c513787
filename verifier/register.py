"""Registers every verifier identity of the local network: ``python -m trainproof.verifier.register``.

Two steps, because the registry holds only certificates Fabric's MSP validated: each org's admin
authorizes its own org's verifiers (RegisterVerifier), then each verifier activates its own
record (ActivateVerifier, signed with its own key). Identities already registered, or already
authorized, skip the step they have done, so running it again changes nothing.
"""
from __future__ import annotations

from trainproof.contract import TrainproofContract
from trainproof.gateway.identity import fingerprint
from trainproof.profile import Profile


def _ledger(profile: Profile, name: str):
    gateway = profile.connect(name)
    return gateway, TrainproofContract(gateway.get_network(profile.channel).get_contract(profile.chaincode))


def register_all(profile: Profile) -> list[str]:
    registered = []
    for org in sorted({f.name.split("-")[0] for f in profile.identities.values()}):
        admin = f"{org}-admin"
        if admin not in profile.identities:
            continue
        mine = {name: files for name, files in sorted(profile.identities.items())
                if files.role == "verifier" and name.startswith(f"{org}-")}
        gateway, ledger = _ledger(profile, admin)
        try:
            known = {v["fingerprint"] for v in ledger.list_verifiers()}
            pending = {v["fingerprint"] for v in ledger.list_verifiers("PENDING", profile.identity_files(admin).mspid)}
            todo = {name: files for name, files in mine.items() if fingerprint(files.cert.read_bytes()) not in known}
            for name, files in todo.items():
                if fingerprint(files.cert.read_bytes()) not in pending:
                    ledger.register_verifier(files.cert.read_text(), name)
        finally:
            gateway.close()
        for name in todo:
            gateway, own = _ledger(profile, name)
            try:
                own.activate_verifier()
            finally:
                gateway.close()
            registered.append(name)
    return registered


def main() -> None:
    done = register_all(Profile.load())
    print(f"registered {len(done)} verifier(s): {', '.join(done)}" if done else "all verifiers already registered")


if __name__ == "__main__":
    main()
