"""Test identities, payloads and a small driver around the in-memory ledger.

Identities are real X.509 certificates issued by a per-org CA, with Fabric NodeOU-style subject
OUs (OU=admin / OU=client), so the contract parses exactly what a peer would hand it.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from trainproof.chaincode.contract.router import handle
from tests.fakes.memory_ledger import MemoryLedger
from trainproof.chaincode.shim.stub import ChaincodeError, Creator

NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2035, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass(frozen=True)
class Party:
    name: str
    creator: Creator

    @property
    def mspid(self) -> str:
        return self.creator.mspid

    @property
    def pem(self) -> str:
        return self.creator.cert_pem.decode()

    @property
    def fingerprint(self) -> str:
        der = x509.load_pem_x509_certificate(self.creator.cert_pem).public_bytes(Encoding.DER)
        return hashlib.sha256(der).hexdigest()


@cache
def _ca(mspid: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    org = mspid.removesuffix("MSP").lower()
    return key, x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{org}.example.com"),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"ca.{org}.example.com")])


@cache
def party(mspid: str, common_name: str, ou: str) -> Party:
    """A certificate for ``common_name`` with OU=``ou``, issued by ``mspid``'s CA."""
    return keyed_party(mspid, common_name, ou)[0]


def keyed_party(mspid: str, common_name: str, ou: str = "client") -> tuple[Party, ec.EllipticCurvePrivateKey]:
    """As ``party``, a fresh one each call, with its private key: an identity that can unwrap
    the data keys it is sent (issue #18)."""
    ca_key, ca_name = _ca(mspid)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(ca_key, hashes.SHA256())
    )
    return Party(common_name, Creator(mspid=mspid, cert_pem=cert.public_bytes(Encoding.PEM))), key


class Cast:
    """Everyone in the tests: two orgs, admins, clients, and verifiers (registered by fixtures)."""

    admin1 = party("Org1MSP", "Admin@org1.example.com", "admin")
    admin2 = party("Org2MSP", "Admin@org2.example.com", "admin")
    client1 = party("Org1MSP", "User1@org1.example.com", "client")
    client2 = party("Org2MSP", "User1@org2.example.com", "client")
    peer1 = party("Org1MSP", "peer0.org1.example.com", "peer")
    org1_verifiers = [party("Org1MSP", f"verifier{i}@org1.example.com", "client") for i in range(2)]
    org2_verifiers = [party("Org2MSP", f"verifier{i}@org2.example.com", "client") for i in range(4)]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha_hex(hex_text: str) -> str:
    """SHA-256 of the bytes a hex string spells: a seed commitment."""
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest()


def decaying_scores(n: int) -> list[float]:
    """Absolute-change scores of honest training: a smooth power-law decay."""
    return [1000.0 * (i + 1) ** -0.7 for i in range(n)]


def decaying_loss(snapshot: int) -> float:
    """The probe loss of honest training at a snapshot: falling, never rising."""
    return round(2.3 * (snapshot + 1) ** -0.5, 9)


