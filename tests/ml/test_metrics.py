"""Weight-change metrics against a float64 reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from trainproof.ml.metrics import PROFILE_INPUTS, input_profile, own_profile, score_pair, score_run
from trainproof.ml.snapshot import SnapshotError

pytestmark = pytest.mark.ml


def reference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Eqs. 1–4 of Navarro et al. in float64, 1 − cos written without cancellation."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = b - a
    ua, ub = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return {"absolute": np.abs(d).sum(), "l2": math.sqrt((d * d).sum()), "percent": np.abs(d).sum() / np.abs(a).sum() * 100,
            "cosine": float(((ua - ub) ** 2).sum() / 2)}


def _files(tmp_path, a: dict, b: dict):
    save_file(a, tmp_path / "a.safetensors")
    save_file(b, tmp_path / "b.safetensors")
    return tmp_path / "a.safetensors", tmp_path / "b.safetensors"


def test_matches_float64_reference_overall_and_per_layer(tmp_path):
    g = torch.Generator().manual_seed(0)
    a = {"fc1.weight": torch.randn(300, 700, generator=g), "fc1.bias": torch.randn(300, generator=g),
         "fc2.weight": torch.randn(10, 300, generator=g)}
    b = {k: v + 1e-3 * torch.randn(v.shape, generator=g) for k, v in a.items()}
    pa, pb = _files(tmp_path, a, b)
    got = score_pair(pa, pb)
    flat = lambda d, keys: np.concatenate([d[k].numpy().ravel() for k in keys])  # noqa: E731
    keys = list(a)
    want = reference(flat(a, keys), flat(b, keys))
    for m in want:
        assert got[m] == pytest.approx(want[m], rel=1e-9)
    assert set(got["layers"]) == {"fc1", "fc2"} and got["parameters"] == 300 * 700 + 300 + 3000
    want_fc1 = reference(flat(a, ["fc1.weight", "fc1.bias"]), flat(b, ["fc1.weight", "fc1.bias"]))
    for m in want_fc1:
        assert got["layers"]["fc1"][m] == pytest.approx(want_fc1[m], rel=1e-9)


def test_cosine_distance_has_no_cancellation(tmp_path):
    """A tiny rotation of a large vector: 1 − cos ≈ 1e-10 must still come out right."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3_000_000, generator=g) + 5.0
    b = a + 1e-5 * torch.randn(a.shape, generator=g)
    pa, pb = _files(tmp_path, {"w": a}, {"w": b})
    got = score_pair(pa, pb)
    want = reference(a.numpy(), b.numpy())
    assert got["cosine"] == pytest.approx(want["cosine"], rel=1e-6)
    naive = 1 - float(torch.dot(a, b) / (a.norm() * b.norm()))  # float32: pure rounding noise
    assert abs(naive - want["cosine"]) > 10 * want["cosine"]


def test_half_precision_and_bf16(tmp_path):
    g = torch.Generator().manual_seed(2)
    a = torch.randn(1000, generator=g)
    b = a + 0.01 * torch.randn(1000, generator=g)
    for dtype in (torch.float16, torch.bfloat16):
        pa, pb = _files(tmp_path, {"w": a.to(dtype)}, {"w": b.to(dtype)})
        want = reference(a.to(dtype).float().numpy(), b.to(dtype).float().numpy())
        got = score_pair(pa, pb)
        assert got["absolute"] == pytest.approx(want["absolute"], rel=1e-12)


def test_identical_files_score_zero_and_mismatch_is_refused(tmp_path):
    pa, pb = _files(tmp_path, {"w": torch.ones(5)}, {"w": torch.ones(5)})
    got = score_pair(pa, pb)
    assert (got["absolute"], got["l2"], got["percent"], got["cosine"]) == (0.0, 0.0, 0.0, 0.0)
    _files(tmp_path, {"w": torch.ones(5)}, {"v": torch.ones(5)})
    with pytest.raises(SnapshotError, match="same set of weights"):
        score_pair(pa, pb)


def test_snapshot_scores_use_parameters_only(mlp_run):
    from trainproof.ml.certificate import snapshot_paths

    run_dir, run = mlp_run
    scores = score_run(snapshot_paths(run_dir, run))
    assert [s["interval"] for s in scores] == list(range(len(run["snapshots"]) - 1))
    assert set(scores[0]["layers"]) == {"fc1", "fc2", "fc3"}
    for claimed, s in zip(run["scores"], scores):
        assert claimed["absolute"] == s["absolute"]


