"""The outbox: work is written with the change and sent after commit."""

from __future__ import annotations

import pytest

from mailserver import outbox
from mailserver.models import OutboxMessage
from tests.mailserver.support import free_port
from tests.workers.conftest import use_broker


@pytest.fixture
def dead_broker():
    from mailpanel.celery import app

    before = app.conf.broker_url
    # Nothing listens there: a refused connection, as with Redis stopped.
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    yield
    use_broker(before)


def test_it_keeps_the_message_when_the_broker_is_down(dead_broker, transactional_db):
    from django.db import transaction

    with transaction.atomic():
        message = outbox.outbox_enqueue(
            task="mailserver.tasks.outbox_flush_task", args=[], queue="nowhere"
        )
    message.refresh_from_db()
    assert message.sent_at is None
    assert message.attempts == 1
    assert message.last_error
    assert outbox.outbox_flush() == 0
    message.refresh_from_db()
    assert message.sent_at is None
    assert message.attempts == 2


def test_it_writes_nothing_when_the_change_is_rolled_back(transactional_db):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.outbox_enqueue(task="x", args=[])
        raise RuntimeError
    assert not OutboxMessage.objects.filter(task="x").exists()
