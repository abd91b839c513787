"""trainproof.ml: recorder, weight analysis, replay and layer hashes.

Importing this package loads nothing heavy: ``trainproof.ml.outliers`` is pure Python
for the chaincode, and the names below are imported on first use.

Run directory (written by the Recorder)
    ``RUN_DIR/run.json``                the certificate draft (keys: name, version, parent_id,
                                        recipe, dataset, environment, snapshots, scores,
                                        layer_hashes, metrics). Local-only: ``snapshots[i].file``
                                        and ``dataset.file``; ``certificate.for_submission(run)``
                                        drops them. Interval i goes from snapshot i to i+1.
    ``RUN_DIR/snapshots/<index>.safetensors``  one file per snapshot; tensors ``param/*``,
                                        ``buffer/*``, ``optim/<i>/<key>``, ``rng/*``; the JSON
                                        state (step, epoch, position, optimizer param_groups,
                                        scheduler, RNGs, fingerprint, layer order) in the
                                        ``__metadata__["trainproof"]`` header entry.
    ``RUN_DIR/dataset/<name>.safetensors``     tensors ``x`` and ``y``; name and declared
                                        preprocessing in the header.
    ``layer_hashes.chain`` has len(layers) + 1 entries: chain[0] is DeepRing's ouroboros
    block (see ``hashchain``).

API
    ``Recorder(run_dir, model, optimizer, *, dataset, batch_size, steps_per_interval,
    total_steps, seeds, scheduler=None, …)``: ``batches()``, ``step()``, ``callback()``,
    ``finish(metrics) -> run dict``.
    ``registry.build_model(spec)``, ``build_optimizer``, ``build_scheduler``: recipes → objects.
    ``loop.train_step(training, x, y)``: the canonical step a verifier replays.
    ``metrics.score_pair(path_a, path_b) -> dict`` (absolute, l2, percent, cosine, parameters,
    layers: {layer: {…}}) and ``metrics.score_run(paths) -> list[dict]`` (with "interval");
    ``metrics.input_profiles(paths) -> list[list[float]]`` (first layer's |Δw| per input).
    ``probe.probe_losses(architecture, loss, dataset, paths) -> list[float]`` (each snapshot's
    loss on every ⌈n/512⌉-th sample: what ``scores[i]["probe_loss"]`` claims at both ends).
    ``outliers.select_outliers(scores, k=3.0, l2=None, profiles=None) -> list[dict]``
    ({"interval", "rule", "z", …}); pass the L2 scores as ``l2`` to add the update-density
    evidence and the input profiles as ``profiles`` to add the input-shift rule.
    ``replay.replay_interval(start_path, end_path, certificate, dataset_path, *, on_step=None,
    out_path=None, tolerance=DEFAULT_TOLERANCE, device=None) -> ReplayResult`` (exact,
    accepted, rel_error, distances, replayed_sha256, replayed_path, reason).
    ``hashchain.layer_chain(state_or_path) -> {"layers", "chain"}``,
    ``diff_layers(state_or_path, ledger_chain) -> list[str]``,
    ``restore_layers(target, ledger_chain, source) -> (state_dict, restored_layers)``.
    ``snapshot.load_verified(path, expected_sha256, expected_size=None) -> Snapshot``; raises
    ``snapshot.SnapshotError`` (hash mismatch, truncation, corruption); also
    ``sha256_file``, ``sha256_files``.
    ``data.load_dataset(path, expected_sha256)``, ``data.save_dataset(...)``.
    ``inference.load_model(certificate, snapshot_path) -> nn.Module`` (the certificate's final
    snapshot only, eval mode), ``predict(model, inputs, threads=1, batch_size=1) -> np.ndarray``
    (float32, bit-reproducible; raises ``InferenceError``), ``execution_fingerprint(threads=1)``.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Recorder": "trainproof.ml.recorder",
    "RecorderError": "trainproof.ml.recorder",
    "SnapshotError": "trainproof.ml.snapshot",
    "load_verified": "trainproof.ml.snapshot",
    "score_pair": "trainproof.ml.metrics",
    "score_run": "trainproof.ml.metrics",
    "input_profiles": "trainproof.ml.metrics",
    "select_outliers": "trainproof.ml.outliers",
    "replay_interval": "trainproof.ml.replay",
    "ReplayResult": "trainproof.ml.replay",
    "layer_chain": "trainproof.ml.hashchain",
    "diff_layers": "trainproof.ml.hashchain",
    "restore_layers": "trainproof.ml.hashchain",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'trainproof.ml' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
