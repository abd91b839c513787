"""Recorder → replay: bit-exact when honest, and every recorded state component is needed."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.ml.conftest import EPOCH_INTERVAL
from trainproof.ml import state
from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.loop import build_training
from trainproof.ml.replay import DEFAULT_TOLERANCE, replay_interval
from trainproof.ml.snapshot import SnapshotError, read_snapshot, write_snapshot

pytestmark = pytest.mark.ml



def _replay(run_dir: Path, run: dict, interval: int, **kw):
    paths = snapshot_paths(run_dir, run)
    return replay_interval(paths[interval], paths[interval + 1], run, run_dir / run["dataset"]["file"], **kw)


@pytest.mark.parametrize("which", ["mlp_run", "cnn_run"])
def test_replay_is_bitwise_in_a_fresh_process(which, request, tmp_path):
    """MLP+SGD and CNN+Adam (BatchNorm, dropout), across an epoch boundary and an lr step."""
    run_dir, run = request.getfixturevalue(which)
    (tmp_path / "run.json").write_text(json.dumps(run))
    code = (
        "import json, sys\n"
        "from trainproof.ml.replay import replay_interval\n"
        "from trainproof.ml.certificate import snapshot_paths\n"
        "run_dir, cert = sys.argv[1], json.load(open(sys.argv[2]))\n"
        "paths = snapshot_paths(run_dir, cert)\n"
        "out = []\n"
        "for i in map(int, sys.argv[3:]):\n"
        "    r = replay_interval(paths[i], paths[i + 1], cert, run_dir + '/' + cert['dataset']['file'])\n"
        "    out.append([i, r.exact, r.accepted, r.replayed_sha256, r.reason])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(run_dir), str(tmp_path / "run.json"), "0", str(EPOCH_INTERVAL), "5"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for i, exact, accepted, sha, reason in json.loads(done.stdout.strip().splitlines()[-1]):
        assert exact and accepted, reason
        assert sha == run["snapshots"][i + 1]["sha256"]  # byte-identical file


def test_interval_really_crosses_an_epoch_and_an_lr_step(mlp_run):
    run_dir, run = mlp_run
    start = read_snapshot(snapshot_paths(run_dir, run)[EPOCH_INTERVAL]).meta
    end = read_snapshot(snapshot_paths(run_dir, run)[EPOCH_INTERVAL + 1]).meta
    assert (start["epoch"], end["epoch"]) == (0, 1)
    assert start["optimizer"]["param_groups"][0]["lr"] != end["optimizer"]["param_groups"][0]["lr"]


def _fresh(run: dict):
    """What a replayer would fall back to for a component the snapshot did not hold."""
    t = build_training(run["recipe"])
    tensors, meta = state.capture(t.model, t.optimizer, t.scheduler, None, state.Position(0, 0, 0), {}, 0)
    return tensors, meta


def _drop(component: str, tensors: dict, meta: dict, run: dict) -> None:
    fresh_tensors, fresh_meta = _fresh(run)
    if component == "parameters":
        tensors.update({k: v for k, v in fresh_tensors.items() if k.startswith("param/")})
    elif component == "buffers":
        tensors.update({k: v for k, v in fresh_tensors.items() if k.startswith("buffer/")})
    elif component == "optimizer_state":
        for k in [k for k in tensors if k.startswith("optim/")]:
            del tensors[k]
        meta["optimizer"]["state_scalars"] = {}
    elif component == "adam_step":
        for k in [k for k in tensors if k.endswith("/step")]:
            tensors[k] = torch.zeros_like(tensors[k])
    elif component == "param_groups":
        meta["optimizer"]["param_groups"] = fresh_meta["optimizer"]["param_groups"]
    elif component == "scheduler":
        meta["scheduler"] = fresh_meta["scheduler"]
    elif component == "torch_rng":
        torch.manual_seed(run["recipe"]["seeds"]["torch"])
        tensors["rng/torch"] = torch.get_rng_state()
    elif component == "data_order":
        meta["epoch"], meta["position"] = 0, 0
    else:
        raise AssertionError(component)


COMMON = ["parameters", "optimizer_state", "param_groups", "scheduler", "torch_rng", "data_order"]


@pytest.mark.parametrize(("which", "component"), [("mlp_run", c) for c in COMMON]
                         + [("cnn_run", c) for c in COMMON + ["buffers", "adam_step"]])
def test_each_state_component_is_needed(which, component, request, tmp_path):
    """Replace one component by what a replayer would have without it: replay must fail."""
    run_dir, run = request.getfixturevalue(which)
    paths = snapshot_paths(run_dir, run)
    snap = read_snapshot(paths[EPOCH_INTERVAL])
    tensors, meta = dict(snap.tensors), copy.deepcopy(snap.meta)
    meta.pop("format")
    _drop(component, tensors, meta, run)
    sha, size = write_snapshot(tmp_path / "start.safetensors", tensors, meta)
    cert = copy.deepcopy(run)
    cert["snapshots"][EPOCH_INTERVAL].update(sha256=sha, size=size)
    result = replay_interval(tmp_path / "start.safetensors", paths[EPOCH_INTERVAL + 1], cert, run_dir / run["dataset"]["file"])
    assert not result.exact and not result.accepted
    # the loss of the component is also far outside the cross-environment tolerance
    assert max(result.distances["params_rel"], result.distances["buffers_rel"]) > DEFAULT_TOLERANCE, result.distances


def test_poisoned_and_lazy_intervals_are_rejected(tmp_path):
    from demo.digits import train_digits

    run = train_digits(tmp_path, intervals=5, steps_per_interval=8, poison_intervals=[1], skip_intervals=[2],
                       shorten_intervals=[3], seed=5)
    verdicts = [_replay(tmp_path, run, i) for i in range(5)]
    assert [v.accepted for v in verdicts] == [True, False, False, False, True]
    assert verdicts[2].rel_error == float("inf")  # claimed update is zero, the replay moves


def test_tolerance_mode_accepts_honest_replay_in_another_environment(mlp_run, monkeypatch):
    """oneDNN off changes the fingerprint: the replay is judged by the tolerance instead."""
    run_dir, run = mlp_run
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    result = _replay(run_dir, run, EPOCH_INTERVAL)
    assert result.distances["mode"] == "tolerance"
    assert "mkldnn_enabled" in result.distances["fingerprint_differences"]
    assert result.accepted and result.rel_error <= DEFAULT_TOLERANCE


def test_progress_callback_and_output_path(mlp_run, tmp_path):
    run_dir, run = mlp_run
    seen = []
    result = _replay(run_dir, run, 0, on_step=lambda done, total: seen.append((done, total)), out_path=tmp_path / "r.safetensors")
    assert seen == [(i, 10) for i in range(1, 11)]
    assert Path(result.replayed_path) == tmp_path / "r.safetensors" and result.exact


def test_snapshot_not_in_manifest_is_refused(mlp_run):
    run_dir, run = mlp_run
    cert = copy.deepcopy(run)
    cert["snapshots"][1]["sha256"] = "0" * 64
    with pytest.raises(SnapshotError, match="not in the certificate"):
        _replay(run_dir, cert, 0)
    paths = snapshot_paths(run_dir, run)
    with pytest.raises(SnapshotError, match="not consecutive"):
        replay_interval(paths[0], paths[2], run, run_dir / run["dataset"]["file"])


def test_recipe_settings_must_match_the_snapshot(mlp_run):
    run_dir, run = mlp_run
    cert = copy.deepcopy(run)
    cert["recipe"]["optimizer"]["params"]["momentum"] = 0.5
    with pytest.raises(SnapshotError, match="optimizer settings"):
        _replay(run_dir, cert, 1)


def test_the_squared_distance_is_taken_a_slice_at_a_time_and_equals_the_whole_tensor_sum():
    from trainproof.ml.replay import _SLICE, squared_distance

    a, b = torch.randn(3 * _SLICE + 17), torch.randn(3 * _SLICE + 17)
    whole = float(torch.sum((a.double() - b.double()) ** 2))
    assert squared_distance(a.reshape(-1, 17 + 3 * _SLICE), b) == pytest.approx(whole, rel=1e-12)
    assert squared_distance(a[:0], b[:0]) == 0.0
