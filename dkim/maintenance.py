"""The hourly work on DKIM keys (dkim.tasks.dkim_keys_maintain_task).

Activate the pending keys whose record DNS now serves, retire the keys whose
overlap is over, and, when ``MAILPANEL_DKIM_ROTATE_DAYS`` is set, rotate the
keys that have been active that long. Each step is a service of
dkim.services; this module only decides what is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from dkim.models import DkimKey
from dkim.services import (
    dkim_key_rotate,
    dkim_keys_activate_published,
    dkim_keys_retire_expired,
)


def dkim_keys_rotate_due(*, now: datetime | None = None) -> list[DkimKey]:
    """With ``MAILPANEL_DKIM_ROTATE_DAYS`` set, rotate keys active that long.

    One new pending key per such domain and algorithm, unless one is pending
    already. 0 (the default) never rotates on its own.
    """
    days = settings.MAILPANEL_DKIM_ROTATE_DAYS
    if not days:
        return []
    now = now or timezone.now()
    old = (
        DkimKey.objects.filter(
            state=DkimKey.State.ACTIVE,
            domain__active=True,
            activated__lte=now - timedelta(days=days),
        )
        .select_related("domain")
        .order_by("domain__name", "algorithm")
    )
    pending = set(
        DkimKey.objects.filter(state=DkimKey.State.PENDING).values_list(
            "domain_id", "algorithm"
        )
    )
    created: list[DkimKey] = []
    for key in old:
        if (key.domain_id, key.algorithm) in pending:
            continue
        created += dkim_key_rotate(domain=key.domain, algorithms=[key.algorithm])
    return created


@dataclass(frozen=True)
class Maintenance:
    """What one periodic run did, as selectors (task results show it)."""

    activated: list[str]
    retired: list[str]
    rotated: list[str]

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "activated": self.activated,
            "retired": self.retired,
            "rotated": self.rotated,
        }


def dkim_keys_maintain(*, now: datetime | None = None) -> Maintenance:
    """The periodic work: activate what DNS serves, retire, rotate when due."""
    now = now or timezone.now()
    return Maintenance(
        activated=_names(dkim_keys_activate_published(now=now)),
        retired=_names(dkim_keys_retire_expired(now=now)),
        rotated=_names(dkim_keys_rotate_due(now=now)),
    )


def _names(rows: Sequence[DkimKey]) -> list[str]:
    return [key.record_name for key in rows]
