"""Inference for attestations: the certified weights, rebuilt from the registry, the same bits every run."""
from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.data import digits
from trainproof.ml.inference import (InferenceError, execution_fingerprint, final_snapshot, load_model, predict,
                                     sample_shapes)
from trainproof.ml.snapshot import SnapshotError

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def mlp(mlp_run):
    run_dir, run = mlp_run
    return run, snapshot_paths(run_dir, run)[-1], load_model(run, snapshot_paths(run_dir, run)[-1])


@pytest.fixture(scope="module")
def test_digits():
    (_, _), (x, y) = digits()
    return x.numpy(), y.numpy()


def test_loaded_model_reproduces_the_recorded_accuracy(mlp, test_digits) -> None:
    run, _, model = mlp
    x, y = test_digits
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    out = predict(model, x)
    assert out.dtype == np.float32 and out.shape == (len(x), 10) and out.flags.c_contiguous
    assert float((out.argmax(1) == y).mean()) == pytest.approx(run["metrics"]["accuracy"], abs=1e-9)


def test_predict_is_bit_identical_run_to_run_and_row_by_row(mlp, mlp_run, test_digits) -> None:
    run, path, model = mlp
    x, _ = test_digits
    first = predict(model, x)
    again = predict(load_model(run, path), x)  # a fresh rebuild, too
    assert first.tobytes() == again.tobytes()
    # batch_size=1 (the default): a verifier recomputing one sampled item gets the same bits
    for i in (0, 7, len(x) - 1):
        assert predict(model, x[i]).tobytes() == first[i : i + 1].tobytes()
        assert predict(model, x[i : i + 1]).tobytes() == first[i : i + 1].tobytes()
    batched = predict(model, x, batch_size=len(x))
    assert predict(model, x, batch_size=len(x)).tobytes() == batched.tobytes()
    np.testing.assert_allclose(batched, first, rtol=1e-5, atol=1e-5)


def test_predict_restores_threads_and_rng(mlp, test_digits) -> None:
    _, _, model = mlp
    x, _ = test_digits
    before = torch.get_num_threads()
    torch_rng, py_rng = torch.get_rng_state(), random.getstate()
    one = predict(model, x[:20], threads=1)
    two = predict(model, x[:20], threads=2)
    assert torch.get_num_threads() == before
    assert torch.equal(torch.get_rng_state(), torch_rng) and random.getstate() == py_rng
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-5)
    with pytest.raises(InferenceError, match="threads must be a positive integer"):
        predict(model, x, threads=0)
    with pytest.raises(InferenceError, match="batch_size must be a positive integer"):
        predict(model, x, batch_size=0)


def test_load_model_leaves_the_callers_rng_alone(mlp_run) -> None:
    run_dir, run = mlp_run
    state = torch.get_rng_state()
    load_model(run, snapshot_paths(run_dir, run)[-1])
    assert torch.equal(torch.get_rng_state(), state)


def test_cnn_takes_images_or_flat_samples(cnn_run) -> None:
    run_dir, run = cnn_run
    model = load_model(run, snapshot_paths(run_dir, run)[-1])
    (_, _), (x, y) = digits(image=True)
    x = x.numpy()
    images = predict(model, x)
    assert images.tobytes() == predict(model, x.reshape(len(x), 64)).tobytes() == predict(model, x).tobytes()
    assert float((images.argmax(1) == y.numpy()).mean()) == pytest.approx(run["metrics"]["accuracy"], abs=1e-9)
    assert predict(model, x[3]).tobytes() == images[3:4].tobytes()
    assert sample_shapes(run["recipe"]["architecture"]) == [(1, 8, 8), (64,)]
    with pytest.raises(InferenceError, match="gives no valid input size"):
        sample_shapes({"name": "cnn", "params": {}})
    with pytest.raises(InferenceError, match="no input shape known for architecture 'rnn'"):
        sample_shapes({"name": "rnn"})
    with pytest.raises(InferenceError, match=r"shape \(5, 8, 8\); the cnn architecture expects \(N, 1, 8, 8\) or \(N, 64\)"):
        predict(model, x[:5, 0])


