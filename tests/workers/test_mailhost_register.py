"""mailhost_register(): a host that comes back behind catches up at once.

The database side; tests/workers/test_reload.py restarts a real worker whose
queue was emptied while it was down.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from mailserver.hosts import RELOAD_TASK, mailhost_register
from mailserver.models import MailHost, MailServerSettings, OutboxMessage

pytestmark = pytest.mark.django_db


def reloads() -> list[tuple[list, str]]:
    rows = OutboxMessage.objects.filter(task=RELOAD_TASK).order_by("pk")
    return [(row.args, row.queue) for row in rows]


@pytest.fixture
def behind() -> MailHost:
    """mx1, alive, running version 1 while the current one is 2."""
    MailServerSettings.load()
    MailServerSettings.objects.filter(pk=1).update(version=F("version") + 1)
    return MailHost.objects.create(
        name="mx1", applied_version=1, last_seen=timezone.now()
    )


def test_it_queues_a_reload_for_a_new_host():
    host = mailhost_register(name="mx1")

    assert reloads() == [([host.pk], "mx1")]


def test_it_queues_a_reload_for_a_host_that_starts_behind(behind):
    mailhost_register(name="mx1", starting=True)

    assert reloads() == [([behind.pk], "mx1")]


def test_it_queues_a_reload_for_a_host_back_after_missed_heartbeats(behind, settings):
    settings.MAILPANEL_MAIL_HOST_HEARTBEAT = 60
    MailHost.objects.filter(pk=behind.pk).update(
        last_seen=timezone.now() - timedelta(minutes=10)
    )

    mailhost_register(name="mx1")

    assert reloads() == [([behind.pk], "mx1")]


def test_it_retries_a_refused_version_when_the_host_starts(behind):
    version = MailServerSettings.load().version
    MailHost.objects.filter(pk=behind.pk).update(
        error="no such file", error_version=version
    )

    mailhost_register(name="mx1", starting=True)

    assert reloads() == [([behind.pk], "mx1")]


def test_it_leaves_a_refused_version_alone_when_heartbeats_resume(behind, settings):
    settings.MAILPANEL_MAIL_HOST_HEARTBEAT = 60
    version = MailServerSettings.load().version
    MailHost.objects.filter(pk=behind.pk).update(
        error="no such file",
        error_version=version,
        last_seen=timezone.now() - timedelta(minutes=10),
    )

    mailhost_register(name="mx1")

    assert reloads() == []


def test_it_queues_nothing_on_the_heartbeat_of_a_host_that_stayed_up(behind):
    mailhost_register(name="mx1")

    assert reloads() == []


def test_it_queues_nothing_for_a_host_that_runs_the_current_version(behind):
    MailHost.objects.filter(pk=behind.pk).update(
        applied_version=MailServerSettings.load().version
    )

    mailhost_register(name="mx1", starting=True)

    assert reloads() == []
