"""The demo's steps, in order, against the network ``make network-up`` started."""
from __future__ import annotations

import math
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from demo import tamper, training
from demo.attest import attest_outputs
from demo.verdicts import Submission, selection_note, table, wait_all
from trainproof.storage import ArtifactStore
from trainproof.cli.commands.lineage import tree
from trainproof.cli.errors import EXPECTED, translate
from trainproof.cli.output import CliError, Exit, duration, fail, size
from trainproof.contract import TrainproofContract
from trainproof.gateway import Contract
from trainproof.profile import Profile
from trainproof.submission import submit_run

IDENTITY = "org1-user1"
VERDICT_TIMEOUT = 600.0
console = Console(highlight=False)


def main() -> None:
    started = time.monotonic()
    try:
        ok = run()
    except CliError as error:
        fail(error, False)
    except EXPECTED as exc:
        fail(translate(exc, IDENTITY, "client"), False)
    console.rule()
    console.print(f"demo finished in [bold]{duration(time.monotonic() - started)}[/]"
                  + ("" if ok else " [bold red]with unexpected outcomes (see above)[/]"))
    console.print("The network keeps running (ledger, MinIO, verifier workers). Stop it with [bold]make network-down"
                  "[/]; [bold]make network-clean[/] also removes its state.")
    url = Profile.load().home / "explorer" / "url"  # written by network/scripts/services/explorer.sh
    if url.exists():
        console.print(f"Audit every block, vote and verdict in the explorer: [bold]{url.read_text().strip()}[/]")
    sys.exit(0 if ok else 1)


def run() -> bool:
    profile = Profile.load()
    work = profile.home / "demo" / time.strftime("%Y%m%d-%H%M%S")
    console.print(f"[bold]trainproof demo[/]: network in {profile.home}, acting as {IDENTITY}; runs in {work}")
    with profile.connect(IDENTITY) as gateway, ArtifactStore.from_state(role="submitter", org="org1") as store:
        contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
        config = preflight(contract, profile)

        def submit(sub_label: str, run_dir: Path, run: dict, parent: Submission | None = None,
                   poisoned: list[int] | None = None) -> Submission:
            done = submit_run(run_dir, contract, store, parent_id=parent.model_id if parent else None)
            console.print(f"  submitted {sub_label}: model {done.model_id} ({done.state['intervals']} intervals, "
                          f"{size(done.artifact_bytes)} of artifacts stored in MinIO)")
            return Submission(sub_label, run_dir, run, done.model_id, parent, poisoned or [])

        # Fresh seeds on every run: an artifact is claimed once on the ledger, so a second demo on
        # the same network (or a backdoored copy of the honest run) could not reuse the snapshots.
        seed = secrets.randbelow(2 ** 28) * 4 + 4
        step(1, "train an honest model on scikit-learn's digits with the Recorder, and submit it")
        run_dir = work / "honest"
        run = training.train(run_dir, seed=seed, name="digits-honest")
        console.print(f"  trained {training.INTERVALS} intervals × {training.STEPS_PER_INTERVAL} steps: "
                      f"test accuracy {run['metrics']['accuracy']:.3f}")
        honest = submit("digits-honest", run_dir, run)

        step(2, "train a model with a backdoor trained in during some intervals, and submit it")
        poisoned = training.poisoned_intervals(training.INTERVALS, config["audit_fraction"])
        audited = max(1, math.ceil(config["audit_fraction"] * training.INTERVALS))
        console.print(f"  poisoned intervals: {poisoned[0]}–{poisoned[-1]} of 0–{training.INTERVALS - 1}. Only "
                      f"selected intervals are replayed (outliers + an audit sample of {audited}); with fewer clean "
                      f"intervals than that, the sample cannot miss the poison: this demo makes sure, it is not luck.")
        run_dir = work / "backdoor"
        run = training.train(run_dir, seed=seed + 2, name="digits-backdoor", poison_intervals=poisoned)
        console.print(f"  test accuracy {run['metrics']['accuracy']:.3f}, backdoor success rate "
                      f"{run['metrics']['attack_success_rate']:.0%} (trigger: a lit 2×2 corner → class 0)")
        backdoor = submit("digits-backdoor", run_dir, run, poisoned=poisoned)

        step(3, "fine-tune the honest model into a child (its family tree), and submit it")
        run_dir = work / "child"
        run = training.train(run_dir, seed=seed + 1, name="digits-finetuned", intervals=training.CHILD_INTERVALS,
                             parent_snapshot=training.final_snapshot(honest.run_dir, honest.run))
        console.print(f"  fine-tuned {training.CHILD_INTERVALS} intervals from the honest model's final weights: "
                      f"test accuracy {run['metrics']['accuracy']:.3f}")
        child = submit("digits-finetuned", run_dir, run, parent=honest)

        step(4, "wait for the verifiers' verdicts")
        subs = [honest, backdoor, child]
        wait_all(contract, subs, VERDICT_TIMEOUT, console)
        console.print(table(subs))
        console.print(selection_note(backdoor))

        step(5, "the family tree, and `trainproof check` on a tampered copy of the honest model")
        console.print(tree(TrainproofContract(contract).get_lineage(honest.model_id)))
        found = check_tampered(work / "check", honest)

        step(6, "attest a prediction of the honest model, check its receipt; the backdoored model cannot be attested")
        signed = attest_outputs(work / "attest", honest, backdoor, contract, console, IDENTITY)

    expected = {honest.label: "VERIFIED", backdoor.label: "REJECTED", child.label: "VERIFIED"}
    surprises = [f"{s.label} is {s.state['status']}, expected {expected[s.label]}" for s in subs
                 if s.state["status"] != expected[s.label]]
    for line in surprises:
        console.print(f"[bold red]unexpected:[/] {line}")
    if not signed:
        console.print("[bold red]unexpected:[/] the signed-output step did not go as expected (see step 6)")
    return not surprises and found and signed


