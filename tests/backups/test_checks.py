import os
import subprocess
import sys
from pathlib import Path

from backups.checks import backup_settings

ROOT = Path(__file__).resolve().parents[2]


def test_it_warns_when_no_repository_is_set(settings):
    settings.DEBUG = False
    settings.MAILPANEL_BACKUP_REPOSITORY = ""

    assert [m.id for m in backup_settings(None)] == ["backups.W001"]


def test_it_refuses_a_repository_without_passphrase_or_tool(settings):
    settings.MAILPANEL_BACKUP_REPOSITORY = "/srv/backup"
    settings.MAILPANEL_BACKUP_PASSPHRASE = ""
    settings.MAILPANEL_BACKUP_RESTIC = "no-such-restic"

    assert [m.id for m in backup_settings(None)] == ["backups.E001", "backups.E002"]


def test_it_reads_the_passphrase_from_a_file(tmp_path):
    """mailpanel/settings.py itself, not a fresh FileAwareEnv, reads NAME_FILE."""
    secret = tmp_path / "passphrase"
    secret.write_text("from a file")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MAILPANEL_BACKUP_PASSPHRASE", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DEBUG="true",
        MAILPANEL_BACKUP_PASSPHRASE_FILE=str(secret),
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mailpanel.settings as s; print(s.MAILPANEL_BACKUP_PASSPHRASE)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from a file"