def model_payload(
    model_id: str | None = None,
    *,
    parent: str | None = None,
    intervals: int = 10,
    scores: list[float] | None = None,
    name: str = "mnist-mlp",
    steps_per_interval: int = 100,
) -> dict[str, Any]:
    """A complete, valid SubmitModel argument, shaped like the recorder's run.json."""
    model_id = model_id or str(uuid.uuid4())
    scores = scores if scores is not None else decaying_scores(intervals)
    assert len(scores) == intervals
    layers = ["fc1", "fc2"]
    chain = [sha(f"{model_id}/ring/{j}") for j in range(len(layers) + 1)]
    return {
        "model_id": model_id,
        "name": name,
        "version": "1.0.0",
        "parent_id": parent,
        "recipe": {
            "architecture": {"name": "mlp", "params": {"in_features": 64, "hidden": [32], "out_features": 10}},
            "optimizer": {"name": "sgd", "params": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0}},
            "scheduler": None,
            "loss": "cross_entropy",
            "seeds": {"torch": 1, "data": 4, "numpy": 2, "python": 3},
            "batch_size": 64,
            "drop_last": True,
            "data_order": "permutation-v1",
            "steps_per_interval": steps_per_interval,
            "total_steps": steps_per_interval * intervals,
        },
        "dataset": {
            "name": "mnist-train",
            "sha256": sha("dataset"),
            "size": 47_040_016,
            "uri": f"s3://datasets/sha256/{sha('dataset')}",
            "preprocessing": ["to_tensor", {"op": "normalize", "params": {"mean": [0.1307], "std": [0.3081]}}],
        },
        "environment": {
            "packages": {"torch": "2.15.0", "numpy": "2.4.6", "safetensors": "0.8.0"},
            "device": "cpu",
            "threads": 1,
            "git_commit": sha("commit")[:40],
            "git_dirty": False,
            "git_repository": True,
            "command_line": "python train.py --epochs 1",
            "fingerprint": {"torch": "2.15.0", "threads": 1, "device": "cpu", "deterministic_algorithms": True},
        },
        "snapshots": [
            {"index": i, "step": i * steps_per_interval, "sha256": sha(f"{model_id}/snap{i}"), "size": 410_000,
             "uri": f"s3://snapshots/sha256/{sha(f'{model_id}/snap{i}')}"}
            for i in range(intervals + 1)
        ],
        "scores": [
            {"interval": i, "absolute": s, "l2": s / 30, "percent": s / 1000, "cosine": 0.001,
             "input_shift": 0.0 if i == 0 else 0.05 * (1 + 0.1 * math.sin(2.9 * i)),
             "input_profile": [s / 64] * 64, "probe_loss": [decaying_loss(i), decaying_loss(i + 1)]}
            for i, s in enumerate(scores)
        ],
        "layer_hashes": {"layers": layers, "chain": chain},
        "metrics": {"accuracy": 0.97, "loss": 0.11},
    }


def sealed_payload(payload: dict[str, Any], dataset: bool = True, snapshots: list[int] | None = None) -> dict[str, Any]:
    """``payload`` made confidential (issue #18): the dataset (if ``dataset``) and the given
    snapshots (default: all) sealed, each entry's uri addressing a made-up ciphertext."""
    out = json.loads(json.dumps(payload))
    indices = range(len(out["snapshots"])) if snapshots is None else snapshots
    entries = ([out["dataset"]] if dataset else []) + [out["snapshots"][i] for i in indices]
    for entry in entries:
        entry["uri"] = entry["uri"].rsplit("/", 1)[0] + "/" + sha(entry["sha256"] + "/sealed")
    out["confidential"] = {
        **({"dataset": {"sha256": sha(out["dataset"]["sha256"] + "/sealed"), "size": out["dataset"]["size"] + 800}}
           if dataset else {}),
        **({"snapshots": [{"index": i, "sha256": sha(out["snapshots"][i]["sha256"] + "/sealed"),
                           "size": out["snapshots"][i]["size"] + 53} for i in indices]} if indices else {}),
    }
    return out


def evidence(reason: str | None = None, **distances: float) -> dict[str, Any]:
    ev: dict[str, Any] = {"distances": distances or {"absolute": 0.0, "l2": 0.0},
                          "replay_sha256": sha("replay"), "scores_match": True}
    if reason:
        ev["reason"] = reason
    return ev


def attestation_request(model: dict[str, Any], count: int = 1, **changes: Any) -> dict[str, Any]:
    """A valid AttestOutput argument for ``model``'s (a certificate's) final weights: one output,
    or a batch of ``count`` with a made-up root; its batch file is not in storage."""
    from trainproof.chaincode.contract.attestations import leaf_hash

    final = model["snapshots"][-1]
    body: dict[str, Any] = {
        "model_id": model["model_id"], "weights_sha256": final["sha256"], "count": count,
        "batch": {"uri": f"s3://datasets/sha256/{sha('batch')}", "sha256": sha("batch"), "size": 4096},
        "execution": {"device": "cpu", "torch": "2.15.0"}}
    if count == 1:
        body["output"] = {"input_sha256": sha("in"), "output_sha256": sha("out"), "shape": [1, 3],
                          "values": [0.25, -1.5, 3.0]}
        body["root"] = leaf_hash(sha("in"), sha("out"))
    else:
        body["root"] = sha("some root")
    return {**body, **changes}


def _encode(arg: Any) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    return json.dumps(arg).encode()


def org_secret(mspid: str, model_id: str) -> str:
    """A member org's seed secret in the unit tests (each dispatcher derives its own)."""
    return sha(f"secret/{mspid}/{model_id}")


