"""``trainproof analyze``: score a recorded run's intervals and flag the out-of-line ones, offline."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from trainproof.chaincode.contract import selection
from trainproof.chaincode.contract.config import DEFAULTS
from trainproof.cli.options import common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, err_console
from trainproof.cli.session import Session
from trainproof.ml.certificate import SCORE_KEYS
from trainproof.ml.data import load_dataset
from trainproof.ml.outliers import profile_shift, select_outliers
from trainproof.ml.probe import add_probe_losses
from trainproof.ml.snapshot import sha256_files
from trainproof.submission import read_run


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-k", "k", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True,
              help="Outlier threshold, in robust standard deviations.")
@common_options
@pass_session
def analyze(session: Session, run_dir: Path, k: float) -> None:
    """Score every interval of a recorded run and flag the ones out of line.

    Reads RUN_DIR only (no network): the four weight-change metrics per interval, where
    the first layer's update lands, the probe loss at each end (the model's loss on a fixed
    part of the run's dataset), and the intervals the outlier rules flag (zero change,
    input shift, size against the trend, jumps, too little change). With SGD and momentum,
    an interval right after a flagged one whose shift is only the momentum carried in is
    listed as spillover, not flagged. A submitter can look
    before `submit`; an auditor can run it on downloaded snapshots. The column "contract" is
    what the ledger's own rule (chaincode/contract/selection.py, at the consortium's default
    settings) selects before its random audit; the other flags are analysis rules it does not
    enforce.
    """
    run, files = read_run(run_dir)
    snapshots = [f for f in files if f.label.startswith("snapshot")]
    for f, digest in zip(snapshots, sha256_files([f.path for f in snapshots])):
        if digest != f.sha256:
            raise CliError(f"{f.label} changed since it was recorded: {f.path} has SHA-256 {digest}, run.json says {f.sha256}",
                           "re-record the run rather than edit it", Exit.INTEGRITY)
    scores, profiles, own = _score(run_dir, [f.path for f in snapshots], quiet=session.as_json)
    dataset = next(f for f in files if f.label == "dataset")
    add_probe_losses(scores, run["recipe"], load_dataset(dataset.path, dataset.sha256), [f.path for f in snapshots])
    sizes, l2 = [s["absolute"] for s in scores], [s["l2"] for s in scores]
    flagged = select_outliers(sizes, k, l2, profiles=profiles, own=own)
    plain = select_outliers(sizes, k, l2, profiles=profiles) if own is not None else flagged
    spillover = sorted({e["interval"] for e in plain} - {e["interval"] for e in flagged})
    contract = selection.deterministic(**selection.claims({"scores": scores, "recipe": run.get("recipe")}),
                                       **selection.settings(DEFAULTS))
    audit = min(len(scores) - len(contract), selection.audit_size(len(scores), DEFAULTS["audit_fraction"]))
    result = {"run_dir": str(run_dir), "name": run.get("name"), "k": k, "intervals": scores, "flagged": flagged,
              "momentum_spillover": spillover, "contract": {"selected": [contract[i] for i in sorted(contract)],
                                                           "audit": audit, "settings": "defaults"}}
    if session.as_json:
        emit_json(result)
        return
    _print(result)


def _score(run_dir: Path, paths: list[Path], quiet: bool
           ) -> tuple[list[dict[str, Any]], list[list[float]], list[list[float]] | None]:
    """Each interval's certificate scores (``SCORE_KEYS``), input profile and own profile
    (None unless SGD with momentum); progress on stderr."""
    from trainproof.ml.metrics import METRICS, input_profile, own_profile, score_pair  # numba: only when analysing

    scores, profiles, own = [], [], []
    with nullcontext() if quiet else err_console.status(f"scoring {run_dir}") as status:
        for i in range(len(paths) - 1):
            if status is not None:
                status.update(f"scoring interval {i + 1} of {len(paths) - 1}")
            pair = score_pair(paths[i], paths[i + 1])
            scores.append({"interval": i, **{m: pair[m] for m in METRICS}})
            profiles.append(input_profile(paths[i], paths[i + 1]))
            own.append(own_profile(paths[i], paths[i + 1]))
    shift = profile_shift(profiles)
    for s in scores:
        s["input_shift"] = shift.get(s["interval"], 0.0)
    return scores, profiles, None if any(p is None for p in own) else own


def _print(result: dict[str, Any]) -> None:
    flagged = {e["interval"]: e for e in result["flagged"]}
    ledger = {e["interval"]: e for e in result["contract"]["selected"]}
    table = Table(title=f"{result['name'] or result['run_dir']}: interval i is snapshot i → i+1", title_justify="left")
    for column in ("#", "abs. change", "L2", "percent", "cosine", "input shift", "probe loss", "contract", "flagged by", "z"):
        table.add_column(column, justify="left" if column in ("contract", "flagged by") else "right")
    for s in result["intervals"]:
        hit = flagged.get(s["interval"])
        table.add_row(str(s["interval"]), *(_number(s[m]) for m in SCORE_KEYS),
                      "–" if s.get("probe_loss") is None else "{:.4g} → {:.4g}".format(*s["probe_loss"]),
                      ", ".join(ledger[s["interval"]]["reasons"]) if s["interval"] in ledger else "",
                      hit["rule"] if hit else "", f"{hit['z']:.1f}" if hit and "z" in hit else "")
    console.print(table)
    n = len(result["flagged"])
    console.print(f"the contract's rule selects {len(ledger)} of {len(result['intervals'])} intervals, then audits "
                  f"{result['contract']['audit']} more at random (default settings)")
    console.print(f"{n} of {len(result['intervals'])} intervals flagged by the analysis rules at k={result['k']:g} "
                  "(not enforced by the ledger)")
    if result["momentum_spillover"]:
        console.print("momentum spillover, not flagged: interval(s) " + ", ".join(map(str, result["momentum_spillover"]))
                      + " (shifted only by the momentum carried in from the flagged interval before)")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"
