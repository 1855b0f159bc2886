import os
import threading

from django.core import mail

from backups import services
from backups.models import State
from tests.backups.conftest import message


def test_it_passes_a_drill_of_the_newest_backup(backup_env):
    backup_env.vmail.deliver("alice@example.org", message("one"))
    backup_env.vmail.deliver("bob@example.org", message("two"), folder="Archive")
    run = services.backup_run()

    drill = services.restore_drill()

    assert drill.state == State.SUCCEEDED, drill.error
    assert drill.run == run
    assert drill.database_ok is True
    assert drill.mailboxes_checked == 2
    assert drill.messages_checked == 2
    assert not mail.outbox
    assert not any(backup_env.scratch.iterdir())


def test_it_alerts_the_admins_when_a_drill_fails(backup_env, monkeypatch):
    from backups import maildir

    backup_env.vmail.deliver("alice@example.org", message("one"))
    describe = maildir.describe

    def miscounted(home, **options):
        # A manifest that disagrees with the snapshot, as a damaged one would.
        return {**describe(home, **options), "messages": 2}

    monkeypatch.setattr(maildir, "describe", miscounted)
    services.backup_run()
    monkeypatch.setattr(maildir, "describe", describe)

    drill = services.restore_drill()

    assert drill.state == State.FAILED
    assert drill.error == "alice@example.org: 1 messages, manifest says 2"
    assert drill.database_ok is True
    assert len(mail.outbox) == 1
    assert "restore drill" in mail.outbox[0].subject


def test_it_fails_a_drill_without_any_backup(backup_env):
    drill = services.restore_drill()

    assert drill.state == State.FAILED
    assert drill.error == "there is no successful backup to drill"
    assert len(mail.outbox) == 1


def test_it_takes_a_consistent_backup_while_mail_is_delivered(backup_env):
    vmail = backup_env.vmail
    for n in range(300):
        vmail.deliver("alice@example.org", message(f"old {n}", 2000))
    stop = threading.Event()
    delivered = []

    def deliver_and_flag() -> None:
        n = 0
        while not stop.is_set():
            delivered.append(vmail.deliver("alice@example.org", message(f"new {n}")))
            # What an IMAP client does meanwhile: read (new/ -> cur/, flag),
            # and expunge.
            cur = vmail.maildir("alice@example.org") / "cur"
            for path in list(cur.iterdir())[:2]:
                if path.name.endswith(":2,S"):
                    os.rename(path, path.with_name(path.name + "R"))
                elif ":" not in path.name:
                    os.rename(path, path.with_name(path.name + ":2,S"))
            old = delivered[-1]
            if n % 3 == 0 and old.exists():
                os.rename(old, cur / (old.name + ":2,S"))
            n += 1

    worker = threading.Thread(target=deliver_and_flag)
    worker.start()
    try:
        run = services.backup_run()
    finally:
        stop.set()
        worker.join()

    assert run.state == State.SUCCEEDED, run.error
    drill = services.restore_drill(run=run)
    assert drill.state == State.SUCCEEDED, drill.error
    assert drill.messages_checked >= 300
    assert drill.messages_checked == run.details["messages"]
