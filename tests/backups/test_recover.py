"""Stuck rows end without waiting for a later run: beat's backup_recover_task.

A worker that vanished mid-run, mid-drill, or a queued run whose task the
broker lost: each is failed with its reason, and the admins get one mail.
"""

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from backups.models import BackupRun, RestoreDrill, State
from backups.runs import BACKUP_TASK
from backups.tasks import backup_recover_task
from mailserver.models import OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = [("Admin", "admin@example.org")]
    settings.MAILPANEL_BACKUP_ALERT_EMAILS = []
    settings.MAILPANEL_BACKUP_TIMEOUT = 3600


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def ago(**delta):
    return timezone.now() - timedelta(**delta)


def test_it_fails_a_run_whose_worker_died_and_mails_once(dead_pid):
    run = BackupRun.objects.create(
        state=State.RUNNING,
        started=ago(minutes=1),
        hostname=socket.gethostname(),
        pid=dead_pid,
    )

    assert backup_recover_task() == 1
    assert backup_recover_task() == 0

    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error.startswith("interrupted:")
    assert len(mail.outbox) == 1
    assert f"#{run.pk} failed: interrupted" in mail.outbox[0].subject


def test_it_leaves_a_run_whose_worker_is_alive():
    run = BackupRun.objects.create(
        state=State.RUNNING,
        started=ago(days=3),
        hostname=socket.gethostname(),
        pid=os.getpid(),
    )

    assert backup_recover_task() == 0
    run.refresh_from_db()
    assert run.state == State.RUNNING


def test_it_fails_a_run_of_another_host_once_it_ran_too_long():
    young = BackupRun.objects.create(
        state=State.RUNNING, started=ago(minutes=90), hostname="elsewhere", pid=1
    )
    old = BackupRun.objects.create(
        state=State.RUNNING, started=ago(hours=3), hostname="elsewhere", pid=1
    )

    assert backup_recover_task() == 1
    young.refresh_from_db()
    old.refresh_from_db()
    assert young.state == State.RUNNING
    assert old.state == State.FAILED
    assert "on elsewhere" in old.error


def test_it_fails_a_drill_whose_worker_died_and_mails_once(dead_pid):
    drill = RestoreDrill.objects.create(hostname=socket.gethostname(), pid=dead_pid)

    assert backup_recover_task() == 1
    assert backup_recover_task() == 0

    drill.refresh_from_db()
    assert drill.state == State.FAILED
    assert drill.error.startswith("interrupted:")
    assert drill.finished is not None
    assert len(mail.outbox) == 1
    assert f"restore drill #{drill.pk} failed" in mail.outbox[0].subject


def test_it_fails_a_queued_run_whose_task_was_lost():
    run = BackupRun.objects.create(created=ago(hours=3))
    OutboxMessage.objects.create(task=BACKUP_TASK, args=[run.pk], sent_at=ago(hours=3))

    assert backup_recover_task() == 1
    assert backup_recover_task() == 0

    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error.startswith("never started:")
    assert len(mail.outbox) == 1


def test_it_leaves_a_queued_run_that_waits_for_the_broker_or_a_worker():
    waiting = BackupRun.objects.create(created=ago(days=2))
    OutboxMessage.objects.create(task=BACKUP_TASK, args=[waiting.pk])
    sent_lately = BackupRun.objects.create(created=ago(days=2))
    OutboxMessage.objects.create(
        task=BACKUP_TASK, args=[sent_lately.pk], sent_at=ago(minutes=5)
    )
    young = BackupRun.objects.create(created=ago(minutes=5))

    assert backup_recover_task() == 0
    for run in (waiting, sent_lately, young):
        run.refresh_from_db()
        assert run.state == State.QUEUED
    assert mail.outbox == []
