"""Whatever lands on a verifier queue, every worker stays up (issue 15, finding 8).

Anyone holding the broker's password (every org's dispatcher and workers do) can push onto any
verifier's queue in the real Redis. Garbage of every shape goes onto every queue; each worker
must drop it with a log line and go on to verify a real submission. Celery's remote control
must be off: a broadcast ``shutdown`` stops nobody.

Two kinds of garbage: a fixed list of every shape found so far (``garbage``), and random bytes
from hypothesis (``random_item``): raw bytes, random JSON, and envelopes with random bodies,
content types, headers and properties, ``RANDOM_BATCHES`` batches of up to 8 items on every queue
(more: ``TRAINPROOF_QUEUE_FUZZ_EXAMPLES=100``).
"""
from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import time
import uuid

import pytest
import redis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

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


# --- random bytes -----------------------------------------------------------------------------

RANDOM_BATCHES = int(os.environ.get("TRAINPROOF_QUEUE_FUZZ_EXAMPLES", "12"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ENVELOPE_KEYS = ["body", "content-encoding", "content-type", "headers", "properties"]
PROPERTY_KEYS = ["correlation_id", "delivery_mode", "priority", "body_encoding", "delivery_info", "delivery_tag"]
random_item = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=512)),
    st.tuples(st.just("json"), json_values),
    # A well-formed envelope around random bytes, with a random content type and task name.
    st.tuples(st.just("body"), st.binary(max_size=256),
              st.sampled_from(["application/json", "application/x-python-serialize", "application/x-yaml",
                               "application/data", "text/plain", "", "\x00"]),
              st.sampled_from(["verifier.verify_interval", "celery.ping", "os.system", "", "x" * 300])),
    # An envelope with one part replaced by random JSON (or deleted), at the top or in its properties.
    st.tuples(st.just("part"), st.sampled_from(ENVELOPE_KEYS), st.one_of(st.just("<deleted>"), json_values)),
    st.tuples(st.just("property"), st.sampled_from(PROPERTY_KEYS), st.one_of(st.just("<deleted>"), json_values)),
)


def materialise(item: tuple, queue: str) -> bytes:
    """The bytes of a drawn ``random_item`` for ``queue``."""
    kind = item[0]
    if kind == "raw":
        return item[1]
    if kind == "json":
        return json.dumps(item[1]).encode()
    if kind == "body":
        return envelope(queue, item[1], item[2], task=item[3])
    doc = json.loads(envelope(queue, json.dumps([[], {}, {}]).encode()))
    target = doc if kind == "part" else doc["properties"]
    if item[2] == "<deleted>":
        target.pop(item[1], None)
    else:
        target[item[1]] = item[2]
    return json.dumps(doc).encode()


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


def test_random_bytes_on_every_queue_leave_every_worker_alive(profile, connect, broker, workers):
    live = Live(profile, connect)
    queues = [queue_for(live.fingerprint(name)) for name in live.identities("verifier")]
    pushed = 0

    @settings(max_examples=RANDOM_BATCHES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(items=st.lists(random_item, min_size=1, max_size=8))
    # Found by this test: a list as content-encoding left the message unacked and the worker alive
    # but idle for good (its one prefetch slot taken); the same for a delivery tag that is no string.
    @example(items=[("part", "content-encoding", [[]]), ("property", "delivery_tag", {"a": 1}),
                    ("property", "delivery_info", []), ("part", "headers", [1]), ("raw", b"\x00")])
    def one(items):
        nonlocal pushed
        for queue in queues:
            broker.lpush(queue, *(materialise(item, queue) for item in items))
        pushed += len(items) * len(queues)
        wait_until(lambda: all(broker.llen(q) == 0 for q in queues), 60, f"the workers to drain {items!r}")
        time.sleep(0.5)
        dead = [name for name, pid in workers.items() if not process_alive(pid)]
        assert not dead, f"workers died on {items!r}: {dead}"

    one()
    time.sleep(3)  # a worker that choked on its last item would be exiting now
    dead = [name for name, pid in workers.items() if not process_alive(pid)]
    assert not dead, f"workers died on random bytes: {dead}"
    payload = fake_payload("after-random-bytes")  # and they still vote
    live.submit_model(payload)
    assert live.wait_final(payload["model_id"], timeout=120)["status"] in FINAL
    assert all(process_alive(pid) for pid in workers.values())
    print(f"\nqueue fuzz: {pushed} random items on {len(queues)} queues, every worker alive")


def test_remote_control_cannot_stop_the_workers(workers):
    from trainproof.verifier.app import app

    assert app.control.ping(timeout=2) == []  # nobody listens for remote control
    app.control.broadcast("shutdown")
    time.sleep(5)
    dead = [name for name, pid in workers.items() if not process_alive(pid)]
    assert not dead, f"a broadcast shutdown stopped {dead}"
