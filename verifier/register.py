"""Registers every verifier identity of the local network: ``python -m trainproof.verifier.register``.

Each org's admin registers its own org's verifiers (the contract allows nothing else).
Already registered identities are left as they are, so running it again changes nothing.
"""
from __future__ import annotations

from trainproof.contract import TrainproofContract
from trainproof.profile import Profile
from trainproof.gateway.identity import fingerprint


def register_all(profile: Profile) -> list[str]:
    registered = []
    for org in sorted({f.name.split("-")[0] for f in profile.identities.values()}):
        admin = f"{org}-admin"
        if admin not in profile.identities:
            continue
        gateway = profile.connect(admin)
        try:
            ledger = TrainproofContract(gateway.get_network(profile.channel).get_contract(profile.chaincode))
            known = {v["fingerprint"] for v in ledger.list_verifiers()}
            for name, files in sorted(profile.identities.items()):
                if files.role != "verifier" or not name.startswith(f"{org}-"):
                    continue
                cert = files.cert.read_bytes()
                if fingerprint(cert) in known:
                    continue
                ledger.register_verifier(cert.decode(), name)
                registered.append(name)
        finally:
            gateway.close()
    return registered


def main() -> None:
    done = register_all(Profile.load())
    print(f"registered {len(done)} verifier(s): {', '.join(done)}" if done else "all verifiers already registered")


if __name__ == "__main__":
    main()
