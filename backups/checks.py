"""Start-up checks: a backup configuration that cannot work is said at once,
not at 03:00 in a failed run."""

import shutil

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def backup_settings(app_configs, **kwargs) -> list:
    if not settings.MAILPANEL_BACKUP_REPOSITORY:
        # Development and test setups have no repository on purpose.
        if settings.DEBUG:
            return []
        return [
            Warning(
                "MAILPANEL_BACKUP_REPOSITORY is not set: no backups are taken.",
                hint="docs/backups.md, Setting up.",
                id="backups.W001",
            )
        ]
    problems = []
    if not settings.MAILPANEL_BACKUP_PASSPHRASE:
        problems.append(
            Error(
                "MAILPANEL_BACKUP_REPOSITORY is set but the passphrase is not.",
                hint="Set MAILPANEL_BACKUP_PASSPHRASE or its _FILE variant.",
                id="backups.E001",
            )
        )
    if shutil.which(settings.MAILPANEL_BACKUP_RESTIC) is None:
        problems.append(
            Error(
                f"The backup tool {settings.MAILPANEL_BACKUP_RESTIC!r} is missing.",
                hint="scripts/backups-install.sh installs restic.",
                id="backups.E002",
            )
        )
    return problems
