"""Redis keeps queued work across a restart (append-only file)."""
from __future__ import annotations

import os
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

pytestmark = pytest.mark.queue

PORT = int(os.environ.get("REDIS_PORT", "17379"))


def connect() -> redis.Redis:
    # No client-side retries: a refused connection should show at once, not after redis-py's backoff.
    return redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def test_queued_work_survives_a_restart(redis_service):
    client = connect()
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    key, queue = f"trainproof-test:{uuid.uuid4().hex}", f"trainproof-test-queue:{uuid.uuid4().hex}"
    client.set(key, "written before the restart")
    client.rpush(queue, "task-1", "task-2")
    client.close()

    redis_service.stop()
    with pytest.raises(redis.ConnectionError):
        connect().ping()
    redis_service.start()

    client = connect()
    try:
        assert client.get(key) == b"written before the restart"
        assert client.lrange(queue, 0, -1) == [b"task-1", b"task-2"]
    finally:
        client.delete(key, queue)
        client.close()
