"""Celery entry points: thin wrappers that load a row and call a service.

Called with an id, a task does that run (the admin's "back up now"); called
without (by beat, hourly), it asks the BackupPolicy whether the work is due.
Each is safe to deliver twice: the run is claimed with a guarded update and a
second delivery finds it no longer queued. There are no automatic retries: a
failed run is recorded and mailed, and the next beat tries again.
``backup_recover_task`` (beat, every 5 minutes) fails the runs and drills
whose worker is gone (``runs.recover``).
"""

from __future__ import annotations

from celery import shared_task

from backups import runs, schedule, services
from backups.models import BackupRun


@shared_task
def backup_run_task(run_id: int | None = None) -> int | None:
    if run_id is None:
        run = schedule.scheduled_backup()
        return run.pk if run else None
    run = BackupRun.objects.filter(pk=run_id, kind=BackupRun.Kind.BACKUP).first()
    if run is None:
        return None  # deleted before a worker got to it
    return services.backup_run(run=run).pk


@shared_task
def backup_prune_task() -> int | None:
    run = schedule.scheduled_prune()
    return run.pk if run else None


@shared_task
def backup_check_task() -> int | None:
    run = schedule.scheduled_check()
    return run.pk if run else None


@shared_task
def restore_drill_task() -> int | None:
    drill = schedule.scheduled_drill()
    return drill.pk if drill else None


@shared_task
def backup_recover_task() -> int:
    """Beat: fail the runs and drills whose worker is gone, mail the admins."""
    return runs.recover()
