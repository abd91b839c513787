"""Whatever lands on a verifier queue, every worker stays up (issue 15, finding 8).

Anyone holding the broker's password (every org's dispatcher and workers do) can push onto any
verifier's queue in the real Redis. Garbage of every shape goes onto every queue; each worker
must drop it with a log line and go on to verify a real submission. Celery's remote control
must be off: a broadcast ``shutdown`` stops nobody.
"""
from __future__ import annotations

import base64
import json
import pickle
import subprocess
import time
import uuid

import pytest
import redis

from tests.contract.live.conftest import FINAL, Live, fake_payload, process_alive, wait_until
from trainproof.profile import REPO_ROOT
from trainproof.verifier.settings import queue_for

pytestmark = pytest.mark.e2e
UP = str(REPO_ROOT / "network" / "scripts" / "up.sh")


def envelope(queue: str, body: bytes, content_type: str = "application/json", **headers) -> bytes:
    """A kombu Redis message envelope, as the dispatcher's publish writes one."""
    tag = str(uuid.uuid4())
    return json.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8", "content-type": content_type,
        "headers": {"lang": "py", "id": tag, "task": "verifier.verify_interval", **headers},
        "properties": {"correlation_id": tag, "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": queue}, "delivery_tag": tag},
    }).encode()


def garbage(queue: str, fingerprint: str) -> list[bytes]:
    task = [[], {"model_id": "not-a-model", "interval": "x", "verifier": fingerprint}, {}]
    return [
        b"\xff\xfe\x00 not json at all",
        b"{\"truncated\": ",
        b"[]", b"\"a string\"", b"42", b"{}", b"{\"body\": 1}", b"{\"properties\": []}",
        envelope(queue, b"\x00\x01 not json"),                                      # undecodable body
        envelope(queue, pickle.dumps({"boom": 1}), "application/x-python-serialize"),  # never unpickled
        envelope(queue, json.dumps(task).encode(), task="os.system"),               # unknown task
        envelope(queue, json.dumps(task).encode()),                                 # forged task, bad arguments
        envelope(queue, json.dumps([[1, 2, 3], {}, {}]).encode()),                  # wrong call shape
    ]


@pytest.fixture()
def broker() -> redis.Redis:
    from trainproof.verifier.settings import broker_url

    client = redis.Redis.from_url(broker_url(), socket_timeout=10)
    yield client
    client.close()


def worker_pids(profile) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in (profile.home / "pids").glob("worker-*.pid")}


@pytest.fixture()
def workers(profile):
    """The workers' PIDs now; any worker that died is started again afterwards (up.sh)."""
    pids = worker_pids(profile)
    assert pids and all(process_alive(p) for p in pids.values()), "start the network with `make network-up`"
    yield pids
    if not all(process_alive(p) for p in pids.values()):
        subprocess.run([UP], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)


def test_garbage_on_every_queue_leaves_every_worker_alive_and_working(profile, connect, broker, workers):
    live = Live(profile, connect)
    queues = {name: queue_for(live.fingerprint(name)) for name in live.identities("verifier")}
    for name, queue in queues.items():
        broker.lpush(queue, *garbage(queue, live.fingerprint(name)))
    wait_until(lambda: all(broker.llen(q) == 0 for q in queues.values()), 60, "the workers to drain their queues")
    time.sleep(3)  # a worker that choked on its last item would be exiting now
    dead = [name for name, pid in workers.items() if not process_alive(pid)]
    assert not dead, f"workers died on garbage: {dead}"
    # And they still work: a real submission gets its votes (REJECT: its artifacts are not stored).
    payload = fake_payload("after-garbage")
    live.submit_model(payload)
    state = live.wait_final(payload["model_id"], timeout=120)
    assert state["status"] in FINAL
    assert all(process_alive(pid) for pid in workers.values())
    logs = "".join((profile.home / "logs" / f"{name}.log").read_text(errors="replace") for name in workers)
    assert "dropped a malformed message" in logs


def test_remote_control_cannot_stop_the_workers(workers):
    from trainproof.verifier.app import app

    assert app.control.ping(timeout=2) == []  # nobody listens for remote control
    app.control.broadcast("shutdown")
    time.sleep(5)
    dead = [name for name, pid in workers.items() if not process_alive(pid)]
    assert not dead, f"a broadcast shutdown stopped {dead}"
