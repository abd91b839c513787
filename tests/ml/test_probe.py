"""The probe loss on recorded runs: what the Recorder claims is what a verifier recomputes from the
files, and the verifier's check names a falsified claim."""
from __future__ import annotations

import copy

import pytest
import torch

from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.data import Dataset, load_dataset
from trainproof.ml.probe import MIN_CLASS_SAMPLES, PROBE_SAMPLES, class_rise, model_at, probe_claims, probe_figures, probe_set
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
    found, rises = probe_claims(run["recipe"]["architecture"], run["recipe"]["loss"], dataset, snapshot_paths(run_dir, run))
    claimed = [s["probe_loss"] for s in run["scores"]]
    assert claimed == [found[i:i + 2] for i in range(len(claimed))]  # bit for bit, each snapshot's loss chained
    assert found[-1] < found[0]  # honest training fits its data better
    assert [s["probe_class_rise"] for s in run["scores"]] == rises and all(isinstance(r, float) for r in rises)


def test_the_class_figures_are_per_class_means_of_the_same_losses(mlp_run):
    run_dir, run = mlp_run
    dataset = load_dataset(run_dir / run["dataset"]["file"], run["dataset"]["sha256"])
    x, y = probe_set(dataset)
    model = model_at(run["recipe"]["architecture"], snapshot_paths(run_dir, run)[2])
    mean, classes = probe_figures(model, x, y, "cross_entropy")
    with torch.no_grad():
        each = torch.nn.functional.cross_entropy(model(x), y, reduction="none").double()
    assert sorted(classes) == list(range(10))
    for c, value in classes.items():
        assert value == pytest.approx(float(each[y == c].mean()), rel=1e-6)
    counts = torch.bincount(y)
    assert mean == pytest.approx(sum(classes[c] * int(counts[c]) for c in classes) / len(y), rel=1e-6)
    few = torch.cat([torch.nonzero(y != 3).flatten(), torch.nonzero(y == 3).flatten()[:MIN_CLASS_SAMPLES - 1]])
    assert 3 not in probe_figures(model, x[few], y[few], "cross_entropy")[1]  # too few samples to judge
    assert class_rise({0: 1.0, 1: 2.0}, {0: 1.5, 1: 1.0}) == 0.5 and class_rise({0: 1.0}, {1: 1.0}) is None


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
    hidden = copy.deepcopy(cert)
    hidden["scores"][2]["probe_class_rise"] -= 0.01  # one class's rise understated
    assert probe_mismatch(hidden, 2, paths[2], paths[3], dataset).startswith("claimed probe_class_rise of interval 2 is ")
    hidden["scores"][2]["probe_class_rise"] = None
    assert "probe_class_rise of interval 2 is None" in probe_mismatch(hidden, 2, paths[2], paths[3], dataset)
    older = copy.deepcopy(cert)
    del older["scores"][2]["probe_loss"]  # stored before probe losses were claimed: nothing to check
    assert probe_mismatch(older, 2, paths[2], paths[3], dataset) == ""


def test_a_snapshot_of_another_architecture_is_refused(mlp_run, cnn_run):
    (cnn_dir, cnn), mlp = cnn_run, mlp_run[1]
    with pytest.raises(SnapshotError, match="do not fit the architecture"):
        model_at(mlp["recipe"]["architecture"], snapshot_paths(cnn_dir, cnn)[0])


def test_flipped_labels_raise_one_class_and_the_contract_selects_that_interval():
    """A real run of which interval 9 trains with class 1 labelled 0 (bench-detection's label flip):
    class 1's probe loss jumps while the mean barely moves, and the contract's rule at its default
    settings selects interval 9 for it; the same run trained honestly has no class-rise pick."""
    from dataclasses import asdict

    from bench.detection.scenarios import Config
    from bench.detection.train import one_run
    from trainproof.chaincode.contract import selection
    from trainproof.chaincode.contract.config import DEFAULTS

    config = asdict(Config(0, "digits", "mlp", "sgd-momentum", "constant", 20, 8))
    flipped = one_run({"config": config, "family": "label-flip", "seed": 7, "half": "held-out", "bad": {"flip": [9]}})
    honest = one_run({"config": config, "family": "clean", "seed": 7, "half": "held-out", "bad": {}})

    def picks(run):
        scores = [{"absolute": a, "input_shift": s, "probe_loss": p, "probe_class_rise": r} for a, s, p, r in
                  zip(run["absolute"], run["input_shift"], run["probe_loss"], run["probe_class_rise"])]
        return selection.deterministic(**selection.claims({"scores": scores, "recipe": run["recipe"]}),
                                       **selection.settings(DEFAULTS))

    assert "class-rise" in picks(flipped)[9]["reasons"]
    assert not any("class-rise" in e["reasons"] for e in picks(honest).values())
    base = honest["probe_loss"][0][0]
    assert flipped["probe_class_rise"][9] > 3 * max(honest["probe_class_rise"][1:])  # far beyond honest wobble
    mean_rise = (flipped["probe_loss"][9][1] - flipped["probe_loss"][9][0]) / base
    assert mean_rise < flipped["probe_class_rise"][9] / base / 3  # the mean dilutes it over the ten classes
