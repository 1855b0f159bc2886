"""The outbox: work is written with the change and sent after commit."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest

from mailserver import outbox
from mailserver.hosts import RELOAD_TASK
from mailserver.models import MailHost, MailServerSettings, OutboxMessage
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


def save_for_three_hosts(admin_client) -> float:
    """Seconds an admin's settings save takes that fans out to three hosts."""
    for name in ("mx1", "mx2", "mx3"):
        MailHost.objects.create(name=name)
    MailServerSettings.load()
    started = time.monotonic()
    response = admin_client.post(
        "/admin/mailserver/mailserversettings/1/change/",
        {"message_size_limit": "34567890"},
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    # The session's live workers may have registered hosts of their own
    # (their heartbeat): count only the three made here.
    waiting = OutboxMessage.objects.filter(
        task=RELOAD_TASK, sent_at=None, queue__in=["mx1", "mx2", "mx3"]
    )
    assert sorted(waiting.values_list("queue", flat=True)) == ["mx1", "mx2", "mx3"]
    return elapsed


def test_it_saves_at_once_for_three_hosts_with_the_broker_port_closed(
    dead_broker, admin_client, transactional_db
):
    # A generous bound: it took 6 s per host when a publish retried.
    assert save_for_three_hosts(admin_client) < 2


def test_it_saves_at_once_when_the_broker_takes_the_connection_but_never_answers(
    admin_client, transactional_db
):
    from mailpanel.celery import app

    before = app.conf.broker_url
    # The kernel completes the handshake (the backlog); nothing ever answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    use_broker(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    # Without a read timeout the publish would wait for ever: end it anyway.
    closer = threading.Timer(30, silent.close)
    closer.start()
    try:
        assert save_for_three_hosts(admin_client) < 2
    finally:
        closer.cancel()
        silent.close()
        use_broker(before)


def test_it_tries_again_with_the_next_commit(dead_broker, transactional_db):
    from django.db import transaction

    with transaction.atomic():
        first = outbox.outbox_enqueue(task="x", args=[1])
        second = outbox.outbox_enqueue(task="x", args=[2])
    with transaction.atomic():
        third = outbox.outbox_enqueue(task="x", args=[3])

    attempts = [
        OutboxMessage.objects.get(pk=m.pk).attempts for m in (first, second, third)
    ]
    # The second waited for the flush without trying; the next commit tried.
    assert attempts == [1, 0, 1]


def test_it_writes_nothing_when_the_change_is_rolled_back(transactional_db):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.outbox_enqueue(task="x", args=[])
        raise RuntimeError
    assert not OutboxMessage.objects.filter(task="x").exists()


# Publishing straight to the broker is allowed only where no committed change
# waits for it: the outbox itself, and two fan-outs inside beat's periodic
# tasks, which run on a worker and are simply done again at the next beat.
DIRECT_PUBLISHES = {
    "mailserver/outbox.py": 1,
    "mailserver/tasks.py": 1,  # quota_refresh_task, to each mail host
    "monitoring/tasks.py": 1,  # dnsbl_schedule_task, after its random delay
}
PUBLISH = re.compile(r"\.delay\(|\.apply_async\(|\bsend_task\(")


def test_it_is_the_only_way_from_a_change_to_the_broker():
    from django.apps import apps

    root = Path(__file__).resolve().parents[2]
    packages = [root / "mailpanel"] + [
        Path(config.path)
        for config in apps.get_app_configs()
        if Path(config.path).parent == root
    ]
    found = {}
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            count = len(PUBLISH.findall(path.read_text()))
            if count:
                found[str(path.relative_to(root))] = count

    assert found == DIRECT_PUBLISHES
