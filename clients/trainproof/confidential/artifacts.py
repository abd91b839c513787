"""Confidential artifacts on the client side: seal on upload, keep the keys, deliver them, open them.

    uris, sealed, keys = seal_and_upload(files, store, {"dataset", "snapshots"})   # submit --confidential
    KeyStore(home, identity).save(model_id, keys)                                   # the submitter's own copy
    deliver(ledger, model_id, keys, own_cert)         # after assignment and after each re-staffing
    fetch(store, ledger, identity, certificate, entry, dest)   # a reader: plain or sealed, hash-checked

Each artifact gets its own fresh data key (``sealing.new_key``): a key handed to a verifier opens
only what that key sealed. The keys stay with the submitter in ``$TRAINPROOF_HOME/keys/IDENTITY/``
(0700 directories, 0600 files); on the ledger they exist only wrapped to a reader's certificate.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional

from cryptography import x509

from trainproof.confidential import keywrap
from trainproof.contract import TrainproofContract
from trainproof.profile import IdentityFiles
from trainproof.storage import ArtifactStore, ProgressFn
from trainproof.storage.sealing import new_key

SEALABLE = ("dataset", "snapshots")


class ConfidentialError(Exception):
    """A confidential model's keys are missing or unusable here; the message says what to do."""


def seal_and_upload(files: list[Any], store: ArtifactStore, which: Iterable[str],
                    progress: Optional[ProgressFn] = None) -> tuple[dict[str, str], dict[str, Any], dict[str, bytes]]:
    """Store the run's artifacts (``submission.LocalFile``s), sealing the kinds in ``which``
    ("dataset", "snapshots"): label → URI (the ciphertext's where sealed), the certificate's
    ``confidential`` object, and plaintext SHA-256 → data key. A file whose plaintext is not what
    run.json recorded is refused (ConfidentialError), as ``submission.upload_artifacts`` refuses it."""
    kinds = set(which)
    unknown = kinds - set(SEALABLE)
    if unknown:
        raise ConfidentialError(f"--confidential takes {', '.join(SEALABLE)} (or all), not {', '.join(sorted(unknown))}")
    uris: dict[str, str] = {}
    sealed: dict[str, Any] = {}
    keys: dict[str, bytes] = {}
    for f in files:
        kind = "dataset" if f.label == "dataset" else "snapshots"
        if kind not in kinds:
            artifact = store.put_file(f.path, f.bucket, progress)
            stored_sha = artifact.sha256
            uris[f.label] = artifact.uri
        else:
            key = new_key()
            artifact = store.put_sealed(f.path, f.bucket, key, progress)
            stored_sha = artifact.plaintext_sha256
            uris[f.label] = artifact.uri
            keys[f.sha256] = key
            entry = {"sha256": artifact.sha256, "size": artifact.size}
            if kind == "dataset":
                sealed["dataset"] = entry
            else:
                sealed.setdefault("snapshots", []).append({"index": int(f.label.split()[1]), **entry})
        if stored_sha != f.sha256:
            raise ConfidentialError(f"{f.label} changed since it was recorded: {f.path} has SHA-256 {stored_sha}, "
                                    f"run.json says {f.sha256}; re-record the run rather than edit it")
    return uris, sealed, keys