def step(number: int, title: str) -> None:
    console.rule(f"[bold]{number}/6[/] {title}", align="left")


def preflight(contract: Contract, profile: Profile) -> dict:
    """The contract's settings; refuses to start when no verifier could ever vote."""
    ledger = TrainproofContract(contract)
    config = ledger.get_config()["values"]
    active = ledger.list_verifiers(status="ACTIVE")
    if len(active) < config["sub_quorum_size"]:
        raise CliError(f"only {len(active)} active verifier(s) on the ledger; a sub-quorum needs "
                       f"{config['sub_quorum_size']}", "`make network-up` registers and starts the verifier workers",
                       Exit.UNAVAILABLE)
    workers = sorted(p.stem for p in (profile.home / "pids").glob("worker-*.pid"))
    console.print(f"  {len(active)} active verifiers; worker processes: {', '.join(workers) or 'none found'}")
    return config


def check_tampered(work: Path, honest: Submission) -> bool:
    """Export the honest weights, alter one layer, and let the CLI find and restore it."""
    work.mkdir(parents=True, exist_ok=True)
    original = tamper.export_weights(training.final_snapshot(honest.run_dir, honest.run), work / "honest.safetensors")
    layer = honest.run["layer_hashes"]["layers"][0]
    tampered = tamper.tamper(original, work / "tampered.safetensors", layer)
    repaired = work / "repaired.safetensors"
    console.print(f"  {tampered.name}: a copy of the honest model's weights with layer [bold]{layer}[/] shifted by 0.05")
    args = ["check", tampered.name, "--model", honest.model_id, "--restore", repaired.name]
    console.print(f"  $ cd {work}\n  $ trainproof {' '.join(args)}", style="bold")
    env = {**os.environ, "TRAINPROOF_IDENTITY": IDENTITY, "COLUMNS": str(console.width)}
    done = subprocess.run([sys.executable, "-m", "trainproof.cli", *args], cwd=work, env=env)
    same = repaired.exists() and tamper.identical(repaired, original)
    console.print(f"  exit code {done.returncode} (1 = differences found); repaired file identical to the verified "
                  f"weights: {'[green]yes[/]' if same else '[red]no[/]'}")
    return done.returncode == Exit.DIFFERS and same
