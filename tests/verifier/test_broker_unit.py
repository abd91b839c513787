"""The verifier transport's envelope check (trainproof.verifier.broker), without a broker.

The live properties (garbage and random bytes on every queue, every worker alive and still
working) are tests/e2e/test_queue_garbage.py; these pin the shapes it found."""
from __future__ import annotations

import base64
import json

import pytest

from trainproof.verifier.broker import envelope_problem

pytestmark = pytest.mark.unit


def envelope(**changes):
    doc = {"body": base64.b64encode(b"[[], {}, {}]").decode(), "content-encoding": "utf-8",
           "content-type": "application/json", "headers": {"task": "verifier.verify_interval", "id": "t"},
           "properties": {"delivery_mode": 2, "priority": 0, "body_encoding": "base64", "delivery_tag": "t",
                          "delivery_info": {"exchange": "", "routing_key": "verify.q"}}}
    for key, value in changes.items():
        if key.startswith("p_"):
            doc["properties"][key[2:]] = value
        else:
            doc[key.replace("_", "-")] = value
    return json.loads(json.dumps(doc))


def test_a_well_formed_envelope_passes():
    assert envelope_problem(envelope()) == ""
    assert envelope_problem(envelope(content_encoding=None, headers=None)) == ""


@pytest.mark.parametrize("raw", [
    envelope(content_encoding=[[]]),       # found by the fuzz: the worker stayed up but idle for good
    envelope(content_type={"a": 1}),
    envelope(headers=[1]),
    envelope(body=3),
    envelope(p_delivery_tag={"a": 1}),
    envelope(p_delivery_tag=""),
    envelope(p_delivery_info=[]),
    envelope(p_delivery_info={"exchange": ""}),
    envelope(p_body_encoding=1),
    envelope(properties=[]),
    [], "x", 42, None,
])
def test_envelopes_of_other_types_are_refused(raw):
    assert envelope_problem(raw)
