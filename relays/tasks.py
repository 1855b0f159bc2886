"""Celery entry points: thin wrappers around relays.services.

``relay_credentials_write_task`` must run on every mail host (each has its own
copy of the credentials table); it rebuilds the whole table from the
database, so running it twice or late does no harm. ``relay_test_task``
returns early when the relay was deleted meanwhile.
``relay_tests_recover_task`` (beat, every 5 minutes) ends the tests whose
worker is gone.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from relays import services
from relays.models import RelayHost

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "max_retries": 5,
}


@shared_task(**RETRY)
def relay_credentials_write_task() -> list[str]:
    return services.relay_credentials_write().relays


@shared_task(**RETRY)
def relay_test_task(relay_id: int) -> bool | None:
    relay = RelayHost.objects.filter(pk=relay_id).first()
    if relay is None:
        return None
    return services.relay_test(relay=relay).ok


@shared_task(**RETRY)
def relay_tests_recover_task() -> int:
    """Beat: end the tests whose worker is gone (relays.services)."""
    return len(services.relay_tests_recover())
