"""What beat's hourly calls do: the policy decides whether work is due.

Nothing is started while another run is going; the next beat asks again.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from backups import runs
from backups.models import BackupPolicy, BackupRun, RestoreDrill, State
from backups.services import backup_check, backup_prune, backup_run, restore_drill


def _last_started(kind: str) -> datetime | None:
    run = (
        BackupRun.objects.filter(kind=kind)
        .exclude(started=None)
        .order_by("-started")
        .first()
    )
    return run.started if run else None


def _busy() -> bool:
    runs.recover_interrupted()
    return BackupRun.objects.filter(state=State.RUNNING).exists()


def scheduled_backup() -> BackupRun | None:
    """The backup beat asks for: run it if the policy says it is due."""
    policy = BackupPolicy.load()
    last = _last_started(BackupRun.Kind.BACKUP)
    if _busy() or not policy.backup_due(now=timezone.now(), last_started=last):
        return None
    return backup_run()


def scheduled_prune() -> BackupRun | None:
    policy = BackupPolicy.load()
    last = _last_started(BackupRun.Kind.PRUNE)
    if _busy() or not policy.every_due(days=1, now=timezone.now(), last_started=last):
        return None
    return backup_prune()


def scheduled_check() -> BackupRun | None:
    policy = BackupPolicy.load()
    last = _last_started(BackupRun.Kind.CHECK)
    days = policy.check_every_days
    if _busy() or not policy.every_due(
        days=days, now=timezone.now(), last_started=last
    ):
        return None
    return backup_check()


def scheduled_drill() -> RestoreDrill | None:
    policy = BackupPolicy.load()
    last = RestoreDrill.objects.order_by("-started").first()
    days = policy.drill_every_days
    if not policy.every_due(
        days=days, now=timezone.now(), last_started=last.started if last else None
    ):
        return None
    return restore_drill()
