"""The life of a BackupRun row: claimed once, finished once, alerted once.

Every transition is a guarded ``update()`` on the row's state, so a task that
Celery delivers twice, or two workers racing for the same run, do the work
once ("another process got there first").
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.utils import timezone

from backups import conf
from backups.database import DatabaseError
from backups.models import BackupRun, RestoreDrill, State
from backups.tool import ToolError
from mailserver.outbox import outbox_latest

logger = logging.getLogger(__name__)

# What "back up now" queues, through the outbox (docs/workers.md).
BACKUP_TASK = "backups.tasks.backup_run_task"


class BackupError(Exception):
    """A run cannot go on; the message is one readable line."""


def claim(run: BackupRun) -> bool:
    """Mark a queued run as running in this process; False if another did."""
    claimed = BackupRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
        state=State.RUNNING,
        started=timezone.now(),
        hostname=socket.gethostname(),
        pid=os.getpid(),
    )
    run.refresh_from_db()
    return claimed == 1


def finish(run: BackupRun, *, state: str, error: str = "", **fields: Any) -> None:
    """Record the outcome; a failed or partial run alerts the admins."""
    BackupRun.objects.filter(pk=run.pk, state=State.RUNNING).update(
        state=state, finished=timezone.now(), error=error[:2000], **fields
    )
    run.refresh_from_db()
    if run.state in (State.FAILED, State.PARTIAL):
        alert_run(run)


def update_progress(run: BackupRun, **fields: Any) -> None:
    BackupRun.objects.filter(pk=run.pk, state=State.RUNNING).update(**fields)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _longest() -> timedelta:
    """Longer than any run or drill can last: the tool's timeout plus an hour."""
    return timedelta(seconds=(settings.MAILPANEL_BACKUP_TIMEOUT or 24 * 3600) + 3600)


def _gone(*, hostname: str, pid: int | None, started: datetime | None) -> bool:
    """Whether the process that took a row is gone.

    On this host the pid tells; a row of another host counts as gone once it
    is older than ``_longest()``.
    """
    if hostname == socket.gethostname() and pid:
        return not _alive(pid)
    return started is not None and started < timezone.now() - _longest()


def _interrupted(hostname: str, pid: int | None) -> str:
    return (
        f"interrupted: the process running it (pid {pid} on "
        f"{hostname or 'an unknown host'}) stopped before it finished"
    )


def recover_interrupted(*, exclude: int | None = None) -> list[BackupRun]:
    """Fail the RUNNING rows whose process is gone.

    A worker killed mid-run (OOM killer, reboot, SIGKILL) never finishes its
    row; without this it would show "running" for ever.
    """
    failed = []
    for run in BackupRun.objects.filter(state=State.RUNNING).exclude(pk=exclude):
        if not _gone(hostname=run.hostname, pid=run.pid, started=run.started):
            continue
        if BackupRun.objects.filter(pk=run.pk, state=State.RUNNING).update(
            state=State.FAILED,
            finished=timezone.now(),
            error=_interrupted(run.hostname, run.pid),
        ):
            run.refresh_from_db()
            alert_run(run)
            failed.append(run)
    return failed


def recover_interrupted_drills() -> list[RestoreDrill]:
    """Fail the RUNNING drills whose process is gone, as for runs."""
    failed = []
    for drill in RestoreDrill.objects.filter(state=State.RUNNING):
        if not _gone(hostname=drill.hostname, pid=drill.pid, started=drill.started):
            continue
        if RestoreDrill.objects.filter(pk=drill.pk, state=State.RUNNING).update(
            state=State.FAILED,
            finished=timezone.now(),
            error=_interrupted(drill.hostname, drill.pid),
        ):
            drill.refresh_from_db()
            alert_drill(drill)
            failed.append(drill)
    return failed


