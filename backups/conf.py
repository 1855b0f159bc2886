"""Settings of the backups app, read when used (never at import time)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from backups.tool import Restic

# Every snapshot mailpanel takes carries this tag; prune and "latest" only
# ever look at snapshots with it, so other data in a shared repository is safe.
TAG = "mailpanel"
STAGING_NAME = ".mailpanel-backup"


def restic() -> Restic:
    """The repository from the settings, or ImproperlyConfigured."""
    repository = settings.MAILPANEL_BACKUP_REPOSITORY
    passphrase = settings.MAILPANEL_BACKUP_PASSPHRASE
    if not repository:
        raise ImproperlyConfigured("MAILPANEL_BACKUP_REPOSITORY is not set")
    if not passphrase:
        raise ImproperlyConfigured(
            "MAILPANEL_BACKUP_PASSPHRASE (or MAILPANEL_BACKUP_PASSPHRASE_FILE) is "
            "not set"
        )
    return Restic(
        repository=repository,
        passphrase=passphrase,
        binary=settings.MAILPANEL_BACKUP_RESTIC,
        timeout=settings.MAILPANEL_BACKUP_TIMEOUT or None,
        cache_dir=settings.MAILPANEL_BACKUP_CACHE_DIR or None,
    )


def vmail_root() -> Path:
    return Path(settings.MAILPANEL_VMAIL_ROOT)


def staging_dir() -> Path:
    """Where a run puts the dump, the manifest and the frozen maildirs.

    Inside the vmail root by default: the frozen maildirs are hard links,
    which only work within one file system. Domain names never start with a
    dot, so Dovecot never sees it as a domain.
    """
    return Path(settings.MAILPANEL_BACKUP_STAGING_DIR or vmail_root() / STAGING_NAME)


def scratch_dir() -> Path:
    """Parent of the directories restores and drills extract into."""
    return Path(settings.MAILPANEL_BACKUP_SCRATCH_DIR or tempfile.gettempdir())


def host() -> str:
    """The snapshot's host name; restic finds the parent snapshot by it."""
    return settings.MAILPANEL_BACKUP_HOST or socket.gethostname()


def config_paths() -> list[Path]:
    """The configuration and keys to back up, those that exist.

    Default: the Postfix and Dovecot directories, the TLS pair (or var/tls
    with the self-signed one) and the DKIM key directory.
    """
    paths = list(settings.MAILPANEL_BACKUP_CONFIG_PATHS)
    if not paths:
        var_dir = Path(getattr(settings, "VAR_DIR", Path(settings.BASE_DIR) / "var"))
        paths = [
            settings.MAILPANEL_POSTFIX_DIR,
            settings.MAILPANEL_DOVECOT_DIR,
            settings.MAILPANEL_TLS_CERT or var_dir / "tls",
            settings.MAILPANEL_TLS_KEY,
            settings.MAILPANEL_DKIM_KEY_DIR,
        ]
    found: list[Path] = []
    for path in paths:
        if path and Path(path).exists() and Path(path).absolute() not in found:
            found.append(Path(path).absolute())
    return found


def alert_recipients() -> list[str]:
    return list(settings.MAILPANEL_BACKUP_ALERT_EMAILS) or [
        address for _, address in settings.ADMINS
    ]
