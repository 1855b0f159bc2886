import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups import services
from backups.models import BackupRun, State
from backups.runs import BackupError
from domains.models import Domain, Mailbox
from tests.backups.conftest import message


@pytest.fixture
def two_mailboxes(backup_env):
    vmail = backup_env.vmail
    kept = vmail.deliver("alice@example.org", message("kept"), sub="cur")
    lost = vmail.deliver("alice@example.org", message("lost"), sub="cur")
    lost_sent = vmail.deliver("alice@example.org", message("sent"), folder="Sent")
    bob_old = vmail.deliver("bob@example.org", message("bob old"))
    run = services.backup_run()
    assert run.state == State.SUCCEEDED, run.error
    lost.unlink()
    lost_sent.unlink()
    bob_old.unlink()
    bob_new = vmail.deliver("bob@example.org", message("bob new"))
    return run, kept, lost, bob_new


def test_it_restores_one_mailbox_without_touching_another(backup_env, two_mailboxes):
    run, kept, lost, bob_new = two_mailboxes
    vmail = backup_env.vmail
    bob_before = vmail.messages("bob@example.org")

    result = services.backup_restore(snapshot=str(run.pk), address="alice@example.org")

    assert result.messages_restored == 2
    assert result.messages_present == 1
    alice = vmail.messages("alice@example.org")
    assert lost.name.split(":")[0] in alice
    assert b"Subject: lost" in alice[lost.name.split(":")[0]]
    assert len(vmail.messages("alice@example.org", folder="Sent")) == 1
    assert vmail.messages("bob@example.org") == bob_before
    assert (lost.parent / lost.name).exists()  # same name, flags kept


def test_it_restores_twice_without_duplicating_mail(backup_env, two_mailboxes):
    run = two_mailboxes[0]
    services.backup_restore(snapshot=str(run.pk), address="alice@example.org")

    again = services.backup_restore(snapshot=str(run.pk), address="alice@example.org")

    assert again.messages_restored == 0
    assert len(backup_env.vmail.messages("alice@example.org")) == 2


def test_it_restores_into_a_separate_folder(backup_env, two_mailboxes):
    run, kept, lost, _ = two_mailboxes
    vmail = backup_env.vmail

    result = services.backup_restore(
        snapshot=run.snapshot_id[:8],
        address="alice@example.org",
        into_folder="Restored",
    )

    assert result.messages_restored == 3
    assert len(vmail.messages("alice@example.org")) == 1  # INBOX untouched
    assert len(vmail.messages("alice@example.org", folder="Restored")) == 2
    assert len(vmail.messages("alice@example.org", folder="Restored.Sent")) == 1
    restored = vmail.maildir("alice@example.org") / ".Restored"
    assert {p.name for p in restored.iterdir()} >= {"cur", "new", "tmp"}
    assert not any((restored / "tmp").iterdir())


def test_it_restores_a_mailbox_that_is_gone_whole(backup_env, two_mailboxes):
    import shutil

    run = two_mailboxes[0]
    vmail = backup_env.vmail
    shutil.rmtree(vmail.home("alice@example.org"))

    services.backup_restore(snapshot="latest", address="alice@example.org")

    assert len(vmail.messages("alice@example.org")) == 2
    assert len(vmail.messages("alice@example.org", folder="Sent")) == 1
    assert run.snapshot_id


def test_it_restores_a_domain(backup_env, two_mailboxes):
    run = two_mailboxes[0]
    backup_env.vmail.deliver("carol@example.net", message("other domain"))

    result = services.backup_restore(snapshot=str(run.pk), domain="example.org")

    assert result.mailboxes == 2
    assert result.messages_restored == 3  # alice's two and bob's old one
    assert len(backup_env.vmail.messages("bob@example.org")) == 2


def test_it_restores_nothing_into_a_directory_no_mailbox_could_own(backup_env):
    # A directory named outside the local-part alphabet (docs/addresses.md):
    # its path in the manifest names no mailbox's home, so nothing is
    # written there, and the rest of the domain is restored.
    vmail = backup_env.vmail
    vmail.deliver("alice@example.org", message("alice"))
    odd = vmail.deliver("o'brien@example.org", message("odd"))
    run = services.backup_run()
    assert run.state == State.SUCCEEDED, run.error
    shutil.rmtree(vmail.home("o'brien@example.org"))
    lines = []

    result = services.backup_restore(
        snapshot=str(run.pk), domain="example.org", report=lines.append
    )

    assert result.mailboxes == 1
    assert not odd.parent.exists()
    assert any(line.startswith("o'brien@example.org: skipped") for line in lines)
    with pytest.raises(BackupError, match="cannot be restored"):
        services.backup_restore(snapshot=str(run.pk), address="o'brien@example.org")


def test_it_refuses_a_mailbox_that_is_not_in_the_backup(backup_env, two_mailboxes):
    run = two_mailboxes[0]

    with pytest.raises(BackupError, match="nobody@example.org is not in snapshot"):
        services.backup_restore(snapshot=str(run.pk), address="nobody@example.org")


def test_it_refuses_a_folder_name_outside_the_maildir(backup_env, two_mailboxes):
    run = two_mailboxes[0]

    with pytest.raises(BackupError, match="cannot be a folder name"):
        services.backup_restore(
            snapshot=str(run.pk), address="alice@example.org", into_folder="../x"
        )


def test_it_restores_through_the_command_with_progress(
    backup_env, two_mailboxes, capsys
):
    run = two_mailboxes[0]

    call_command("restore", str(run.pk), "--mailbox", "alice@example.org")

    out = capsys.readouterr().out
    assert "alice@example.org: 2 message(s) restored, 1 already there" in out
    assert "restored from" in out


def test_it_fails_the_command_with_one_readable_line(backup_env, two_mailboxes):
    with pytest.raises(CommandError) as info:
        call_command("restore", "999999", "--mailbox", "alice@example.org")

    assert (
        str(info.value)
        == "restore failed: backup run 999999 has no snapshot to restore"
    )


@pytest.mark.django_db(transaction=True)
def test_it_restores_database_mail_and_missing_keys(backup_env):
    domain = Domain(name="example.org")
    domain.full_clean()
    domain.save()
    mailbox = Mailbox(domain=domain, local_part="alice")
    mailbox.set_password("a long enough password")
    mailbox.save()
    backup_env.vmail.deliver("alice@example.org", message("hello"))
    run = services.backup_run()
    assert run.state == State.SUCCEEDED, run.error
    mailbox.delete()
    import shutil

    shutil.rmtree(backup_env.vmail.home("alice@example.org"))
    backup_env.tls_key.unlink()
    (backup_env.config / "main.cf").write_text("changed since\n")

    result = services.backup_restore(snapshot=str(run.pk), everything=True)

    assert result.database_restored
    assert Mailbox.objects.filter(
        domain__name="example.org", local_part="alice"
    ).exists()
    assert len(backup_env.vmail.messages("alice@example.org")) == 1
    assert backup_env.tls_key.read_text().startswith("-----BEGIN PRIVATE KEY")
    # A live configuration file is never overwritten: `mailserver apply`
    # renders it from the restored database.
    assert (backup_env.config / "main.cf").read_text() == "changed since\n"
    assert result.config_files == 1
    restored_run = BackupRun.objects.get(pk=run.pk)
    assert restored_run.state == State.SUCCEEDED
    assert restored_run.snapshot_id == run.snapshot_id
