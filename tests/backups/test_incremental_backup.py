"""A backup of an unchanged mail store reads no message: neither mailpanel
for the manifest nor restic for the snapshot. What changed is read; restores
and drills still work from, and check, the real content."""

import os
import shutil
import threading

from backups import maildir, services
from backups.models import State
from tests.backups.conftest import message

ALICE = "alice@example.org"
BOB = "bob@example.org"


def all_messages(backup_env):
    found = []
    for _address, home in maildir.mailbox_homes(backup_env.vmail.root):
        found += maildir.messages(maildir.maildir_of(home))
    return found


def deliver_some(backup_env):
    vmail = backup_env.vmail
    for n in range(6):
        vmail.deliver(ALICE, message(f"inbox {n}", 3000))
    vmail.deliver(ALICE, message("read", 3000), sub="cur")
    vmail.deliver(ALICE, message("sent", 3000), folder="Sent", sub="cur")
    vmail.deliver(BOB, message("bob's", 3000))


def test_it_reads_no_message_when_nothing_changed(backup_env, watch_opens):
    deliver_some(backup_env)
    messages = all_messages(backup_env)
    opens = watch_opens(messages)
    first = services.backup_run()
    assert first.state == State.SUCCEEDED, first.error
    # The watch sees what the first run read: every message, hashed for the
    # manifest and read by restic.
    assert opens.opened() == set(messages)
    assert first.details["messages_hashed"] == len(messages)

    second = services.backup_run()

    assert second.state == State.SUCCEEDED, second.error
    assert opens.opened() == set()
    assert second.details["messages_hashed"] == 0
    assert second.details["messages"] == len(messages)
    # restic found two files changed: the dump and the manifest.
    assert second.details["files_new"] + second.details["files_changed"] == 2


def test_it_reads_only_what_changed(backup_env, watch_opens):
    deliver_some(backup_env)
    first = services.backup_run()
    assert first.state == State.SUCCEEDED, first.error
    vmail = backup_env.vmail
    inbox = sorted((vmail.maildir(ALICE) / "new").iterdir())
    read = vmail.maildir(ALICE) / "cur" / f"{inbox[0].name}:2,S"
    os.rename(inbox[0], read)
    inbox[1].unlink()
    delivered = vmail.deliver(ALICE, message("new", 3000))
    shutil.rmtree(vmail.home(BOB))
    opens = watch_opens(all_messages(backup_env))

    second = services.backup_run()

    assert second.state == State.SUCCEEDED, second.error
    # restic reads the renamed message again (a new path to it), mailpanel
    # keeps its checksum; only the delivered one is hashed.
    assert opens.opened() == {read, delivered}
    assert second.details["messages_hashed"] == 1
    assert second.details["mailboxes"] == 1
    staging = vmail.root / ".mailpanel-backup" / "vmail"
    assert not (staging / "example.org" / "bob").exists()
    drill = services.restore_drill(run=second)
    assert drill.state == State.SUCCEEDED, drill.error
    assert drill.messages_checked == len(all_messages(backup_env))


def test_it_restores_the_mail_of_a_run_that_read_none(backup_env):
    deliver_some(backup_env)
    services.backup_run()
    second = services.backup_run()
    assert second.details["messages_hashed"] == 0
    before = backup_env.vmail.messages(ALICE)
    sent = backup_env.vmail.messages(ALICE, folder="Sent")
    shutil.rmtree(backup_env.vmail.home(ALICE))

    result = services.backup_restore(snapshot=str(second.pk), address=ALICE)

    assert result.messages_restored == len(before) + len(sent)
    assert backup_env.vmail.messages(ALICE) == before
    assert backup_env.vmail.messages(ALICE, folder="Sent") == sent


def test_the_drill_checks_the_restored_content_not_the_kept_checksums(backup_env):
    deliver_some(backup_env)
    first = services.backup_run()
    # Content rewritten in place with its size and mtime put back: no MDA or
    # IMAP server does it, and the kept checksum cannot see it.
    victim = sorted((backup_env.vmail.maildir(ALICE) / "new").iterdir())[0]
    info = victim.stat()
    content = victim.read_bytes()
    with victim.open("r+b") as handle:
        handle.write(content.upper())
    os.utime(victim, ns=(info.st_atime_ns, info.st_mtime_ns))

    second = services.backup_run()

    assert second.state == State.SUCCEEDED, second.error
    assert second.details["messages_hashed"] == 0
    # restic compares ctime too, so the snapshot holds the new content; the
    # drill hashes it and finds the manifest wrong.
    drill = services.restore_drill(run=second)
    assert drill.state == State.FAILED
    assert drill.error == f"{ALICE}: checksum differs from the manifest"
    assert services.restore_drill(run=first).state == State.SUCCEEDED


def test_it_takes_a_consistent_incremental_backup_while_mail_is_delivered(
    backup_env,
):
    vmail = backup_env.vmail
    for n in range(300):
        vmail.deliver(ALICE, message(f"old {n}", 2000))
    first = services.backup_run()
    assert first.state == State.SUCCEEDED, first.error
    stop = threading.Event()

    def deliver_read_and_expunge() -> None:
        n = 0
        cur = vmail.maildir(ALICE) / "cur"
        new = vmail.maildir(ALICE) / "new"
        while not stop.is_set():
            vmail.deliver(ALICE, message(f"new {n}"))
            for path in sorted(new.iterdir())[:2]:
                os.rename(path, cur / f"{path.name}:2,S")
            for path in sorted(cur.iterdir())[:1]:
                if path.name.endswith(":2,S"):
                    os.rename(path, path.with_name(path.name.replace(":2,S", ":2,FS")))
                elif n % 3 == 0:
                    path.unlink()
            n += 1

    worker = threading.Thread(target=deliver_read_and_expunge)
    worker.start()
    try:
        second = services.backup_run()
    finally:
        stop.set()
        worker.join()

    assert second.state == State.SUCCEEDED, second.error
    assert second.details["messages_hashed"] < second.details["messages"]
    drill = services.restore_drill(run=second)
    assert drill.state == State.SUCCEEDED, drill.error
    assert drill.messages_checked == second.details["messages"]
