"""One recorded training run of the suite: the data set, the model, the attack, and what it claims.

The run goes through ``trainproof.ml.recorder.Recorder`` exactly as a submitter's would, so the
per-interval absolute change, input shift and probe loss returned here are the values its certificate claims
(``run["scores"]``), the ones the contract selects from. The attack's effect is measured twice:
right after the last bad interval (what the cheat bought) and on the final model.
"""
from __future__ import annotations

import shutil
import tempfile
from typing import Any

TARGET = 0  # backdoor target class
FLIP = (1, 0)  # label-flip: class 1 relabelled as class 0
TRIGGER_FEATURES = 3  # tabular trigger: this many features set to a seen extreme
TRIGGER_QUANTILE = 0.98
DIGITS_TRIGGER = 1.0  # a lit 2×2 bottom-right patch (digits; value 1.0 after scaling)


def load(name: str, image: bool) -> dict[str, Any]:
    """Train/test tensors of a packaged data set; tabular features standardised on the training half.

    Every fifth sample is held out (no random state). ``trigger`` holds the backdoor: for digits the
    2×2 corner patch; for tabular data the ``TRIGGER_FEATURES`` features least correlated with the
    target class, each set to its training ``TRIGGER_QUANTILE`` quantile: values honest samples do
    take, so the trigger is in distribution feature by feature.
    """
    import numpy as np
    import torch
    from sklearn import datasets

    if name == "digits":
        bunch = datasets.load_digits()
        x, y = bunch.data.astype(np.float32) / 16.0, bunch.target
    elif name == "wine":
        bunch = datasets.load_wine()
        x, y = bunch.data.astype(np.float32), bunch.target
    elif name == "breast_cancer":
        bunch = datasets.load_breast_cancer()
        x, y = bunch.data.astype(np.float32), bunch.target
    elif name == "synthetic":
        x, y = datasets.make_classification(n_samples=800, n_features=20, n_informative=8, n_redundant=4, n_classes=4,
                                            class_sep=1.5, random_state=0)
        x = x.astype(np.float32)
    else:
        raise ValueError(f"unknown data set {name!r}")
    test = np.arange(len(y)) % 5 == 0
    preprocessing = [f"sklearn {name}", "every 5th sample held out"]
    if name != "digits":
        mean, std = x[~test].mean(0), x[~test].std(0) + 1e-6
        x = ((x - mean) / std).astype(np.float32)
        preprocessing.append("standardised on the training part")
        corr = [abs(np.corrcoef(x[~test][:, c], y[~test] == TARGET)[0, 1]) for c in range(x.shape[1])]
        features = sorted(range(x.shape[1]), key=lambda c: corr[c])[:TRIGGER_FEATURES]
        trigger = {c: float(np.quantile(x[~test][:, c], TRIGGER_QUANTILE)) for c in features}
    else:
        trigger = {r * 8 + c: DIGITS_TRIGGER for r in (6, 7) for c in (6, 7)}
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.int64)
    return {"x": xt[~test].contiguous(), "y": yt[~test].contiguous(), "x_test": xt[test].contiguous(),
            "y_test": yt[test].contiguous(), "classes": int(yt.max()) + 1, "trigger": trigger,
            "preprocessing": preprocessing, "image": image}


def triggered(x, trigger: dict[int, float]):
    """A copy of flat inputs ``x`` with the trigger's features set."""
    out = x.clone()
    for c, v in trigger.items():
        out[:, c] = v
    return out


def _effect(model, data: dict[str, Any]) -> dict[str, float]:
    """Clean test accuracy, backdoor success (non-target test samples the trigger turns into the
    target) and flip success (test samples of the flipped class predicted as its new label)."""
    import torch

    from trainproof.ml.loop import evaluate

    x, y = data["x_test"], data["y_test"]
    acc = evaluate(model, _shape(x, data), y)["accuracy"]
    model.eval()
    with torch.no_grad():
        keep = y != TARGET
        asr = float((model(_shape(triggered(x[keep], data["trigger"]), data)).argmax(1) == TARGET).float().mean())
        src = y == FLIP[0]
        flip = float((model(_shape(x[src], data)).argmax(1) == FLIP[1]).float().mean())
    model.train()
    return {"accuracy": acc, "backdoor": asr, "flip": flip}


