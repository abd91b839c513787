"""The Redis transport of the verifier queues, hardened against what anyone with the broker's
password can push onto a queue.

Kombu's Redis channel decodes each popped item as its JSON envelope and builds a message from
it; bytes that are not JSON, or JSON of another shape, raise inside the worker's event loop,
which Celery treats as unrecoverable: one ``LPUSH`` of garbage stopped a verifier for good.
Here such an item is logged and dropped (it was already popped, so nothing is redelivered) and
the worker carries on. What lies *inside* a well-formed envelope is Celery's to judge, and it
already logs and rejects it: an undecodable body, a content type other than JSON (nothing is
unpickled: ``accept_content``), an unknown task name; a task with wrong arguments fails alone.

Used through ``broker_transport = "trainproof.verifier.broker:Transport"`` (``trainproof.verifier.app``).
"""
from __future__ import annotations

import logging

from kombu.transport import redis

log = logging.getLogger("verifier.broker")

# What decoding a hostile item can raise: not JSON or not UTF-8 (ValueError), or JSON of another
# shape than kombu's envelope (a list, a string, a dict without "properties", ...).
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError)


class Channel(redis.Channel):
    """Drops, with a log line, every queue item that is not a message envelope."""

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