@pytest.mark.parametrize("inputs, message", [
    (np.zeros((4, 63), dtype=np.float32), r"inputs have shape \(4, 63\); the mlp architecture expects \(N, 64\)"),
    (np.zeros((8, 8), dtype=np.float32), r"inputs have shape \(8, 8\); the mlp architecture expects \(N, 64\)"),
    (np.zeros((2, 1, 64), dtype=np.float32), r"shape \(2, 1, 64\)"),
    (np.zeros((0, 64), dtype=np.float32), r"shape \(0, 64\).*N ≥ 1"),
    (np.zeros(63, dtype=np.float32), r"shape \(63,\).*one sample of shape \(64,\)"),
    (np.array([["a"] * 64]), "dtype <U1, not a real number type"),
    (np.full((1, 64), np.nan, dtype=np.float32), "NaN, infinite"),
    ([[0.0] * 64], "inputs must be a numpy array, got list"),
])
def test_inputs_of_the_wrong_shape_or_type_are_refused(mlp, inputs, message) -> None:
    _, _, model = mlp
    with pytest.raises(InferenceError, match=message):
        predict(model, inputs)


def test_other_numeric_inputs_are_converted(mlp, test_digits) -> None:
    _, _, model = mlp
    x, _ = test_digits
    assert predict(model, x[:3].astype(np.float64)).tobytes() == predict(model, x[:3]).tobytes()
    assert predict(model, np.zeros((2, 64), dtype=np.int64)).shape == (2, 10)


def test_only_the_certified_final_snapshot_is_loaded(mlp_run, tmp_path) -> None:
    run_dir, run = mlp_run
    paths = snapshot_paths(run_dir, run)
    assert final_snapshot(run)["index"] == len(paths) - 1
    with pytest.raises(SnapshotError, match="is not the certificate's final snapshot"):
        load_model(run, paths[0])
    tampered = tmp_path / "last.safetensors"
    blob = bytearray(paths[-1].read_bytes())
    blob[-1] ^= 1
    tampered.write_bytes(bytes(blob))
    with pytest.raises(SnapshotError, match="is not the certificate's final snapshot"):
        load_model(run, tampered)
    with pytest.raises(SnapshotError, match="cannot read"):
        load_model(run, tmp_path / "absent.safetensors")
    with pytest.raises(InferenceError, match="lists no snapshots"):
        load_model({**run, "snapshots": []}, paths[-1])
    with pytest.raises(InferenceError, match="no recipe.architecture"):
        load_model({"snapshots": run["snapshots"]}, paths[-1])


def test_an_architecture_the_snapshot_does_not_fit_is_refused(mlp_run) -> None:
    run_dir, run = mlp_run
    path = snapshot_paths(run_dir, run)[-1]
    wider = copy.deepcopy(run)
    wider["recipe"]["architecture"]["params"]["hidden"] = [33, 16]
    needs = r"tensor 'fc1.weight' is torch.float32 \[32, 64\], the architecture needs torch.float32 \[33, 64\]"
    with pytest.raises(InferenceError, match=needs):
        load_model(wider, path)
    deeper = copy.deepcopy(run)
    deeper["recipe"]["architecture"]["params"]["hidden"] = [32, 16, 8]
    with pytest.raises(InferenceError, match=r"missing \['fc4.bias', 'fc4.weight'\]"):
        load_model(deeper, path)
    unknown = copy.deepcopy(run)
    unknown["recipe"]["architecture"] = {"name": "transformer", "params": {}}
    with pytest.raises(InferenceError, match="cannot be built: unknown architecture 'transformer'"):
        load_model(unknown, path)


def test_execution_fingerprint_states_the_threads_used() -> None:
    before = torch.get_num_threads()
    fp = execution_fingerprint(threads=2)
    assert fp["threads"] == 2 and fp["device"] == "cpu" and fp["torch"] == torch.__version__
    assert torch.get_num_threads() == before
    assert execution_fingerprint()["threads"] == 1