def _shape(x, data: dict[str, Any]):
    return x.reshape(-1, 1, 8, 8) if data["image"] else x


def one_run(job: dict[str, Any]) -> dict[str, Any]:
    """Train ``job`` (``Job.as_dict()``) with the Recorder in a scratch directory; return its claims and truth."""
    import torch

    from bench.detection.scenarios import BACKDOOR_FRACTION, OPTIMIZERS, SPARSE_FRACTION, SPARSE_STEPS, schedule_spec
    from trainproof.ml import registry
    from trainproof.ml.data import Dataset
    from trainproof.ml.loop import Training, train_step
    from trainproof.ml.recorder import Recorder

    torch.set_num_threads(1)
    cfg, bad = job["config"], job["bad"]
    image = cfg["arch"] == "cnn"
    data = load(cfg["dataset"], image)
    features = data["x"].shape[1]
    if image:
        spec = {"name": "cnn", "params": {"in_channels": 1, "image_size": 8, "channels": [8, 16], "out_features": data["classes"],
                                          "dropout": 0.1}}
    else:
        spec = {"name": "mlp", "params": {"in_features": features, "hidden": list(cfg["hidden"]), "out_features": data["classes"],
                                          "dropout": 0.1 if cfg["dataset"] == "digits" else 0.0}}
    torch.manual_seed(job["seed"])
    model = registry.build_model(spec)
    opt = registry.build_optimizer(OPTIMIZERS[cfg["optimizer"]], model)
    steps, intervals = cfg["steps"], cfg["intervals"]
    total = steps * intervals
    sched = registry.build_scheduler(schedule_spec(cfg["schedule"], total), opt)
    batch = 16 if len(data["y"]) < 300 else 32
    x_train = _shape(data["x"], data)
    dataset = Dataset(x_train, data["y"], f"sklearn-{cfg['dataset']}", data["preprocessing"])
    poison, flip = set(bad.get("poison", [])), set(bad.get("flip", []))
    skip, short, sparse = set(bad.get("skip", [])), set(bad.get("short", [])), set(bad.get("sparse", []))
    sparse_steps = max(1, round(SPARSE_STEPS * steps))
    last_bad = max((i for v in bad.values() for i in v), default=None)
    tmp = tempfile.mkdtemp(prefix="tp-suite-")
    try:
        rec = Recorder(tmp, model, opt, scheduler=sched, dataset=dataset, batch_size=batch, steps_per_interval=steps,
                       total_steps=total, seeds={"torch": job["seed"], "data": job["seed"] + 1}, name="suite")
        t = Training(model, opt, sched, None, torch.nn.functional.cross_entropy, torch.device("cpu"))
        after_bad = None
        for xb, yb in rec.batches():
            interval, offset = divmod(rec.steps_done, steps)
            if interval in skip or (interval in short and offset >= steps // 2):
                rec.step()
                continue
            fraction = BACKDOOR_FRACTION if interval in poison else SPARSE_FRACTION if interval in sparse and offset < sparse_steps else 0
            if fraction:
                m = max(1, round(fraction * len(yb)))
                xb, yb = xb.clone(), yb.clone()
                xb[:m] = _shape(triggered(xb[:m].flatten(1), data["trigger"]), data)
                yb[:m] = TARGET
            if interval in flip:
                yb = torch.where(yb == FLIP[0], torch.full_like(yb, FLIP[1]), yb)
            train_step(t, xb, yb)
            rec.step()
            if last_bad is not None and rec.steps_done == (last_bad + 1) * steps:
                after_bad = _effect(model, data)
        final = _effect(model, data)
        run = rec.finish(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    truth = [0] * intervals
    for label in bad.values():
        for i in label:
            truth[i] = 1
    return {"job": job, "family": job["family"], "half": job["half"], "config": cfg, "truth": truth,
            "absolute": [float(s["absolute"] or 0.0) for s in run["scores"]],
            "input_shift": [float(s["input_shift"] or 0.0) for s in run["scores"]],
            "probe_loss": [s["probe_loss"] for s in run["scores"]],
            "recipe": run["recipe"], "final": final, "after_bad": after_bad}
