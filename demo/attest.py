"""Step 6 of the demo: a signed output of the honest model, its receipt checked, and the
backdoored model refused, by the CLI and by the contract itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from demo.verdicts import Submission
from trainproof.attestation import merkle
from trainproof.cli.output import Exit
from trainproof.contract import ContractError, TrainproofContract
from trainproof.gateway import Contract


def sample_input(path: Path) -> Path:
    """One digits image as the models take it (64 pixels scaled to [0, 1]), as a JSON array."""
    from sklearn.datasets import load_digits

    path.write_text(json.dumps((load_digits().data[-1] / 16.0).tolist()))
    return path


def attest_outputs(work: Path, honest: Submission, backdoor: Submission, contract: Contract, console: Console,
                   identity: str) -> bool:
    work.mkdir(parents=True, exist_ok=True)
    sample = sample_input(work / "digit.json")
    env = {**os.environ, "TRAINPROOF_IDENTITY": identity, "COLUMNS": str(console.width)}

    def cli(*args: str) -> int:
        console.print(f"  $ trainproof {' '.join(args)}", style="bold")
        return subprocess.run([sys.executable, "-m", "trainproof.cli", *args], cwd=work, env=env).returncode

    attested = cli("attest", honest.model_id, "--input", sample.name, "--out", "receipt.json")
    checked = cli("verify-output", "receipt.json", "--input", sample.name, "--online") if attested == Exit.OK else -1
    refused = cli("attest", backdoor.model_id, "--input", sample.name)
    # The CLI refuses before sending anything; a handmade request meets the contract's own rule.
    final = TrainproofContract(contract).get_model(backdoor.model_id)["certificate"]["snapshots"][-1]["sha256"]
    zero = "0" * 64
    request = {"model_id": backdoor.model_id, "weights_sha256": final, "count": 1,
               "root": merkle.leaf_hash(merkle.item_leaf(zero, zero)).hex(),
               "batch": {"uri": f"s3://datasets/sha256/{zero}", "sha256": zero, "size": 1}, "execution": {},
               "output": {"input_sha256": zero, "output_sha256": zero}}
    try:
        TrainproofContract(contract).attest_output_async(request)
        contract_refused = False
        console.print("  [bold red]the contract accepted an attestation of the REJECTED model[/]")
    except ContractError as exc:  # a 409: the ledger's state (REJECTED) forbids it
        contract_refused = exc.status == 409 and "is REJECTED" in exc.reason
        console.print(f"  the contract, sent AttestOutput for it directly: [bold]{exc.reason}[/]", soft_wrap=True)
    return attested == Exit.OK and checked == Exit.OK and refused == Exit.REFUSED and contract_refused

