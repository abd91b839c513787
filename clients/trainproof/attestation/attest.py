"""Attesting outputs: run a VERIFIED model on inputs and have the contract sign what it gave.

    attested = attest(contract, store, model_id, inputs)      # one-off
    attester = Attester(contract, store, model_id)             # a service: the model loaded once
    attested = attester.attest(inputs)
    attested.receipt        # the JSON a third party checks with ``receipt.verify``

Steps, each needed for the receipt to mean something: the final snapshot is downloaded and
used only if its SHA-256 is the ledger's; the model is rebuilt from the architecture registry
(never code from the submission) and run deterministically; each (input row, output row) pair
becomes a Merkle leaf; the batch file (inputs and outputs) goes to the network's storage so an
auditing verifier can recompute it (sealed for a confidential model, with a fresh key kept in
the attester's key store and delivered by its key agent to the verifier an audit draws: inputs
given to a confidential model are not for every member to read); AttestOutput is endorsed by
every org and committed; the
receipt is built from the committed block and the configuration block in force for it.
"""
from __future__ import annotations

import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from trainproof.attestation import batch as batch_file
from trainproof.attestation import receipt
from trainproof.attestation.tensors import to_json_list
from trainproof.confidential.artifacts import KeyStore, fetch, my_keys
from trainproof.contract import TrainproofContract
from trainproof.gateway import CommitError, Contract
from trainproof.profile import IdentityFiles
from trainproof.storage import DATASETS, ArtifactStore
from trainproof.storage.sealing import new_key

MAX_CARRIED_VALUES = 1024  # an output this small travels inside the receipt (and, alone, on the ledger)
Progress = Callable[[str], None]


class AttestError(Exception):
    """The attestation cannot be made; the message says why and what to do."""


@dataclass
class Attested:
    attestation_id: str
    model_id: str
    block: int
    count: int
    root: str
    outputs: np.ndarray
    receipt: dict[str, Any]


def _carried(row: np.ndarray) -> dict[str, Any] | None:
    return {"shape": list(row.shape), "values": to_json_list(row)} if row.size <= MAX_CARRIED_VALUES else None


def request_for(model_id: str, weights_sha256: str, items: batch_file.Items, outputs: np.ndarray,
                batch: dict[str, Any], execution: dict[str, Any]) -> dict[str, Any]:
    """The AttestOutput argument (schema/attestation_request.json in the contract); ``batch`` is
    the stored batch file's {uri, sha256, size, sealed?}."""
    request: dict[str, Any] = {
        "model_id": model_id, "weights_sha256": weights_sha256, "count": items.count, "root": items.root(),
        "batch": batch, "execution": execution,
    }
    if items.count == 1:
        request["output"] = {"input_sha256": items.input_sha256[0], "output_sha256": items.output_sha256[0],
                             **(_carried(outputs[0]) or {})}
    return request


def commit(ledger: TrainproofContract, request: dict[str, Any]) -> tuple[str, int]:
    """Endorse and commit AttestOutput; the transaction id (= attestation id) and its block."""
    submitted = ledger.attest_output_async(request)
    status = submitted.get_status()
    if not status.successful:
        raise CommitError(f"AttestOutput {status.tx_id} committed as invalid: {status.code} (block {status.block_number})",
                          status.tx_id, status.code, status.block_number)
    return submitted.tx_id, status.block_number


def fetch_blocks(contract: Contract, block_number: int) -> tuple[bytes, bytes]:
    """The committed block and the configuration block in force for it, from the own org's peer."""
    from fabric_protos.common import common_pb2

    qscc = contract.network.get_contract("qscc")
    channel = contract.network.name
    raw = qscc.evaluate("GetBlockByNumber", [channel, str(block_number)])
    config_number = receipt.last_config_index(common_pb2.Block.FromString(raw))
    config_raw = raw if config_number == block_number else qscc.evaluate("GetBlockByNumber", [channel, str(config_number)])
    return raw, config_raw


def items_for(items: batch_file.Items, outputs: np.ndarray, indices: list[int] | None = None) -> list[dict[str, Any]]:
    """Receipt entries with their inclusion paths (all items, or ``indices``)."""
    out = []
    for i in (range(items.count) if indices is None else indices):
        entry = {"index": i, "input_sha256": items.input_sha256[i], "output_sha256": items.output_sha256[i],
                 "path": [h.hex() for h in items.tree.path(i)]}
        carried = _carried(outputs[i])
        if carried is not None:
            entry["output"] = carried
        out.append(entry)
    return out


