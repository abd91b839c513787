"""DeepRing's parameter-tampering experiment (Goel et al., Table 3) with trainproof's chain.

    python -m bench.deepring [--sigma 5.0] [--seed 0]

For each model (the paper's dense net 900-600-300-100 and the small CNN), trained on
scikit-learn's digits with the Recorder:

1. the final snapshot is checked against its recorded SHA-256: the verified copy;
2. Algorithm 1: with the weights frozen, a logistic importance parameter p per layer
   gates its weights (W ⊙ sigmoid(p)); p is trained on the training set and the layer
   with the largest p is the most important;
3. Gaussian noise N(0, (sigma · std(W))²) is added to that layer's weights;
4. the hash chain (ledger copy from run.json) localizes the altered layer, and tracking
   mode restores it from the verified snapshot.

Printed: accuracy original / tampered / after DeepRing restore, beside the paper's NN row.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
from torch.func import functional_call

from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.data import digits
from demo.digits import train_digits
from trainproof.ml.hashchain import diff_layers, layer_chain, restore_layers
from trainproof.ml.loop import evaluate
from trainproof.ml.registry import build_model
from trainproof.ml.snapshot import load_verified
from trainproof.ml.state import layer_of

PAPER_NN = {"MNIST": (98.10, 64.29, 98.10), "CIFAR-10": (62.35, 50.11, 62.35)}


def model_from(snapshot, spec: dict) -> torch.nn.Module:
    model = build_model(spec)
    state = {n: snapshot.tensors[f"param/{n}"] for n in snapshot.meta["parameters"]}
    state.update({n: snapshot.tensors[f"buffer/{n}"] for n in snapshot.meta["buffers"]})
    model.load_state_dict(state)
    return model.eval()


def most_important_layer(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 200,
                         sparsity: float = 0.05) -> tuple[str, dict[str, float]]:
    """Algorithm 1 of DeepRing: train one logistic gate per layer's weights, weights frozen.

    The paper leaves the gate's training objective open; with the loss alone every gate
    just opens. A small penalty on Σ sigmoid(p) (the strength sparsity of Keshari et al.,
    which the paper follows) closes the gates of layers the loss can do without.
    """
    weights = {n: p.detach() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1}
    gates = {layer_of(n): torch.zeros((), requires_grad=True) for n in weights}
    opt = torch.optim.Adam(gates.values(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (64,), generator=g)
        params = {n: w * torch.sigmoid(gates[layer_of(n)]) for n, w in weights.items()}
        loss = torch.nn.functional.cross_entropy(functional_call(model, params, (x[idx],)), y[idx])
        loss = loss + sparsity * sum(torch.sigmoid(p) for p in gates.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    values = {layer: float(p.detach()) for layer, p in gates.items()}
    return max(values, key=values.get), values


def experiment(label: str, run_kw: dict, sigma: float, seed: int, work: Path) -> dict:
    image = run_kw.get("architecture") == "cnn"
    (x, y), (x_test, y_test) = digits(image=image)
    run = train_digits(work / label, seed=seed, **run_kw)
    final_entry = run["snapshots"][-1]
    final_path = snapshot_paths(work / label, run)[-1]
    verified = load_verified(final_path, final_entry["sha256"], final_entry["size"])
    ledger = run["layer_hashes"]
    model = model_from(verified, run["recipe"]["architecture"])
    original = evaluate(model, x_test, y_test)["accuracy"]

    layer, gates = most_important_layer(model, x, y)
    weight = dict(model.named_parameters())[f"{layer}.weight"]
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed + 1)
        weight += sigma * weight.std() * torch.randn(weight.shape, generator=g)
    tampered = evaluate(model, x_test, y_test)["accuracy"]
    state = {n: t.detach().clone() for n, t in model.state_dict().items()}
    localized = diff_layers(state, ledger)

    repaired, restored = restore_layers(state, ledger, final_path)
    model.load_state_dict(repaired)
    after = evaluate(model, x_test, y_test)["accuracy"]
    return {"label": label, "original": original, "tampered": tampered, "restored_acc": after, "attacked": layer,
            "localized": localized, "restored": restored, "chain_ok": layer_chain(repaired) == ledger, "gates": gates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sigma", type=float, default=5.0, help="noise std as a multiple of the layer's weight std")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    work = Path(tempfile.mkdtemp(prefix="tp-deepring-"))
    models = {
        "NN 900-600-300-100": {"hidden": [900, 600, 300, 100], "intervals": 20, "steps_per_interval": 20, "dropout": 0.1,
                               "optimizer": {"name": "adam", "params": {"lr": 1e-3}}},
        "CNN (BatchNorm)": {"architecture": "cnn", "intervals": 10, "steps_per_interval": 20, "dropout": 0.1,
                            "optimizer": {"name": "adam", "params": {"lr": 3e-3}}, "name": "digits-cnn"},
    }
    try:
        rows = [experiment(label, kw, args.sigma, args.seed, work) for label, kw in models.items()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Parameter tampering: N(0, ({args.sigma:g}·std W)²) added to the most important layer (Algorithm 1)\n")
    print(f"{'model (digits)':<20} {'original':>9} {'tampered':>9} {'DeepRing':>9}  attacked  localized by chain  restored  chain")
    for r in rows:
        print(f"{r['label']:<20} {100 * r['original']:9.2f} {100 * r['tampered']:9.2f} {100 * r['restored_acc']:9.2f}  "
              f"{r['attacked']:<8}  {','.join(r['localized']):<18} {','.join(r['restored']):<9} {'ok' if r['chain_ok'] else 'BAD'}")
    for dataset, (o, t, d) in PAPER_NN.items():
        print(f"{'paper NN, ' + dataset:<20} {o:9.2f} {t:9.2f} {d:9.2f}")
    for r in rows:
        print(f"importance p ({r['label']}): " + ", ".join(f"{k} {v:+.2f}" for k, v in r["gates"].items()))


if __name__ == "__main__":
    main()
