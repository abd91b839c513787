"""The probe loss on recorded runs: what the Recorder claims is what a verifier recomputes from the
files, and the verifier's check names a falsified claim."""
from __future__ import annotations

import copy

import pytest
import torch

from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.data import Dataset, load_dataset
from trainproof.ml.probe import PROBE_SAMPLES, model_at, probe_losses, probe_set
from trainproof.ml.snapshot import SnapshotError
from trainproof.verifier.verification import probe_mismatch

pytestmark = pytest.mark.ml


def test_the_probe_is_every_nth_sample_from_the_first():
    x = torch.arange(1437 * 2, dtype=torch.float32).reshape(1437, 2)
    px, py = probe_set(Dataset(x, torch.arange(1437), "d"))
    assert len(py) == 479 <= PROBE_SAMPLES and py[:3].tolist() == [0, 3, 6] and torch.equal(px[1], x[3])
    small = Dataset(x[:40], torch.arange(40), "small")
    assert probe_set(small)[1].tolist() == list(range(40))  # fewer than PROBE_SAMPLES: all of them


@pytest.mark.parametrize("fixture", ["mlp_run", "cnn_run"])
def test_claimed_probe_losses_are_what_the_files_give(request, fixture):
    run_dir, run = request.getfixturevalue(fixture)
    dataset = load_dataset(run_dir / run["dataset"]["file"], run["dataset"]["sha256"])
    found = probe_losses(run["recipe"]["architecture"], run["recipe"]["loss"], dataset, snapshot_paths(run_dir, run))
    claimed = [s["probe_loss"] for s in run["scores"]]
    assert claimed == [found[i:i + 2] for i in range(len(claimed))]  # bit for bit, each snapshot's loss chained
    assert found[-1] < found[0]  # honest training fits its data better


def test_the_verifier_names_a_falsified_probe_loss(mlp_run):
    run_dir, run = mlp_run
    cert = {**run, "dataset": {**run["dataset"]}}
    paths = snapshot_paths(run_dir, run)
    dataset = run_dir / run["dataset"]["file"]
    assert probe_mismatch(cert, 2, paths[2], paths[3], dataset) == ""
    lied = copy.deepcopy(cert)
    lied["scores"][2]["probe_loss"][1] *= 0.999  # a rise shaved off, 0.1 %
    reason = probe_mismatch(lied, 2, paths[2], paths[3], dataset)
    assert reason.startswith("claimed probe_loss of interval 2 at its end is ") and "the snapshots give" in reason
    older = copy.deepcopy(cert)
    del older["scores"][2]["probe_loss"]  # stored before probe losses were claimed: nothing to check
    assert probe_mismatch(older, 2, paths[2], paths[3], dataset) == ""


def test_a_snapshot_of_another_architecture_is_refused(mlp_run, cnn_run):
    (cnn_dir, cnn), mlp = cnn_run, mlp_run[1]
    with pytest.raises(SnapshotError, match="do not fit the architecture"):
        model_at(mlp["recipe"]["architecture"], snapshot_paths(cnn_dir, cnn)[0])
