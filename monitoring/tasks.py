"""Celery entry points: thin wrappers that call monitoring.services.

Beat starts ``dnsbl_schedule_task`` hourly; it queues the real run after a
random delay so that installations do not all query the lists at the top of
the hour. The daily task runs the deliverability checks and prunes history.
Both are safe to run twice: an alert is sent only by the run that changes a
state (see services).
"""

import secrets

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from monitoring.services import DAILY, LISTS, history_prune, monitoring_run


@shared_task(ignore_result=True)
def dnsbl_schedule_task() -> int:
    """Queue ``dnsbl_check_task`` after up to MAILPANEL_DNSBL_JITTER seconds."""
    delay = secrets.randbelow(settings.MAILPANEL_DNSBL_JITTER + 1)
    # Expires before the next hourly run is due, so a backlog never piles up.
    dnsbl_check_task.apply_async(countdown=delay, expires=3600)
    return delay


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=30, max_retries=3, expires=3600
)
def dnsbl_check_task() -> str:
    return str(monitoring_run(kind=LISTS).severity.value)


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=60, max_retries=3, expires=86400
)
def deliverability_check_task() -> str:
    report = monitoring_run(kind=DAILY)
    history_prune(days=settings.MAILPANEL_MONITORING_HISTORY_DAYS)
    return str(report.severity.value)
