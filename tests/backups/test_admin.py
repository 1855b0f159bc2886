import re
import threading

import pytest
from django.db import connection
from django.urls import reverse

from backups import services
from backups.models import BackupPolicy, BackupRun, RestoreDrill, State
from domains.sizes import format_bytes
from mailserver.models import OutboxMessage
from mailserver.outbox import outbox_send
from tests.backups.conftest import message
from tests.mailserver.support import free_port
from tests.workers.conftest import use_broker


def test_it_lists_runs_with_progress_and_errors(admin_client):
    BackupRun.objects.create(
        state=State.RUNNING,
        progress_percent=0.42,
        files_done=42,
        total_files=100,
        bytes_done=4200,
        total_bytes=10000,
    )
    BackupRun.objects.create(state=State.FAILED, error="repository unreachable: x")

    response = admin_client.get(reverse("admin:backups_backuprun_changelist"))

    assert response.status_code == 200
    assert "42%: 42/100 files" in response.text
    assert "repository unreachable: x" in response.text
    assert "Back up now" in response.text


def test_it_queues_a_backup_through_the_outbox(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:backups_backuprun_back_up_now"), follow=True
        )

    run = BackupRun.objects.get()
    assert run.state == State.QUEUED
    message = OutboxMessage.objects.get(task=services.BACKUP_TASK)
    assert message.args == [run.pk]
    assert message.sent_at is None
    assert len(callbacks) == 1  # the send, after the commit
    assert f"Backup #{run.pk} queued." in response.text


def test_it_shows_a_run_that_waits_for_the_broker(admin_client, transactional_db):
    from mailpanel.celery import app

    before = app.conf.broker_url
    # Nothing listens there: a refused connection, as with Redis stopped.
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        response = admin_client.post(
            reverse("admin:backups_backuprun_back_up_now"), follow=True
        )
    finally:
        use_broker(before)

    assert response.status_code == 200
    run = BackupRun.objects.get()
    assert run.state == State.QUEUED
    assert "waiting for the broker" in response.text
    outbox_send(message_id=OutboxMessage.objects.get().pk)
    page = admin_client.get(reverse("admin:backups_backuprun_changelist")).text
    assert "waiting for a worker" in page


def test_it_shows_the_drills_and_the_policy(admin_client):
    RestoreDrill.objects.create(state=State.FAILED, error="checksum differs")
    policy = BackupPolicy.load()

    drills = admin_client.get(reverse("admin:backups_restoredrill_changelist"))
    change = admin_client.get(
        reverse("admin:backups_backuppolicy_change", args=[policy.pk])
    )

    assert "checksum differs" in drills.text
    assert change.status_code == 200
    assert "keep_daily" in change.text


@pytest.mark.django_db(transaction=True)
def test_it_shows_the_progress_of_a_backup_while_it_runs(backup_env, admin_client):
    """A real run in a worker thread; the admin page, read meanwhile on its
    own connection, shows restic's progress as the worker recorded it."""
    for n in range(20):
        backup_env.vmail.deliver("alice@example.org", message(f"m{n}", 20000))
    changelist = reverse("admin:backups_backuprun_changelist")
    reported = []
    seen = threading.Event()
    page_read = threading.Event()

    def progress(run, report):
        reported.append((run.pk, run.state, report))
        if not seen.is_set():
            seen.set()
            # restic waits on its output meanwhile: the run is still going.
            page_read.wait(30)

    finished = []

    def worker():
        try:
            finished.append(services.backup_run(on_progress=progress))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert seen.wait(60), "restic reported no progress"
        during = admin_client.get(changelist).text
    finally:
        page_read.set()
        thread.join(60)

    pk, state, report = reported[0]
    assert state == State.RUNNING
    row = re.search(rf'<a href="[^"]*/{pk}/change/[^>]*>{pk}</a>.*?</tr>', during, re.S)
    assert row, during
    assert "running" in row[0]
    assert (
        f"{report.percent:.0%}: {report.files_done}/{report.total_files} files, "
        f"{format_bytes(report.bytes_done)} of {format_bytes(report.total_bytes)}"
    ).replace("\xa0", "&nbsp;") in row[0].replace("\xa0", "&nbsp;")
    assert finished, "the run did not finish"
    assert finished[0].state == State.SUCCEEDED, finished[0].error
    after = admin_client.get(changelist).text
    assert "files, " not in after  # progress is shown for running rows only