class Attester:
    """A VERIFIED model loaded once, attesting batch after batch: what a service runs.

    The final snapshot is fetched on first use and used only with the ledger's SHA-256 and size
    (``load_model`` checks both); the model is rebuilt from the architecture registry."""

    def __init__(self, contract: Contract, store: ArtifactStore, model_id: str,
                 transfer: Optional[Callable[..., None]] = None, identity: IdentityFiles | None = None,
                 key_store: KeyStore | None = None) -> None:
        """``identity``: this client's certificate and key, and ``key_store`` its key store, both
        needed for a confidential model: its final snapshot opens with the data key delivered to
        the submitter or a grantee, and each batch file's key is kept in the store for the audit."""
        from trainproof.ml.inference import execution_fingerprint

        self.contract, self.store, self.model_id, self._transfer = contract, store, model_id, transfer
        self.identity, self.key_store = identity, key_store
        self.ledger = TrainproofContract(contract)
        model = self.ledger.get_model(model_id)
        if model["status"] != "VERIFIED":
            raise AttestError(f"model {model_id} is {model['status']}; only a VERIFIED model's outputs are attested "
                              f"(why: `trainproof status {model_id}`)")
        self.certificate = model["certificate"]
        if self.certificate.get("confidential") and key_store is None:
            raise AttestError(f"model {model_id} is confidential: its batch files are sealed, each key kept in your key "
                              "store for the audit; pass one (trainproof attest uses $TRAINPROOF_HOME/keys/IDENTITY)")
        self.weights_sha256 = self.certificate["snapshots"][-1]["sha256"]
        self.execution = execution_fingerprint()
        self._model: Any = None
        self._loading = threading.Lock()  # a service attests from several threads

    @property
    def model(self) -> Any:
        """The torch model, from the final snapshot downloaded at the first call."""
        with self._loading:
            if self._model is None:
                from trainproof.ml.inference import load_model

                final = self.certificate["snapshots"][-1]
                keys = None
                if self.certificate.get("confidential"):
                    if self.identity is None:
                        raise AttestError(f"model {self.model_id} is confidential: attest as its submitter or a "
                                          "granted identity, whose data key opens its final snapshot")
                    keys = my_keys(self.ledger, self.model_id, self.identity)
                with tempfile.TemporaryDirectory(prefix="trainproof-attest-") as tmp:
                    path = fetch(self.store, keys, self.certificate, final, Path(tmp) / "final.safetensors",
                                 self._transfer)
                    self._model = load_model(self.certificate, path)
        return self._model

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        from trainproof.ml.inference import predict

        return predict(self.model, inputs)

    def attest(self, inputs: np.ndarray, progress: Optional[Progress] = None,
               outputs: np.ndarray | None = None, stages: dict[str, float] | None = None) -> Attested:
        """Attest the model's outputs for ``inputs`` (a batch along the first dimension, or one sample).

        ``outputs`` replaces the computed outputs: what a lying attester would record (the tests
        and benchmarks use it to show that an audit DISPUTES such an attestation); leave it None.
        ``stages`` receives the seconds each step took (forward, hash+merkle, upload, commit,
        receipt): what ``make bench-attest`` prints."""
        from trainproof.ml.inference import batched

        say = progress or (lambda _message: None)
        clock = _Stages(stages)
        inputs = batched(self.certificate, inputs)  # a shape the model cannot take fails here, before any download
        say(f"running model {self.model_id} on {len(inputs)} input(s)")
        with clock("forward"):
            computed = self.outputs(inputs)
        outputs = computed if outputs is None else np.ascontiguousarray(outputs, dtype=np.float32)
        with clock("hash+merkle"):
            items = batch_file.Items.of(inputs, outputs)
            items.root()
        say(f"uploading the batch file ({items.count} input/output pair(s))")
        with clock("upload"), tempfile.TemporaryDirectory(prefix="trainproof-attest-") as tmp:
            path = batch_file.write(Path(tmp) / "batch.safetensors", inputs, outputs, self.model_id)
            batch = self._store_batch(path)
        request = request_for(self.model_id, self.weights_sha256, items, outputs, batch, self.execution)
        say("endorsing and committing AttestOutput")
        with clock("commit"):
            tx_id, block_number = commit(self.ledger, request)
        with clock("receipt"):
            raw, config_raw = fetch_blocks(self.contract, block_number)
            built = receipt.build(raw, config_raw, tx_id, items_for(items, outputs), self.contract.network.name,
                                  self.contract.name, row_shapes={"input": list(inputs.shape[1:]),
                                                                  "output": list(outputs.shape[1:])})
        return Attested(tx_id, self.model_id, block_number, items.count, request["root"], outputs, built)

    def _store_batch(self, path: Path) -> dict[str, Any]:
        """Upload the batch file: in the clear, or for a confidential model sealed with a fresh key,
        kept in the key store before the attestation exists (its audit may come at once)."""
        if self.key_store is None or not self.certificate.get("confidential"):
            stored = self.store.put_file(path, DATASETS)
            return {"uri": stored.uri, "sha256": stored.sha256, "size": stored.size}
        key = new_key()
        sealed = self.store.put_sealed(path, DATASETS, key)
        self.key_store.save_batch_key(sealed.plaintext_sha256, key)
        return {"uri": sealed.uri, "sha256": sealed.plaintext_sha256, "size": path.stat().st_size,
                "sealed": {"sha256": sealed.sha256, "size": sealed.size}}


class _Stages:
    """``with clock("name"):`` adds the block's seconds to ``stages[name]`` (nothing if stages is None)."""

    def __init__(self, stages: dict[str, float] | None) -> None:
        self.stages = stages

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.stages is not None:
                self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started


def attest(contract: Contract, store: ArtifactStore, model_id: str, inputs: np.ndarray,
           progress: Optional[Progress] = None, transfer: Optional[Callable[..., None]] = None,
           outputs: np.ndarray | None = None, identity: IdentityFiles | None = None,
           key_store: KeyStore | None = None) -> Attested:
    """One attestation: ``Attester(…).attest(inputs)`` (see there)."""
    return Attester(contract, store, model_id, transfer, identity, key_store).attest(inputs, progress, outputs)
