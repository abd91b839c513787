"""Redis keeps queued work across a restart (append-only file), and lets nobody in without a
password: the services' user may queue work but not wipe or stop the server."""
from __future__ import annotations

import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from trainproof.profile import network_home

pytestmark = pytest.mark.queue

REDIS_DIR = network_home() / "redis"


def connect(user: str = "admin") -> redis.Redis:
    """As the operators' ``admin`` user, or as ``broker`` (the dispatcher's and workers' user).
    No client-side retries: a refused connection should show at once, not after redis-py's backoff."""
    url = (REDIS_DIR / f"{user}.url").read_text().strip()
    return redis.Redis.from_url(url, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def test_anonymous_clients_are_refused():
    url = redis.connection.parse_url((REDIS_DIR / "broker.url").read_text().strip())
    anonymous = redis.Redis(host=url["host"], port=url["port"], socket_timeout=5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=url["host"], port=url["port"], username="trainproof", password="guess").ping()


def test_the_services_user_queues_work_but_cannot_wipe_or_stop_redis():
    broker = connect("broker")
    queue = f"trainproof-test-queue:{uuid.uuid4().hex}"
    broker.rpush(queue, "task")
    assert broker.lpop(queue) == b"task"
    for dangerous in (["FLUSHALL"], ["FLUSHDB"], ["SHUTDOWN", "NOSAVE"], ["CONFIG", "SET", "appendonly", "no"],
                      ["SAVE"], ["ACL", "SETUSER", "intruder", "on"], ["KEYS", "*"]):
        with pytest.raises(redis.exceptions.NoPermissionError):
            broker.execute_command(*dangerous)
    assert connect().ping()


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
