import environ

from backups.checks import backup_settings


def test_it_warns_when_no_repository_is_set(settings):
    settings.DEBUG = False
    settings.MAILPANEL_BACKUP_REPOSITORY = ""

    assert [m.id for m in backup_settings(None)] == ["backups.W001"]


def test_it_refuses_a_repository_without_passphrase_or_tool(settings):
    settings.MAILPANEL_BACKUP_REPOSITORY = "/srv/backup"
    settings.MAILPANEL_BACKUP_PASSPHRASE = ""
    settings.MAILPANEL_BACKUP_RESTIC = "no-such-restic"

    assert [m.id for m in backup_settings(None)] == ["backups.E001", "backups.E002"]


def test_it_reads_the_passphrase_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("from a file")
    monkeypatch.delenv("MAILPANEL_BACKUP_PASSPHRASE", raising=False)
    monkeypatch.setenv("MAILPANEL_BACKUP_PASSPHRASE_FILE", str(secret))

    env = environ.FileAwareEnv()

    assert env("MAILPANEL_BACKUP_PASSPHRASE", default="") == "from a file"
