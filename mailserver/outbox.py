"""Handing tasks to the broker without ever losing one.

``outbox_enqueue()`` writes an ``OutboxMessage`` in the caller's transaction,
so the work exists exactly when the change that needs it is committed, and
sends it with ``transaction.on_commit``. If the broker is down the send fails
quietly (the admin still saves and shows the row as pending) and
``outbox_flush()``, run by beat every minute, sends it once the broker is
back. A message may so reach a worker twice; every task is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from mailserver.models import OutboxMessage

logger = logging.getLogger(__name__)

# What publishing raises when the broker cannot be reached; anything else is
# a bug and propagates.
BROKER_ERRORS: tuple[type[BaseException], ...] = (BrokerError, OSError)


def outbox_enqueue(*, task: str, args: list, queue: str = "") -> OutboxMessage:
    """Record ``task(*args)`` for ``queue`` and send it after commit."""
    message = OutboxMessage.objects.create(task=task, args=args, queue=queue)
    transaction.on_commit(lambda: outbox_send(message_id=message.pk))
    return message


def outbox_send(*, message_id: int) -> bool:
    """Publish one message; False (and the row kept) when the broker is down."""
    from mailpanel.celery import app

    message = OutboxMessage.objects.filter(pk=message_id, sent_at=None).first()
    if message is None:
        return True  # sent meanwhile by a flush
    try:
        # No publish retries: a web request must not hang on a dead broker.
        app.send_task(
            message.task, args=message.args, queue=message.queue or None, retry=False
        )
    except BROKER_ERRORS as exc:
        logger.warning("Broker unreachable, %s stays in the outbox: %s", message, exc)
        OutboxMessage.objects.filter(pk=message.pk).update(
            attempts=F("attempts") + 1, last_error=str(exc)[:1000]
        )
        return False
    OutboxMessage.objects.filter(pk=message.pk, sent_at=None).update(
        sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )
    return True


def outbox_flush(*, limit: int = 1000) -> int:
    """Send what is still waiting, oldest first; stops at the first failure."""
    sent = 0
    pending = OutboxMessage.objects.filter(sent_at=None).order_by("created", "pk")
    for message_id in pending.values_list("pk", flat=True)[:limit]:
        if not outbox_send(message_id=message_id):
            break
        sent += 1
    return sent


def outbox_pending_count() -> int:
    return OutboxMessage.objects.filter(sent_at=None).count()


def outbox_prune(*, days: int = 7) -> int:
    """Forget sent messages after ``days``; unsent ones are never deleted."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=cutoff).delete()
    return deleted
