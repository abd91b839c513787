"""The Celery application: ``celery -A trainproof.verifier worker`` with TRAINPROOF_VERIFIER set.

Conventions: tasks acknowledge late and are rejected back to the queue if the worker dies,
so a killed worker's task runs again elsewhere; tasks are idempotent (the ledger is checked
before voting), which makes redelivery safe. Redis redelivers an unacknowledged task after
TRAINPROOF_VISIBILITY_TIMEOUT seconds (default 60): set it above your longest replay, or a
slow task is started twice (harmless — the second vote is refused — but wasted work).

Anyone holding the broker's password can write to the queues, so the queues are input, not
trust: a malformed item is logged and dropped (``trainproof.verifier.broker``), only JSON is accepted, and
Celery's remote control is off (with it, any broker client could shut down every worker).
"""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import celeryd_after_setup

from trainproof.verifier.settings import broker_url, worker_identity

CONFIG = dict(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="verify.unrouted",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=24 * 3600,
    broker_transport_options={"visibility_timeout": int(os.environ.get("TRAINPROOF_VISIBILITY_TIMEOUT", "60"))},
    worker_hijack_root_logger=False,
    broker_transport="trainproof.verifier.broker:Transport",
    worker_enable_remote_control=False,
    broker_connection_retry_on_startup=True,
)


def create_app(name: str, include: list[str]) -> Celery:
    """A verifier Celery app: the product's below, or an experiment's worker around the same task."""
    created = Celery(name, broker=broker_url(), backend=broker_url(), include=include)
    created.conf.update(CONFIG)
    return created


app = create_app("verifier", ["trainproof.verifier.tasks"])


@celeryd_after_setup.connect
def _listen_on_own_queue(sender, instance, **kwargs) -> None:
    """Each worker consumes the queue of the verifier identity it acts for."""
    identity = worker_identity()
    instance.app.amqp.queues.select_add(identity.queue)
    instance.app.amqp.queues.deselect(["verify.unrouted"])