def recover_lost() -> list[BackupRun]:
    """Fail the QUEUED runs that no worker will ever start.

    A queued run's task can be lost after it left the outbox (Redis restarted
    without its data); the row would say "queued" for ever. One whose task
    reached the broker longer ago than ``_longest()`` is given up, and the
    next scheduled backup takes its place. A task still waiting in the
    outbox is not lost: it is sent once the broker is back.
    """
    cutoff = timezone.now() - _longest()
    failed = []
    for run in BackupRun.objects.filter(state=State.QUEUED, created__lt=cutoff):
        message = outbox_latest(task=BACKUP_TASK, args=[run.pk])
        if message is not None and (
            message.sent_at is None or message.sent_at >= cutoff
        ):
            continue
        since = f"{message.sent_at:%Y-%m-%d %H:%M} UTC" if message else "its creation"
        if BackupRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
            state=State.FAILED,
            finished=timezone.now(),
            error=f"never started: no worker took its task since {since} "
            "(was the broker restarted without its data?)",
        ):
            run.refresh_from_db()
            alert_run(run)
            failed.append(run)
    return failed


def recover() -> int:
    """End every stuck row (beat, every few minutes): how many were ended."""
    ended = recover_interrupted() + recover_interrupted_drills() + recover_lost()
    return len(ended)


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """One run at a time on this host, released even if the process dies.

    restic's own locks guard the repository; this guards the staging tree,
    which two runs on one host would otherwise both clear and fill.
    """
    staging = conf.staging_dir()
    staging.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = lock_path()
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = BackupRun.objects.filter(state=State.RUNNING).order_by("started")
            first = other.first()
            name = f" (#{first.pk}, {first.kind})" if first else ""
            raise BackupError(f"another backup run{name} is still going") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_path() -> Path:
    return conf.staging_dir() / "lock"


def _send(subject: str, body: str) -> None:
    recipients = conf.alert_recipients()
    if not recipients:
        logger.error("%s (no ADMINS or MAILPANEL_BACKUP_ALERT_EMAILS to tell)", subject)
        return
    subject = " ".join(subject.split())[:200]
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        # The failure is on the row and in the log; a broken mail setup must
        # not turn a recorded failure into a crashed task that Celery retries.
        logger.exception("could not send the backup alert: %s", subject)


def alert_run(run: BackupRun) -> None:
    """Mail the admins once about a failed (or partial) run."""
    if not BackupRun.objects.filter(pk=run.pk, alerted=None).update(
        alerted=timezone.now()
    ):
        return
    _send(
        f"[mailpanel] {run.kind} #{run.pk} {run.state}: {run.error}",
        f"The {run.kind} run #{run.pk} started {run.started} on {run.hostname} "
        f"ended {run.state}.\n\nReason: {run.error}\n\n"
        "Earlier backups are not affected by a failed run; "
        "`manage.py backup --check` verifies the repository.\n",
    )


def alert_drill(drill: RestoreDrill) -> None:
    if not RestoreDrill.objects.filter(pk=drill.pk, alerted=None).update(
        alerted=timezone.now()
    ):
        return
    _send(
        f"[mailpanel] restore drill #{drill.pk} failed: {drill.error}",
        f"The restore drill #{drill.pk} of snapshot {drill.snapshot_id or '-'} "
        f"failed.\n\nReason: {drill.error}\n\nThe newest backup may not restore "
        "completely: look at it before relying on it.\n",
    )


def execute(run: BackupRun, work: Callable[[BackupRun], dict[str, Any]]) -> BackupRun:
    """Claim ``run``, do ``work`` under the host lock, record the outcome.

    ``work`` returns the row's fields for success (``state`` may say
    PARTIAL). Any expected failure becomes FAILED with its one-line reason;
    an unexpected exception is recorded too, then raised for the traceback.
    """
    if not claim(run):
        return run
    recover_interrupted(exclude=run.pk)
    expected = (
        ToolError,
        BackupError,
        DatabaseError,
        ImproperlyConfigured,
        OSError,
        ValueError,
    )
    try:
        with host_lock():
            fields = work(run)
    except expected as exc:
        finish(run, state=State.FAILED, error=str(exc) or type(exc).__name__)
        return run
    except Exception as exc:
        finish(run, state=State.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    state = fields.pop("state", State.SUCCEEDED)
    finish(run, state=state, **fields)
    return run
