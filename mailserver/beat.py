"""Beat's scheduler: django-celery-beat's, without overwriting admin edits.

django-celery-beat writes every ``CELERY_BEAT_SCHEDULE`` entry over its
database row at each start, so an admin's change to a schedule would be
undone by the next restart. Here settings only create entries that are
missing; from then on the admin's row is what runs. ``expires`` in an
entry's options becomes the row's ``expire_seconds``.
"""

from __future__ import annotations

from django_celery_beat import schedulers
from django_celery_beat.models import PeriodicTask


class ModelEntry(schedulers.ModelEntry):
    @classmethod
    def from_entry(cls, name, app=None, **entry):
        options = dict(entry.get("options") or {})
        if "expires" in options:
            options.setdefault("expire_seconds", options.pop("expires"))
        entry["options"] = options
        obj = PeriodicTask._default_manager.filter(name=name).first()
        if obj is None:
            obj = PeriodicTask._default_manager.create(
                name=name, **cls._unpack_fields(**entry)
            )
        return cls(obj, app=app)


class DatabaseScheduler(schedulers.DatabaseScheduler):
    Entry = ModelEntry
