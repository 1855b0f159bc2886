import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.backups.conftest import message


def test_it_backs_up_with_progress(backup_env, capsys):
    backup_env.vmail.deliver("alice@example.org", message("one"))

    call_command("backup")

    out = capsys.readouterr().out
    assert "files" in out.splitlines()[0]
    assert "succeeded: snapshot" in out
    assert "1 mailboxes, 1 messages" in out


def test_it_fails_with_one_readable_line(backup_env, settings):
    settings.MAILPANEL_BACKUP_PASSPHRASE = "wrong"

    with pytest.raises(CommandError) as info:
        call_command("backup")

    assert str(info.value).endswith(
        "failed: wrong passphrase for the backup repository "
        "(MAILPANEL_BACKUP_PASSPHRASE)"
    )


def test_it_says_when_the_repository_is_not_configured(db, settings):
    settings.MAILPANEL_BACKUP_REPOSITORY = ""

    with pytest.raises(CommandError, match="MAILPANEL_BACKUP_REPOSITORY is not set"):
        call_command("backup")


def test_it_initialises_only_once(backup_env, capsys):
    call_command("backup", "--init")

    assert capsys.readouterr().out.strip() == "repository already exists"


def test_it_runs_a_drill(backup_env, capsys):
    backup_env.vmail.deliver("alice@example.org", message("one"))
    call_command("backup")

    call_command("backup", "--drill")

    assert "1 mailboxes and 1 messages match the manifest" in capsys.readouterr().out
