"""Relay tests that would say "testing" for ever end: relay_tests_recover_task.

A test whose worker vanished, or whose task the broker lost, gets a failed
result that says so, and the admins one mail.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from mailserver.models import OutboxMessage
from relays import services
from relays.models import RelayHost
from relays.tasks import relay_test_task, relay_tests_recover_task
from tests.mailserver.support import free_port
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = [("Admin", "admin@example.org")]
    settings.MAILPANEL_RELAY_TEST_TIMEOUT = 2


def ago(**delta):
    return timezone.now() - timedelta(**delta)


def relay(name: str = "isp", **fields) -> RelayHost:
    made = make_relay(name=name, host=f"smtp.{name}.example", username="u")
    RelayHost.objects.filter(pk=made.pk).update(**fields)
    made.refresh_from_db()
    return made


def test_it_marks_a_test_queued_until_a_worker_records_its_result():
    made = relay(host="127.0.0.1", port=free_port())  # nothing listens there
    with transaction.atomic():
        services.relay_test_enqueue(relay=made)
    made.refresh_from_db()
    assert made.test_queued_at is not None
    assert OutboxMessage.objects.filter(task=services.TEST_TASK).exists()

    relay_test_task(made.pk)

    made.refresh_from_db()
    assert made.test_queued_at is None
    assert made.test_started_at is None
    assert made.last_test_ok is False
    assert made.last_test_at is not None


def test_it_ends_a_test_that_ran_longer_than_a_test_can_and_mails_once():
    stuck = relay(test_queued_at=ago(minutes=2), test_started_at=ago(seconds=21))
    going = relay(
        "other", test_queued_at=ago(minutes=2), test_started_at=ago(seconds=5)
    )

    assert relay_tests_recover_task() == 1
    assert relay_tests_recover_task() == 0

    stuck.refresh_from_db()
    assert stuck.last_test_ok is False
    assert stuck.last_test_result.startswith("interrupted:")
    assert stuck.test_started_at is None
    assert stuck.test_queued_at is None
    going.refresh_from_db()
    assert going.test_started_at is not None
    assert len(mail.outbox) == 1
    assert "relay test of isp: interrupted" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["admin@example.org"]


def test_it_ends_a_queued_test_whose_task_was_lost():
    lost = relay(test_queued_at=ago(days=2))
    OutboxMessage.objects.create(
        task=services.TEST_TASK, args=[lost.pk], sent_at=ago(days=2)
    )

    assert relay_tests_recover_task() == 1

    lost.refresh_from_db()
    assert lost.last_test_result.startswith("never started:")
    assert lost.test_queued_at is None
    assert len(mail.outbox) == 1


def test_it_leaves_a_test_that_waits_for_the_broker():
    waiting = relay(test_queued_at=ago(days=2))
    OutboxMessage.objects.create(task=services.TEST_TASK, args=[waiting.pk])

    assert relay_tests_recover_task() == 0

    waiting.refresh_from_db()
    assert waiting.test_queued_at is not None
    assert mail.outbox == []


def test_the_admin_shows_a_test_going_on(admin_client):
    relay(test_queued_at=ago(minutes=1))
    relay("other", test_queued_at=ago(minutes=1), test_started_at=ago(seconds=1))

    page = admin_client.get("/admin/relays/relayhost/").text

    assert "queued" in page
    assert "running since" in page
