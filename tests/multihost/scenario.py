"""Steps of the multi-host test, run *inside* the first test host's network namespace
(``ip netns exec HOST python -m tests.multihost.scenario STEP …``) so that every packet stays in
namespaces the test made. Each step prints one JSON object."""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from pathlib import Path

from fabric_protos.common import ledger_pb2

from trainproof.storage import ArtifactStore
from trainproof.gateway import connect, signer_from_key_file
from demo.digits import train_digits
from trainproof.profile import Profile
from trainproof.submission import model_state, submit_run, wait_for_verdict


def _contract(profile: Profile, identity: str = "org1-user1"):
    return profile.connect(identity).get_network(profile.channel).get_contract(profile.chaincode)


def submit(profile: Profile, name: str) -> dict:
    """Train a small honest digits model and submit it as org1's client."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"multihost-{name}-"))
    # a fresh seed: an artifact is claimed once on the ledger
    train_digits(run_dir, intervals=4, steps_per_interval=10, name=f"multihost-{name}",
                 seed=secrets.randbelow(2 ** 31 - 2) + 1)
    with ArtifactStore.from_state(role="submitter", org="org1") as store:
        submitted = submit_run(run_dir, _contract(profile), store)
    return {"model_id": submitted.model_id}


def status(profile: Profile, model_id: str) -> dict:
    return {"status": model_state(_contract(profile), model_id)["status"]}


def verdict(profile: Profile, model_id: str, timeout: float) -> dict:
    contract = _contract(profile)
    state = wait_for_verdict(contract, model_id, timeout=timeout)
    votes = json.loads(contract.evaluate("GetVotes", [model_id]))["votes"]
    return {"status": state["status"], "voter_msps": sorted({v["verifier"]["mspid"] for v in votes})}


def chains(profile: Profile) -> dict:
    """Each peer's own height and newest block hash, asked of that peer alone."""
    files = profile.identity_files("org1-user1")
    out = {}
    for peer in profile.peers:
        with connect(files.identity(), signer_from_key_file(files.key), [peer], []) as gateway:
            qscc = gateway.get_network(profile.channel).get_contract("qscc")
            info = ledger_pb2.BlockchainInfo.FromString(qscc.evaluate("GetChainInfo", [profile.channel]))
            out[peer.mspid] = {"height": info.height, "hash": info.currentBlockHash.hex()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("submit").add_argument("name")
    sub.add_parser("status").add_argument("model_id")
    v = sub.add_parser("verdict")
    v.add_argument("model_id")
    v.add_argument("--timeout", type=float, default=300)
    sub.add_parser("chains")
    args = parser.parse_args()
    profile = Profile.load()
    if args.step == "submit":
        result = submit(profile, args.name)
    elif args.step == "status":
        result = status(profile, args.model_id)
    elif args.step == "verdict":
        result = verdict(profile, args.model_id, args.timeout)
    else:
        result = chains(profile)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
