from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """Scheduled, verified backups of the database, the maildirs and the keys.

    The archive format, deduplication, compression and encryption belong to
    restic (docs/backups.md says why); this app orchestrates it and records
    what happened.
    """

    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import checks  # noqa: F401  (registers the checks)
