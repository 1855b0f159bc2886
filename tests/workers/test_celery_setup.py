"""The Celery app, its settings and beat's schedule (no worker needed)."""

from __future__ import annotations

import pytest
from django.conf import settings

from mailpanel.celery import app


def test_it_never_runs_tasks_eagerly_by_default():
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    assert app.conf.task_always_eager is False


def test_it_stores_results_and_schedules_in_the_database():
    assert "django_celery_results" in settings.INSTALLED_APPS
    assert "django_celery_beat" in settings.INSTALLED_APPS
    assert app.conf.result_backend == "django-db"
    assert app.conf.beat_scheduler == "mailserver.beat:DatabaseScheduler"


def test_it_schedules_every_entry_with_expires_equal_to_its_interval():
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    tasks = {entry["task"] for entry in schedule.values()}
    assert {
        "monitoring.tasks.dnsbl_schedule_task",
        "monitoring.tasks.deliverability_check_task",
        "backups.tasks.backup_run_task",
        "mailserver.tasks.outbox_flush_task",
        "mailserver.tasks.quota_refresh_task",
        "backups.tasks.backup_recover_task",
        "relays.tasks.relay_tests_recover_task",
    } <= tasks
    for name, entry in schedule.items():
        assert entry["task"] in app.tasks, name
        assert entry["options"]["expires"] == entry["schedule"], name
    by_task = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert by_task["monitoring.tasks.dnsbl_schedule_task"] == 3600
    assert by_task["monitoring.tasks.deliverability_check_task"] == 86400


@pytest.mark.django_db
def test_it_creates_missing_schedules_but_keeps_an_admins_edit():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from mailserver.beat import DatabaseScheduler

    entry = {
        "task": "mailserver.tasks.outbox_flush_task",
        "schedule": 60.0,
        "options": {"expires": 60},
    }
    DatabaseScheduler.Entry.from_entry("flush", app=app, **entry)
    row = PeriodicTask.objects.get(name="flush")
    assert row.expire_seconds == 60
    assert row.interval.every == 60
    # An admin slows it down; beat's next start must not undo that.
    row.interval = IntervalSchedule.objects.create(every=600, period="seconds")
    row.save()
    DatabaseScheduler.Entry.from_entry("flush", app=app, **entry)
    assert PeriodicTask.objects.get(name="flush").interval.every == 600
