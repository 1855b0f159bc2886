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
from datetime import timedelta
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

logger = logging.getLogger(__name__)


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


def recover_interrupted(*, exclude: int | None = None) -> list[BackupRun]:
    """Fail the RUNNING rows whose process is gone.

    A worker killed mid-run (OOM killer, reboot, SIGKILL) never finishes its
    row; without this it would show "running" for ever. On this host the pid
    tells; a row of another host counts as gone once it is older than the
    tool's timeout plus an hour.
    """
    here = socket.gethostname()
    timeout = settings.MAILPANEL_BACKUP_TIMEOUT or 24 * 3600
    too_old = timezone.now() - timedelta(seconds=timeout + 3600)
    failed = []
    for run in BackupRun.objects.filter(state=State.RUNNING).exclude(pk=exclude):
        if run.hostname == here and run.pid:
            gone = not _alive(run.pid)
        else:
            gone = run.started is not None and run.started < too_old
        if not gone:
            continue
        reason = (
            f"interrupted: the process running it (pid {run.pid} on "
            f"{run.hostname or 'an unknown host'}) stopped before it finished"
        )
        if BackupRun.objects.filter(pk=run.pk, state=State.RUNNING).update(
            state=State.FAILED, finished=timezone.now(), error=reason
        ):
            run.refresh_from_db()
            alert_run(run)
            failed.append(run)
    return failed


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
