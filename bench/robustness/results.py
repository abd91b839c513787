"""The workers' task results, read through Celery's result API, and whether the queues are idle."""
from __future__ import annotations

import time
from typing import Any

from trainproof.verifier.app import app


def queues_idle(fingerprints: list[str]) -> bool:
    """No verification task waiting or running (Celery on Redis: the queue lists and 'unacked')."""
    import redis

    from trainproof.verifier.settings import broker_url, queue_for

    r = redis.Redis.from_url(broker_url())
    try:
        return r.hlen("unacked") == 0 and all(r.llen(queue_for(fp)) == 0 for fp in fingerprints)
    finally:
        r.close()


def wait_idle(fingerprints: list[str], timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        quiet = quiet + 1 if queues_idle(fingerprints) else 0
        if quiet >= 3:
            return True
        time.sleep(1)
    return False


def task_results(task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """task id → the task's return value, for the tasks that succeeded (Celery's result backend)."""
    out = {}
    for tid in task_ids:
        result = app.AsyncResult(tid)
        if result.successful() and isinstance(result.result, dict):
            out[tid] = result.result
    return out
