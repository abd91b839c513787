"""The robustness benchmark's verifier worker: ``celery -A bench.robustness.worker worker``.

The product's task (same name, queue and retry policy, same procedure) with one difference:
the vote goes through ``adversary.cast``, malicious when ``$TRAINPROOF_EXPERIMENT_ADVERSARY``
is set. Production workers (``celery -A trainproof.verifier``) have no such branch.
"""
from __future__ import annotations

import logging
from typing import Any

from bench.robustness import adversary
from trainproof.verifier.app import create_app
from trainproof.verifier.settings import worker_identity
from trainproof.verifier.tasks import TASK_OPTIONS, run_verification_task

app = create_app("bench-verifier", [])
MODE = adversary.mode_from_env()
if MODE:
    logging.getLogger("verifier").warning("!!! EXPERIMENT: this worker votes as a MALICIOUS '%s' adversary (%s) !!!",
                                          MODE, adversary.ADVERSARY_ENV)


@app.task(**TASK_OPTIONS)
def verify_interval(self, model_id: str, interval: int, verifier: str) -> dict[str, Any]:
    return run_verification_task(self, model_id, interval, verifier, adversary.cast)


__all__ = ["app", "verify_interval", "worker_identity"]
