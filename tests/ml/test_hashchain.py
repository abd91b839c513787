"""Per-layer hash chain: a tampered tensor is localized to its layer and restored."""
from __future__ import annotations

import pytest
import torch

from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.hashchain import diff_layers, layer_chain, restore_layers
from trainproof.ml.snapshot import read_snapshot

pytestmark = pytest.mark.ml


def _final_state(run_dir, run) -> dict[str, torch.Tensor]:
    snap = read_snapshot(snapshot_paths(run_dir, run)[-1])
    state = {n: snap.tensors[f"param/{n}"] for n in snap.meta["parameters"]}
    state.update({n: snap.tensors[f"buffer/{n}"] for n in snap.meta["buffers"]})
    return state


@pytest.mark.parametrize("which", ["mlp_run", "cnn_run"])
def test_chain_of_state_dict_equals_chain_of_snapshot(which, request):
    run_dir, run = request.getfixturevalue(which)
    assert layer_chain(_final_state(run_dir, run)) == run["layer_hashes"]
    assert len(run["layer_hashes"]["chain"]) == len(run["layer_hashes"]["layers"]) + 1


@pytest.mark.parametrize("which", ["mlp_run", "cnn_run"])
def test_each_tampered_layer_is_localized(which, request):
    run_dir, run = request.getfixturevalue(which)
    ledger = run["layer_hashes"]
    assert diff_layers(snapshot_paths(run_dir, run)[-1], ledger) == []
    for name in _final_state(run_dir, run):
        state = _final_state(run_dir, run)
        flat = state[name].view(-1)
        flat[0] = flat[0] + 1  # one element of one tensor (a BatchNorm counter included)
        layer = name.rsplit(".", 1)[0]
        assert diff_layers(state, ledger) == [layer], name


def test_two_layer_model_and_adjacent_layers(tmp_path):
    from demo.digits import train_digits

    run = train_digits(tmp_path, hidden=[], intervals=1, steps_per_interval=2)  # one layer
    assert run["layer_hashes"]["layers"] == ["fc1"]
    run = train_digits(tmp_path / "b", hidden=[8, 8], intervals=1, steps_per_interval=2)
    state = _final_state(tmp_path / "b", run)
    for names, want in ((["fc1.bias"], ["fc1"]), (["fc2.bias"], ["fc2"]), (["fc1.bias", "fc2.bias"], ["fc1", "fc2"]),
                        (["fc1.bias", "fc3.bias"], ["fc1", "fc2", "fc3"])):  # fc2 cannot be cleared: a superset
        tampered = {n: t.clone() for n, t in state.items()}
        for n in names:
            tampered[n] += 0.5
        assert diff_layers(tampered, run["layer_hashes"]) == want


def test_restore_layers_from_verified_snapshot(cnn_run):
    run_dir, run = cnn_run
    ledger = run["layer_hashes"]
    state = _final_state(run_dir, run)
    state["conv2.weight"] = state["conv2.weight"] + 0.1 * torch.randn_like(state["conv2.weight"])
    state["fc.bias"] = torch.zeros_like(state["fc.bias"])
    repaired, restored = restore_layers(state, ledger, snapshot_paths(run_dir, run)[-1])
    assert sorted(restored) == ["conv2", "fc"]
    assert layer_chain(repaired) == ledger


def test_restore_source_must_match_ledger(cnn_run):
    from trainproof.ml.snapshot import SnapshotError

    run_dir, run = cnn_run
    with pytest.raises(SnapshotError, match="does not reproduce"):
        restore_layers(_final_state(run_dir, run), run["layer_hashes"], snapshot_paths(run_dir, run)[0])


def test_missing_and_extra_layers_are_reported(mlp_run):
    run_dir, run = mlp_run
    state = _final_state(run_dir, run)
    del state["fc2.weight"], state["fc2.bias"]
    state["extra.weight"] = torch.ones(1)
    assert diff_layers(state, run["layer_hashes"]) == ["fc2", "extra"]
