"""The Redis transport of the verifier queues, hardened against what anyone with the broker's
password can push onto a queue.

Kombu's Redis channel decodes each popped item as its JSON envelope and builds a message from
it; bytes that are not JSON, or JSON of another shape, raise inside the worker's event loop,
which Celery treats as unrecoverable: one ``LPUSH`` of garbage stopped a verifier for good.
Here such an item is logged and dropped (it was already popped, so nothing is redelivered) and
the worker carries on. What lies *inside* a well-formed envelope is Celery's to judge, and it
already logs and rejects it: an undecodable body, a content type other than JSON (nothing is
unpickled: ``accept_content``), an unknown task name; a task with wrong arguments fails alone.

Except when an envelope's *fields* have the wrong type (found by the random-bytes fuzz,
tests/e2e/test_queue_garbage.py): kombu records the message as delivered-but-unacked before
Celery reads it, and Celery's decoding then raised (a list as content-encoding: ``.lower()``),
so the message was never acked: with a prefetch of one, the worker stayed alive but never took
another task, and the message came back after the visibility timeout to do it again. Here an
envelope whose fields are not of kombu's types is dropped before it is recorded, and a message
whose handling still raises ``MALFORMED`` is rejected (acked, not requeued) and dropped.

Used through ``broker_transport = "trainproof.verifier.broker:Transport"`` (``trainproof.verifier.app``).
"""
from __future__ import annotations

import logging

from kombu.transport import redis

log = logging.getLogger("verifier.broker")

# What decoding a hostile item can raise: not JSON or not UTF-8 (ValueError), or JSON of another
# shape than kombu's envelope (a list, a string, a dict without "properties", ...).
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def envelope_problem(raw: object) -> str:
    """'' if ``raw`` (a decoded queue item) has the types kombu's Message relies on, else what not."""
    if not isinstance(raw, dict):
        return f"a {type(raw).__name__}, not an envelope"
    properties = raw.get("properties")
    if not isinstance(properties, dict):
        return "properties is not an object"
    if not isinstance(properties.get("delivery_tag"), str) or not properties["delivery_tag"]:
        return "delivery_tag is not a string"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("exchange", "routing_key")):
        return "delivery_info is not {exchange, routing_key}"
    for key in ("content-type", "content-encoding"):
        if not isinstance(raw.get(key), (str, type(None))):
            return f"{key} is not a string"
    if not isinstance(properties.get("body_encoding"), (str, type(None))):
        return "body_encoding is not a string"
    if not isinstance(raw.get("headers"), (dict, type(None))):
        return "headers is not an object"
    if not isinstance(raw.get("body"), (str, type(None))):
        return "body is not a string"
    return ""


class Channel(redis.Channel):
    """Drops, with a log line, every queue item that is not a message envelope."""

    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        """kombu's, with the delivery guarded (``envelope_problem``, then ``MALFORMED``)."""
        super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

        def _callback(raw_message):
            problem = envelope_problem(raw_message)
            if problem:
                log.warning("dropped a malformed message from queue %s (%s)", queue, problem)
                return None
            message = self.Message(raw_message, channel=self)
            if not no_ack:
                self.qos.append(message, message.delivery_tag)
            try:
                return callback(message)
            except MALFORMED as exc:
                log.warning("dropped a malformed message from queue %s (%s: %s)", queue, type(exc).__name__,
                            str(exc)[:200])
                if not no_ack and not message.acknowledged:
                    message.reject(requeue=False)  # never left unacked: it would hold the prefetch slot
                return None

        self.connection._callbacks[queue] = _callback

    def _brpop_read(self, **options):
        try:
            return super()._brpop_read(**options)
        except MALFORMED as exc:
            log.warning("dropped a malformed message from a verifier queue (%s: %s)", type(exc).__name__,
                        str(exc)[:200])
            return True  # an item was consumed; the event loop goes on

    def _get(self, queue):
        while True:  # ``Empty`` ends the loop once nothing well-formed is left
            try:
                return super()._get(queue)
            except MALFORMED as exc:
                log.warning("dropped a malformed message from queue %s (%s: %s)", queue, type(exc).__name__,
                            str(exc)[:200])


class Transport(redis.Transport):
    Channel = Channel
