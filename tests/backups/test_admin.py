import pytest
from django.urls import reverse

from backups import tasks
from backups.models import BackupPolicy, BackupRun, RestoreDrill, State


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.backup_run_task, "delay", sent.append)
    return sent


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


def test_it_queues_a_backup_after_the_commit(
    admin_client, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:backups_backuprun_back_up_now"), follow=True
        )

    run = BackupRun.objects.get()
    assert run.state == State.QUEUED
    assert queued == [run.pk]
    assert f"Backup #{run.pk} queued." in response.text


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
