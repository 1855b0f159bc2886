"""Celery entry point: a thin wrapper around dkim.services.

Beat runs ``dkim_keys_maintain_task`` hourly: it activates pending keys whose
record DNS now serves, retires keys whose overlap is over and, when
``MAILPANEL_DKIM_ROTATE_DAYS`` is set, rotates keys that old. Safe to run
twice: each state change is made once, under the domain's row lock. The
result names records only, never key material.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from dkim import maintenance

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 30,
    "max_retries": 3,
}


@shared_task(**RETRY)
def dkim_keys_maintain_task() -> dict[str, list[str]]:
    return maintenance.dkim_keys_maintain().as_dict()
