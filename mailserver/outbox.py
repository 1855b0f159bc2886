"""Handing tasks to the broker without ever losing one.

``outbox_enqueue()`` writes an ``OutboxMessage`` in the caller's transaction,
so the work exists exactly when the change that needs it is committed, and
sends it with ``transaction.on_commit``. If the broker is down the send fails
quietly and fast (the admin still saves and shows the row as pending) and
``outbox_flush()``, run by beat every minute, sends it once the broker is
back. A message may so reach a worker twice; every task is idempotent.

A publish tries once, briefly (``PUBLISH_TIMEOUT``, no reconnect loop), and
once one send of a commit's batch has failed the rest of that batch is left
to the flush without trying: a save that fans out to every mail host then
costs the request one refused connection, not one wait per host.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
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

# Seconds a publish may wait to connect to the broker, or for its answer.
# A broker on the same network answers in milliseconds; one that does not
# answer within this is down as far as a web request is concerned.
PUBLISH_TIMEOUT = 1.0

# Per thread: whether a send of the commit batch now running has failed.
# Each outbox_enqueue() clears it, so a new batch tries the broker again.
_batch = threading.local()


def outbox_enqueue(*, task: str, args: list, queue: str = "") -> OutboxMessage:
    """Record ``task(*args)`` for ``queue`` and send it after commit."""
    message = OutboxMessage.objects.create(task=task, args=args, queue=queue)
    _batch.broker_down = False
    transaction.on_commit(lambda: _send_after_commit(message_id=message.pk))
    return message


def _send_after_commit(*, message_id: int) -> None:
    """Send one message of a committed batch, unless a send before it failed.

    The callbacks of one commit run one after the other, and with the broker
    down each would fail the same way: after the first failure the others
    stay in the outbox, for the flush, without trying.
    """
    if getattr(_batch, "broker_down", False):
        return
    if not outbox_send(message_id=message_id):
        _batch.broker_down = True


@contextlib.contextmanager
def _broker() -> Iterator:
    """A connection for publishing that tries once, within PUBLISH_TIMEOUT.

    Not the app's pool: its connections retry a refused connect for seconds
    (kombu's reconnect loop, redis-py's own retries), which a worker wants
    and a web request must not wait for; the outbox is the retry.
    """
    from mailpanel.celery import app

    with app.connection_for_write(
        connect_timeout=PUBLISH_TIMEOUT,
        transport_options={
            "max_retries": 0,
            "socket_connect_timeout": PUBLISH_TIMEOUT,
            "socket_timeout": PUBLISH_TIMEOUT,
        },
    ) as connection:
        yield connection


def outbox_send(*, message_id: int, connection=None) -> bool:
    """Publish one message; False (and the row kept) when the broker is down.

    ``connection`` (from ``_broker()``) lets a caller that sends many share
    one; without it the send opens its own.
    """
    from mailpanel.celery import app

    with transaction.atomic():
        # Marked sent first, and locked until published: a row that reads as
        # waiting is never one a worker may already be running, so a caller
        # may rely on it (``waiting_args()``), and a flush racing this send
        # waits here and then finds it sent.
        claimed = OutboxMessage.objects.filter(pk=message_id, sent_at=None).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
        )
        if not claimed:
            return True  # sent meanwhile by a flush
        message = OutboxMessage.objects.get(pk=message_id)
        try:
            with contextlib.ExitStack() as stack:
                if connection is None:
                    connection = stack.enter_context(_broker())
                # No publish retries: a web request must not hang on a dead
                # broker.
                app.send_task(
                    message.task,
                    args=message.args,
                    queue=message.queue or None,
                    retry=False,
                    connection=connection,
                )
        except BROKER_ERRORS as exc:
            error = exc
            transaction.set_rollback(True)
        else:
            return True
    logger.warning("Broker unreachable, %s stays in the outbox: %s", message, error)
    OutboxMessage.objects.filter(pk=message_id).update(
        attempts=F("attempts") + 1, last_error=str(error)[:1000]
    )
    return False


def waiting_args(*, task: str) -> set[tuple]:
    """The arguments of ``task`` messages that no worker has received yet.

    Each one runs later and reads the state it needs then, so a caller may
    skip queueing its twin. Messages being published are not waiting: their
    rows are locked (``outbox_send``) and skipped. The rows returned stay
    locked until the caller's transaction ends, so none of them is published
    before the caller's change is committed; outside a transaction the change
    already is.
    """
    with transaction.atomic():
        rows = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(task=task, sent_at=None)
            .values_list("args", flat=True)
        )
        return {tuple(args) for args in rows}


def outbox_latest(*, task: str, args: list) -> OutboxMessage | None:
    """The newest message of ``task(*args)``, or None if there is none.

    For callers that show or judge the work it carries: unsent, it waits for
    the broker; sent, ``sent_at`` says since when a worker may have it.
    """
    messages = OutboxMessage.objects.filter(task=task, args=args)
    return messages.order_by("-created", "-pk").first()


def outbox_flush(*, limit: int = 1000) -> int:
    """Send what is still waiting, oldest first; stops at the first failure."""
    sent = 0
    pending = OutboxMessage.objects.filter(sent_at=None).order_by("created", "pk")
    with _broker() as connection:
        for message_id in pending.values_list("pk", flat=True)[:limit]:
            if not outbox_send(message_id=message_id, connection=connection):
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