class Net:
    """The contract on an in-memory ledger, driven as a client would drive it.

    ``call(…, "AssignVerifiers", model_id)`` first runs the model's seed round as the member orgs'
    dispatchers would (both admins commit, then reveal ``org_secret``) unless one was started;
    set ``auto_seed = False`` to drive CommitSeed/RevealSeed yourself."""

    auto_seed = True

    def __init__(self) -> None:
        self.ledger = MemoryLedger()

    def call(self, who: Party, function: str, *args: Any, **kw: Any) -> Any:
        """Endorse and commit; returns the parsed response."""
        if function == "AssignVerifiers" and self.auto_seed and args:
            self.seed_round(str(args[0]))
        raw = self.ledger.invoke(handle, who.creator, function, [_encode(a) for a in args], **kw)
        return json.loads(raw)

    def seed_round(self, model_id: str, admins: tuple[Party, ...] = (Cast.admin1, Cast.admin2)) -> None:
        """Every given org commits, then reveals, its ``org_secret``; does nothing if a round began
        or the model is no longer SUBMITTED."""
        try:
            self.call(Cast.client2, "GetSeedRound", model_id)
            return
        except ChaincodeError:
            pass
        try:
            if self.call(Cast.client2, "GetModel", model_id)["status"] != "SUBMITTED":
                return
        except ChaincodeError:
            return
        for admin in admins:
            self.call(admin, "CommitSeed", model_id, sha_hex(org_secret(admin.mspid, model_id)))
        for admin in admins:
            self.call(admin, "RevealSeed", model_id, org_secret(admin.mspid, model_id))

    def refuse(self, who: Party, function: str, *args: Any, status: int | None = None, match: str = "", **kw: Any
               ) -> ChaincodeError:
        """Assert the transaction is refused with a message naming the rule, and changes nothing:
        the committed state reads back identical and the contract buffered no write before refusing."""
        before = self.ledger.snapshot()
        endorsement = self.ledger.endorse(handle, who.creator, function, [_encode(a) for a in args], **kw)
        error = endorsement.error
        assert error is not None, f"{function} was accepted: {endorsement.response!r}"
        assert error.message.startswith((f"{function} refused: ", f"{function[:64]!r} refused: ")), error.message
        assert match in error.message, error.message
        if status is not None:
            assert error.status == status, (error.status, error.message)
        assert endorsement.stub.writes == {}, f"{function} wrote before refusing: {sorted(endorsement.stub.writes)}"
        assert endorsement.stub.event is None
        assert self.ledger.snapshot() == before
        return error

    def register_verifier(self, admin: Party, verifier: Party) -> dict[str, Any]:
        """The admin authorizes the verifier, which then activates its own record."""
        self.call(admin, "RegisterVerifier", {"cert_pem": verifier.pem, "name": verifier.name})
        return self.call(verifier, "ActivateVerifier")

    def register_verifiers(self) -> None:
        """Each org's admin registers its own verifiers: two in Org1, four in Org2."""
        for v in Cast.org1_verifiers:
            self.register_verifier(Cast.admin1, v)
        for v in Cast.org2_verifiers:
            self.register_verifier(Cast.admin2, v)

    def set_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The consortium changes settings: Org1's admin proposes, Org2's approves (applied)."""
        proposal = self.call(Cast.admin1, "ProposeConfig", changes)
        applied = self.call(Cast.admin2, "ApproveConfig", proposal["proposal_id"])
        assert applied["status"] == "APPLIED", applied
        return applied

    def last_event(self) -> tuple[str, dict[str, Any]]:
        _, name, payload = self.ledger.events[-1]
        return name, json.loads(payload)

    def advance(self, seconds: float) -> None:
        self.ledger.clock += seconds


def replays(assignment: dict[str, Any]) -> dict[int, list[str]]:
    """{interval: seated fingerprints} of the intervals an assignment has replayed (kind "replay")."""
    return {r["interval"]: r["verifiers"] for r in assignment["intervals"] if r.get("kind", "replay") == "replay"}


def confirm_score_checks(net: Net, assignment: dict[str, Any]) -> None:
    """Every score check of ``assignment`` (the unselected intervals) confirmed by its first two
    seats, so that a test of the replayed intervals' votes decides the model with them alone."""
    by_fp = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}
    for rec in assignment["intervals"]:
        if rec.get("kind") == "scores":
            for fp in rec["verifiers"][:2]:
                net.call(by_fp[fp], "SubmitVote", assignment["model_id"], str(rec["interval"]), "ACCEPT",
                         {**evidence(), "replay_sha256": "0" * 64})