def test_input_profile_matches_reference_for_dense_and_conv(tmp_path, monkeypatch):
    """Σ over outputs of |Δw| per input of the first 2-D+ tensor, in float64, whatever the chunking."""
    monkeypatch.setattr("trainproof.ml.metrics.PROFILE_ROWS", 7)  # several chunks
    g = torch.Generator().manual_seed(3)
    for first in (torch.randn(50, 64, generator=g), torch.randn(20, 3, 3, 3, generator=g)):
        a = {"a.bias": torch.randn(5, generator=g), "b.weight": first, "c.weight": torch.randn(10, 50, generator=g)}
        b = {k: v + 1e-3 * torch.randn(v.shape, generator=g) for k, v in a.items()}
        pa, pb = _files(tmp_path, a, b)
        d = (b["b.weight"].double() - a["b.weight"].double()).reshape(first.shape[0], -1)
        assert input_profile(pa, pb) == pytest.approx(d.abs().sum(0).tolist(), rel=1e-8)  # 9 digits


def test_a_wide_input_profile_sums_runs_of_consecutive_inputs(tmp_path):
    """784 inputs (an MNIST-sized layer) claim PROFILE_INPUTS numbers: sums over consecutive runs, nothing lost."""
    g = torch.Generator().manual_seed(4)
    a = {"w": torch.randn(30, 784, generator=g)}
    b = {"w": a["w"] + 1e-3 * torch.randn(30, 784, generator=g)}
    pa, pb = _files(tmp_path, a, b)
    full = (b["w"].double() - a["w"].double()).abs().sum(0).numpy()
    profile = input_profile(pa, pb)
    assert len(profile) == PROFILE_INPUTS
    starts = np.linspace(0, 784, PROFILE_INPUTS, endpoint=False).astype(int)
    assert profile == pytest.approx(np.add.reduceat(full, starts).tolist(), rel=1e-8)
    assert sum(profile) == pytest.approx(full.sum(), rel=1e-8)
    assert all(float(f"{x:.9g}") == x for x in profile), "claimed to 9 significant digits"


def test_input_profile_needs_a_matrix(tmp_path):
    pa, pb = _files(tmp_path, {"w": torch.ones(5)}, {"w": torch.zeros(5)})
    with pytest.raises(SnapshotError, match="two or more dimensions"):
        input_profile(pa, pb)


def test_own_profile_removes_exactly_what_momentum_carries_in(tmp_path):
    """Reference: run the start snapshot's momentum forward with zero gradients for the
    interval's steps (v ← μv, w ← w − lr·v) and take that displacement out of the update."""
    from safetensors.numpy import load_file

    from trainproof.ml.certificate import snapshot_paths
    from demo.digits import train_digits
    from trainproof.ml.snapshot import read_header

    run = train_digits(tmp_path, hidden=[16], intervals=3, steps_per_interval=10, seed=5)
    paths = snapshot_paths(tmp_path, run)
    start, end = load_file(str(paths[1])), load_file(str(paths[2]))
    group = read_header(paths[1]).meta["optimizer"]["param_groups"][0]
    v, carried = start["optim/0/momentum_buffer"].astype(np.float64), np.zeros(start["param/fc1.weight"].shape)
    for _ in range(10):
        v = group["momentum"] * v
        carried -= group["lr"] * v
    own = end["param/fc1.weight"].astype(np.float64) - start["param/fc1.weight"].astype(np.float64) - carried
    assert own_profile(paths[1], paths[2]) == pytest.approx(np.abs(own).sum(0).tolist(), rel=1e-8)
    plain = input_profile(paths[1], paths[2])
    assert own_profile(paths[1], paths[2]) != pytest.approx(plain, rel=1e-3)  # the carry is not negligible
    assert own_profile(paths[0], paths[1]) == input_profile(paths[0], paths[1])  # a fresh optimizer carries nothing in


def test_own_profile_is_none_for_other_optimizers(cnn_run):
    from trainproof.ml.certificate import snapshot_paths

    run_dir, run = cnn_run  # Adam
    paths = snapshot_paths(run_dir, run)
    assert own_profile(paths[1], paths[2]) is None
