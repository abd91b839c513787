"""The Recorder's run directory and certificate draft."""
from __future__ import annotations

import re

import pytest
import torch

from trainproof.ml import registry
from trainproof.ml.certificate import for_submission, load_run, snapshot_paths
from trainproof.ml.data import Dataset, load_dataset
from trainproof.ml.recorder import Recorder, RecorderError
from trainproof.ml.snapshot import sha256_file

pytestmark = pytest.mark.ml

TOP_LEVEL = {"name", "version", "parent_id", "recipe", "dataset", "environment", "snapshots", "scores", "layer_hashes", "metrics"}
HEX = re.compile(r"^[0-9a-f]{64}$")


def test_run_directory_and_certificate_shape(mlp_run):
    run_dir, run = mlp_run
    assert load_run(run_dir) == run and set(run) == TOP_LEVEL
    assert set(run["recipe"]) >= {"architecture", "optimizer", "scheduler", "loss", "seeds", "batch_size", "steps_per_interval", "total_steps"}
    assert run["recipe"]["architecture"] == {"name": "mlp", "params": {"in_features": 64, "hidden": [32, 16], "out_features": 10, "dropout": 0.1}}
    env = run["environment"]
    assert {"packages", "device", "threads", "git_commit", "git_dirty", "command_line", "fingerprint"} <= set(env)
    assert env["threads"] == env["fingerprint"]["threads"] and env["device"] == "cpu"
    assert [s["index"] for s in run["snapshots"]] == list(range(7)) and [s["step"] for s in run["snapshots"]] == list(range(0, 61, 10))
    for entry, path in zip(run["snapshots"], snapshot_paths(run_dir, run)):
        assert HEX.match(entry["sha256"]) and sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["size"]
    assert len(run["scores"]) == 6 and set(run["scores"][0]) == {"interval", "absolute", "l2", "percent", "cosine",
                                                                 "input_shift", "input_profile", "probe_loss"}
    ds = load_dataset(run_dir / run["dataset"]["file"], run["dataset"]["sha256"])
    assert len(ds) == 1437 and run["dataset"]["preprocessing"] == ds.preprocessing
    assert 0.0 <= run["metrics"]["accuracy"] <= 1.0
    cert = for_submission(run)
    assert "file" not in cert["dataset"] and all("file" not in s for s in cert["snapshots"])


def test_a_run_recorded_without_input_profiles_is_scored_again_when_read(mlp_run, tmp_path):
    """A run.json from before intervals claimed their input profiles and probe losses still
    submits: read_run scores it again from its dataset and snapshots, giving what the recorder
    gives today."""
    import json
    import shutil

    from trainproof.submission import read_run

    run_dir, run = mlp_run
    old = shutil.copytree(run_dir, tmp_path / "old")
    recorded = json.loads((old / "run.json").read_text())
    for score in recorded["scores"]:
        del score["input_profile"], score["probe_loss"]
    (old / "run.json").write_text(json.dumps(recorded))
    assert read_run(old)[0]["scores"] == run["scores"]
    assert read_run(run_dir)[0]["scores"] == run["scores"]


def test_recorder_refuses_models_outside_the_registry(tmp_path):
    model = torch.nn.Linear(64, 10)
    with pytest.raises(registry.SpecError, match="build_model"):
        Recorder(tmp_path, model, torch.optim.SGD(model.parameters(), lr=0.1), dataset=Dataset(torch.zeros(4, 64), torch.zeros(4, dtype=torch.long), "d"),
                 batch_size=2, steps_per_interval=1, total_steps=2, seeds={"torch": 0, "data": 0})


def test_plain_torch_optimizer_and_step_discipline(tmp_path):
    model = registry.build_model({"name": "mlp", "params": {"in_features": 4, "hidden": [3], "out_features": 2}})
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ds = Dataset(torch.randn(10, 4), torch.randint(0, 2, (10,)), "tiny", ["none"])
    rec = Recorder(tmp_path, model, opt, dataset=ds, batch_size=2, steps_per_interval=2, total_steps=3, seeds={"torch": 0, "data": 1})
    assert rec.recipe["optimizer"]["name"] == "adam" and rec.recipe["optimizer"]["params"]["betas"] == [0.9, 0.999]
    for _ in rec.batches():
        rec.step()
    run = rec.finish({"accuracy": 1.0})
    assert [s["step"] for s in run["snapshots"]] == [0, 2, 3]


def test_registry_refuses_unknown_specs():
    with pytest.raises(registry.SpecError, match="unknown architecture"):
        registry.build_model({"name": "os.system", "params": {}})
    with pytest.raises(registry.SpecError, match="takes no parameter"):
        registry.build_model({"name": "mlp", "params": {"in_features": 4, "out_features": 2, "__class__": 1}})
    with pytest.raises(registry.SpecError, match="hidden"):
        registry.build_model({"name": "mlp", "params": {"in_features": 4, "out_features": 2, "hidden": [0]}})


def test_a_batch_without_a_step_is_an_error(tmp_path):
    model = registry.build_model({"name": "mlp", "params": {"in_features": 4, "out_features": 2}})
    ds = Dataset(torch.randn(10, 4), torch.randint(0, 2, (10,)), "tiny", ["none"])
    rec = Recorder(tmp_path, model, torch.optim.SGD(model.parameters(), lr=0.1), dataset=ds, batch_size=2,
                   steps_per_interval=2, total_steps=3, seeds={"torch": 0, "data": 1})
    batches = rec.batches()
    next(batches)
    with pytest.raises(RecorderError, match="once after each"):
        next(batches)
    with pytest.raises(RecorderError, match="finish"):
        rec.finish()
