"""Recorded runs shared by the ml tests (trained once per session, a few seconds each)."""
from __future__ import annotations

import pytest

# 1437 training digits / batch 32 = 44 steps per epoch: interval 4 (steps 40–50) crosses
# the epoch boundary, and StepLR(22) decays the lr at step 22 and again at step 44.
EPOCH_INTERVAL = 4
SCHEDULER = {"name": "step", "params": {"step_size": 22, "gamma": 0.5}}


@pytest.fixture(scope="session")
def mlp_run(tmp_path_factory):
    from demo.digits import train_digits

    run_dir = tmp_path_factory.mktemp("mlp")
    run = train_digits(run_dir, hidden=[32, 16], intervals=6, steps_per_interval=10, seed=3, scheduler=SCHEDULER)
    return run_dir, run


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory):
    from demo.digits import train_digits

    run_dir = tmp_path_factory.mktemp("cnn")
    run = train_digits(run_dir, architecture="cnn", intervals=6, steps_per_interval=10, seed=4, dropout=0.3,
                       optimizer={"name": "adam", "params": {"lr": 0.01}}, scheduler=SCHEDULER, name="digits-cnn")
    return run_dir, run
