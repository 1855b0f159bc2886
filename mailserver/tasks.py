"""Celery entry points: thin wrappers that load a row and call a service.

Mail-host tasks are sent to the host's own queue (its name), consumed by one
worker with concurrency 1, so two reloads or moves on one host never
overlap. Each is safe to run twice and returns early when its row is gone.
Only database hiccups are retried; a refused configuration or a failed
move is recorded on its row (shown in the admin) and raised, so the task
result says FAILURE too.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from accounts.services import vacation_sync
from domains.models import Mailbox
from mailserver import hosts, lifecycle, outbox, quota
from mailserver.models import MaildirJob, MailHost
from mailserver.services import MailServerError, dovecot_flush_auth_cache

TRANSIENT = (OperationalError, InterfaceError)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 5, "max_retries": 5}


class ConfigurationRefused(MailServerError):
    """Validation refused the new configuration; the old one keeps running."""


@shared_task(**RETRY)
def mailhost_reload_task(host_id: int) -> int | None:
    host = MailHost.objects.filter(pk=host_id).first()
    if host is None:
        return None
    if not hosts.mailhost_reload(host=host):
        host.refresh_from_db()
        raise ConfigurationRefused(host.error)
    host.refresh_from_db()
    return host.applied_version


@shared_task(**RETRY)
def maildir_job_task(job_id: int) -> str | None:
    job = MaildirJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    return lifecycle.maildir_job_run(job=job).state


@shared_task(**RETRY)
def dovecot_auth_flush_task(username: str) -> bool:
    return dovecot_flush_auth_cache(username)


@shared_task(**RETRY)
def vacation_sync_task(mailbox_id: int, host_id: int | None = None) -> str | None:
    """Install or remove the owner's out-of-office script on this mail host.

    A refused or failed write raises, so the result under "Celery Results"
    says FAILURE with the reason; the next save or move runs it again.
    """
    mailbox = Mailbox.objects.filter(pk=mailbox_id).select_related("domain").first()
    if mailbox is None:
        return None
    if lifecycle.move_unfinished(mailbox_id=mailbox_id, host_id=host_id):
        return "waiting for the move"
    return vacation_sync(mailbox=mailbox, vmail_root=lifecycle.vmail_root())


@shared_task(**RETRY)
def mailhost_quota_task(host_id: int | None = None) -> int:
    return quota.quota_refresh()


@shared_task(**RETRY, ignore_result=True)
def quota_refresh_task() -> int:
    """Beat: ask each mail host (or the local worker) for its usage."""
    targets = hosts.mailhost_queues()
    for host_id, queue in targets:
        mailhost_quota_task.apply_async(
            args=[host_id], queue=queue or None, expires=900
        )
    return len(targets)


@shared_task(**RETRY, ignore_result=True)
def outbox_flush_task() -> int:
    sent = outbox.outbox_flush()
    outbox.outbox_prune()
    return sent


@shared_task(**RETRY, ignore_result=True)
def mailhosts_reconcile_task() -> int:
    return hosts.mailhosts_reconcile()