def sealed_entries(certificate: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Plaintext SHA-256 → the ciphertext's {sha256, size} for every sealed artifact of a certificate."""
    sealed = certificate.get("confidential") or {}
    out = {}
    if "dataset" in sealed:
        out[certificate["dataset"]["sha256"]] = sealed["dataset"]
    by_index = {s["index"]: s for s in certificate["snapshots"]}
    for entry in sealed.get("snapshots", []):
        out[by_index[entry["index"]]["sha256"]] = entry
    return out


class KeyStore:
    """An identity's data keys: one private JSON file per model it submitted, and one per sealed
    attestation batch file it made (``batches/``, by the batch's plaintext SHA-256)."""

    def __init__(self, home: Path, identity: str) -> None:
        self.directory = Path(home) / "keys" / identity

    def path(self, model_id: str) -> Path:
        return self.directory / f"{model_id}.json"

    def save(self, model_id: str, keys: dict[str, bytes]) -> Path:
        return self._write(self.path(model_id), {"model_id": model_id,
                                                 "keys": {sha: key.hex() for sha, key in sorted(keys.items())}})

    def save_batch_key(self, batch_sha256: str, key: bytes) -> Path:
        """Kept before the attestation is committed: the audit that needs it may come at any time."""
        return self._write(self.directory / "batches" / f"{batch_sha256}.json", {"batch": batch_sha256, "key": key.hex()})

    def batch_key(self, batch_sha256: str) -> bytes | None:
        path = self.directory / "batches" / f"{batch_sha256}.json"
        return bytes.fromhex(json.loads(path.read_text())["key"]) if path.is_file() else None

    def _write(self, path: Path, record: dict[str, Any]) -> Path:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in {self.directory.parent, self.directory, path.parent}:
            os.chmod(directory, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        return path

    def load(self, model_id: str) -> dict[str, bytes]:
        path = self.path(model_id)
        if not path.is_file():
            raise ConfidentialError(f"no data keys for model {model_id} in {self.directory}: only its submitter holds "
                                    "them (act as the identity, with the $TRAINPROOF_HOME, that submitted it)")
        return {sha: bytes.fromhex(key) for sha, key in json.loads(path.read_text())["keys"].items()}


def assigned_now(ledger: TrainproofContract, model_id: str) -> list[str]:
    """Fingerprints of the verifiers assigned now to one of the model's open intervals."""
    record = ledger.get_assignment(model_id)
    return sorted({fp for rec in record.get("intervals", []) if not rec.get("decision") for fp in rec["verifiers"]})


def deliver(ledger: TrainproofContract, model_id: str, keys: dict[str, bytes],
            recipients: list[x509.Certificate], child: str | None = None) -> list[str]:
    """Wrap every key to each recipient's certificate and post them (DeliverDataKeys, as the
    submitter; ``child``: a lineage delivery to that child's interval-0 verifiers). Returns the
    recipients' fingerprints."""
    if not recipients:
        return []
    ledger.deliver_data_keys(model_id, keywrap.delivery(keys, recipients, model_id)["keys"], child=child)
    return [keywrap.fingerprint(c) for c in recipients]


def assigned_certificates(ledger: TrainproofContract, model_id: str) -> list[x509.Certificate]:
    """The certificates of the ACTIVE verifiers assigned now, from the verifier registry.

    A suspended verifier that is still assigned is left out: the contract gives it no new keys,
    and since it refuses a whole delivery that names one, including it would leave every other
    assigned verifier without its keys."""
    wanted = set(assigned_now(ledger, model_id))
    return [keywrap.load_certificate(v["cert_pem"]) for v in ledger.list_verifiers(status="ACTIVE")
            if v["fingerprint"] in wanted]


def deliver_to_assigned(ledger: TrainproofContract, model_id: str, keys: dict[str, bytes]) -> list[str]:
    """Deliver to the ACTIVE verifiers assigned now."""
    return deliver(ledger, model_id, keys, assigned_certificates(ledger, model_id))


def my_keys(ledger: TrainproofContract, model_id: str, identity: IdentityFiles,
            child: str | None = None) -> dict[str, bytes]:
    """This identity's data keys of the model (``child``: as a verifier of that child's lineage),
    unwrapped with its own private key."""
    return _unwrapped(ledger.get_data_keys(model_id, child), model_id, identity)


def my_batch_key(ledger: TrainproofContract, attestation: dict[str, Any], identity: IdentityFiles) -> bytes:
    """This identity's key to an attestation's sealed batch file (its ledger record), unwrapped."""
    answer = ledger.get_attestation_key(attestation["attestation_id"])
    return _unwrapped(answer, attestation["model_id"], identity)[attestation["batch"]["sha256"]]


def _unwrapped(answer: dict[str, Any], model_id: str, identity: IdentityFiles) -> dict[str, bytes]:
    cert = keywrap.load_certificate(identity.cert.read_bytes())
    private = keywrap.load_private_key(identity.key)
    return {sha: keywrap.unwrap(wrapped, private, cert, model_id, sha) for sha, wrapped in answer["keys"].items()}


def fetch(store: ArtifactStore, keys: dict[str, bytes] | None, certificate: dict[str, Any], entry: dict[str, Any],
          dest: Path, progress: Optional[ProgressFn] = None) -> Path:
    """A certificate's artifact (its dataset or snapshot ``entry``) at ``dest``, accepted only with
    the ledger's hashes: decrypted while downloading when it is sealed (``keys``: this reader's)."""
    sealed = sealed_entries(certificate).get(entry["sha256"])
    if sealed is None:
        return store.get_file(entry["uri"], entry["sha256"], dest, progress, expected_size=entry["size"])
    key = (keys or {}).get(entry["sha256"])
    if key is None:
        raise ConfidentialError(f"artifact {entry['sha256'][:16]}… of model {certificate['model_id']} is sealed and no "
                                "data key for it was delivered to this identity; ask its submitter for a grant "
                                "(`trainproof grant`)")
    return store.get_sealed(entry["uri"], sealed["sha256"], entry["sha256"], key, dest, progress,
                            expected_size=sealed["size"])


def auditing_now(ledger: TrainproofContract) -> list[tuple[str, str, str]]:
    """(model id, attestation id, verifier fingerprint) of every AUDITING attestation."""
    found, bookmark = [], None
    while True:
        page = ledger.list_attestations(audit="AUDITING", bookmark=bookmark)
        found += [(a["model_id"], a["attestation_id"], a["audit"]["verifier"]) for a in page["attestations"]]
        bookmark = page.get("bookmark")
        if not bookmark:
            return found


def interval0_seats(ledger: TrainproofContract, model_id: str) -> set[str]:
    """The verifiers checking interval 0 now (its lineage claim among them); none once it is decided."""
    record = next((r for r in ledger.get_assignment(model_id).get("intervals", []) if int(r["interval"]) == 0), None)
    return set() if record is None or record.get("decision") else set(record["verifiers"])


def assigned_children(ledger: TrainproofContract, parent_id: str) -> list[dict[str, Any]]:
    """The parent's direct children that are ASSIGNED (GetLineage's nodes, every page)."""
    found, bookmark = [], None
    while True:
        page = ledger.get_lineage(parent_id, page_size=1000, bookmark=bookmark)
        found += [c for c in page["children"] if c["status"] == "ASSIGNED"]
        bookmark = page.get("bookmark")
        if not bookmark:
            return found


class KeyAgent:
    """Delivers a submitter's data keys whenever one of its confidential models is (re-)staffed,
    the final snapshot's key to the verifier an audit draws for one of its attestations, and the
    same key to the verifiers checking a child's lineage.

    It reads the ledger, not events (a missed event would leave verifiers waiting): every pass
    looks at each model in the identity's key store that is ASSIGNED, and delivers to the ACTIVE
    verifiers assigned now when they differ from the ones it last delivered to: newcomers of a
    re-staffing, or a suspended verifier made ACTIVE again (a suspended one gets nothing). Then
    it delivers to each ACTIVE verifier checking an attestation of those models now that it has
    not delivered to for that attestation: the final snapshot's key only, all it recomputes with.
    Last, for each ASSIGNED child of those models that the identity itself or one of its grantees
    submitted, starting from another file than the final snapshot: the final snapshot's key to
    the ACTIVE verifiers of the child's interval 0, which compare the child's start with it. A
    stranger's child gets nothing (anyone may declare any parent; the contract refuses it too).
    And for every attestation the identity made whose batch file is sealed (its key in the store,
    ``batches/``), that key to the verifier its audit draws."""

    def __init__(self, ledger: TrainproofContract, store: KeyStore) -> None:
        self.ledger, self.store = ledger, store
        self.delivered: dict[str, frozenset[str]] = {}
        self.audits: set[tuple[str, str]] = set()  # (attestation id, verifier) delivered to
        self.lineage: dict[tuple[str, str], frozenset[str]] = {}  # (parent, child) → its seats delivered to
        self.same_file: set[str] = set()  # children starting from the final snapshot file itself: no key
        self.batches: set[tuple[str, str]] = set()  # (attestation id, verifier) looked at for a batch key

    def active_pems(self) -> dict[str, str]:
        """Fingerprint → certificate of every ACTIVE verifier (a suspended one gets nothing)."""
        return {v["fingerprint"]: v["cert_pem"] for v in self.ledger.list_verifiers(status="ACTIVE")}

    def models(self) -> list[str]:
        return sorted(p.stem for p in self.store.directory.glob("*.json")) if self.store.directory.is_dir() else []

    def run_once(self) -> dict[str, list[str]]:
        """One pass: model id → the fingerprints delivered to in this pass (only models that changed)."""
        done = {}
        for model_id in self.models():
            if self.ledger.model_state(model_id)["status"] != "ASSIGNED":
                continue
            recipients = assigned_certificates(self.ledger, model_id)
            now = frozenset(keywrap.fingerprint(c) for c in recipients)
            if now and self.delivered.get(model_id) != now:
                done[model_id] = deliver(self.ledger, model_id, self.store.load(model_id), recipients)
                self.delivered[model_id] = now
        auditing = auditing_now(self.ledger)
        own = set(self.models())
        pending = [a for a in auditing if a[0] in own and (a[1], a[2]) not in self.audits]
        batches = [a for a in auditing if (a[1], a[2]) not in self.batches]
        active = self.active_pems() if pending or batches else {}
        for model_id, aid, fp in pending:
            if fp not in active:
                continue  # suspended since the draw: the contract gives it nothing
            final = self.ledger.get_model(model_id)["certificate"]["snapshots"][-1]["sha256"]
            keys = {sha: key for sha, key in self.store.load(model_id).items() if sha == final}
            if keys:  # a final snapshot stored in the clear needs no key
                done.setdefault(model_id, []).extend(
                    deliver(self.ledger, model_id, keys, [keywrap.load_certificate(active[fp])]))
            self.audits.add((aid, fp))
        for model_id, aid, fp in batches:
            record = self.ledger.get_attestation(aid)
            key = self.store.batch_key(record["batch"]["sha256"]) if "sealed" in record["batch"] else None
            if key is not None and fp in active:
                self.ledger.deliver_attestation_key(aid, keywrap.delivery({record["batch"]["sha256"]: key},
                                                                          [keywrap.load_certificate(active[fp])],
                                                                          model_id)["keys"])
                done.setdefault(model_id, []).append(fp)
            if fp in active:  # a suspended auditor may be made ACTIVE again before its deadline
                self.batches.add((aid, fp))
        for model_id in self.models():
            for fps in self.deliver_lineage(model_id).values():
                done.setdefault(model_id, []).extend(fps)
        return done

    def deliver_lineage(self, parent_id: str) -> dict[str, list[str]]:
        """Child id → the interval-0 verifiers given the parent's final key in this pass."""
        parent = self.ledger.get_model(parent_id)
        final = parent["certificate"]["snapshots"][-1]["sha256"]
        key = self.store.load(parent_id).get(final)
        children = [c for c in assigned_children(self.ledger, parent_id) if c["model_id"] not in self.same_file]
        if key is None or not children:  # a final snapshot in the clear needs no key
            return {}
        mine = (parent["submitter"]["fingerprint"], parent["submitter"]["mspid"])
        trusted = {mine} | {(g["fingerprint"], g["mspid"]) for g in self.ledger.list_grants(parent_id)}
        active = self.active_pems()
        out = {}
        for child in children:
            cid = child["model_id"]
            if (child["submitter"]["fingerprint"], child["submitter"]["mspid"]) not in trusted:
                continue
            if self.ledger.get_model(cid)["certificate"]["snapshots"][0]["sha256"] == final:
                self.same_file.add(cid)
                continue
            now = frozenset(fp for fp in interval0_seats(self.ledger, cid) if fp in active)
            if now and self.lineage.get((parent_id, cid)) != now:
                out[cid] = deliver(self.ledger, parent_id, {final: key},
                                   [keywrap.load_certificate(active[fp]) for fp in sorted(now)], child=cid)
                self.lineage[(parent_id, cid)] = now
        return out
