"""End-to-end: mail delivered by the real Postfix and Dovecot, backed up with
restic, lost, and restored, read back over IMAP.

The session's private mail server (``mailserver`` in tests/conftest.py)
stores mail under its own vmail root and reads the lookup rows of the test
database, so the backups here see exactly what Dovecot wrote, and a restored
database is what Postfix reads next. In CI (``CI=true``) a missing Postfix,
Dovecot, restic or pg_dump fails these tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import email
import imaplib
import shutil
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from backups import maildir, services
from backups.models import BackupRun, State
from domains.models import Alias, Mailbox
from tests.backups.conftest import PASSPHRASE
from tests.conftest import SINK_DOMAIN, unavailable
from tests.mailserver import data
from tests.mailserver.support import (
    make_message,
    poll,
    smtp_session,
)
from tests.mailserver.support import (
    transaction as smtp_transaction,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

SENDER = f"someone@{SINK_DOMAIN}"  # bounces go to the sink, not to DNS
PW = data.PASSWORD
IMAP_TIMEOUT = 120


@pytest.fixture
def server(mailserver, transactional_db, restic_binary, settings, tmp_path):
    """The running mail server and a fresh restic repository for its vmail.

    ``transactional_db``: Postfix, Dovecot, pg_dump and pg_restore all use
    their own connections, so every row must really be committed.
    """
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        unavailable("pg_dump/pg_restore not installed (Debian: postgresql-client)")
    for name, value in mailserver.settings.items():
        setattr(settings, name, value)
    settings.MAILPANEL_VMAIL_UID = mailserver.config.vmail_uid
    settings.MAILPANEL_VMAIL_GID = mailserver.config.vmail_gid
    settings.MAILPANEL_BACKUP_REPOSITORY = str(tmp_path / "repo")
    settings.MAILPANEL_BACKUP_PASSPHRASE = PASSPHRASE
    settings.MAILPANEL_BACKUP_RESTIC = restic_binary
    # The running instance's own configuration; never the machine's /etc.
    settings.MAILPANEL_BACKUP_CONFIG_PATHS = [
        str(mailserver.workdir / "postfix"),
        str(mailserver.workdir / "dovecot"),
    ]
    settings.MAILPANEL_BACKUP_STAGING_DIR = ""  # VMAIL_ROOT/.mailpanel-backup
    settings.MAILPANEL_BACKUP_SCRATCH_DIR = str(tmp_path)
    settings.MAILPANEL_BACKUP_CACHE_DIR = str(tmp_path / "cache")
    settings.MAILPANEL_BACKUP_HOST = "mailpanel-e2e"
    settings.MAILPANEL_BACKUP_TIMEOUT = 120
    settings.MAILPANEL_BACKUP_DRILL_DATABASE = ""
    settings.MAILPANEL_BACKUP_ALERT_EMAILS = []
    settings.ADMINS = [("Admin", "admin@example.org")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.backup_init() is True
    return mailserver


def unique_domain(label: str) -> str:
    # The vmail root lives as long as the session: other tests' mailboxes
    # are there too, and must not be confused with this test's.
    return f"{label}-{uuid.uuid4().hex[:8]}.test"


def send(port: int, recipient: str, subject: str) -> str:
    """Send one message over SMTP port 25; returns its Message-ID."""
    message = make_message(SENDER, [recipient], subject)
    with smtp_session(port) as client:
        client.send_message(message, SENDER, [recipient])
    return message["Message-ID"]


def login(port: int, address: str) -> imaplib.IMAP4:
    """An IMAP session with a generous timeout: a CI machine may be busy."""
    client = imaplib.IMAP4("127.0.0.1", port, timeout=IMAP_TIMEOUT)
    try:
        client.login(address, PW)
    except BaseException:
        logout(client)
        raise
    return client


def logout(client: imaplib.IMAP4) -> None:
    # An error here would hide the one that ended the session.
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        client.logout()


def messages(port: int, address: str) -> list[email.message.Message]:
    """Every message in INBOX, read over IMAP with one FETCH.

    Not support.imap_messages(): while another session changes flags, Dovecot
    adds untagged ``* N FETCH (FLAGS ...)`` lines to the answer: imaplib
    returns them as plain bytes among the (response, message) pairs.
    """
    client = login(port, address)
    try:
        client.select("INBOX", readonly=True)
        _, found = client.search(None, "ALL")
        if not found[0].split():
            return []
        _, parts = client.fetch("1:*", "(BODY.PEEK[])")
        return [email.message_from_bytes(p[1]) for p in parts if isinstance(p, tuple)]
    finally:
        logout(client)


def inbox(port: int, address: str) -> Counter:
    """Message-ID -> how many times it is in INBOX, read over IMAP."""
    return Counter(m["Message-ID"] for m in messages(port, address))


def wait_for_ids(port: int, address: str, ids, timeout: float = 60) -> Counter:
    """Poll IMAP until every Message-ID in ``ids`` has arrived."""
    wanted = set(ids)

    def arrived() -> Counter | None:
        found = inbox(port, address)
        return found if wanted <= set(found) else None

    got = poll(arrived, timeout)
    assert got, f"{address}: {wanted - set(inbox(port, address))} never arrived"
    return got


def expunge_all(port: int, address: str) -> None:
    client = login(port, address)
    try:
        client.select("INBOX")
        client.store("1:*", "+FLAGS", r"(\Deleted)")
        client.expunge()
    finally:
        logout(client)


def files_on_disk(vmail_root: Path, address: str) -> dict[str, int]:
    """Every message file of a mailbox: path under the vmail root -> inode."""
    local, _, domain = address.partition("@")
    return {
        path.relative_to(vmail_root).as_posix(): path.stat().st_ino
        for path in maildir.messages(vmail_root / domain / local / "Maildir")
    }


def test_one_mailbox_and_the_database_come_back_and_nothing_else_moves(server, capsys):
    """Deliver, back up, lose one mailbox's mail and an alias, restore both."""
    port, imap = server.smtp_port, server.imap_port
    dom = data.domain(unique_domain("restore"))
    alice, bob = f"alice@{dom.name}", f"bob@{dom.name}"
    team = f"team@{dom.name}"
    data.mailbox(dom, "alice")
    data.mailbox(dom, "bob")
    data.alias(dom, "team", alice)

    alice_ids = {
        send(port, alice, "alice one"),
        send(port, alice, "alice two"),
        send(port, team, "to the team"),
    }
    bob_ids = {send(port, bob, "bob one"), send(port, bob, "bob two")}
    wait_for_ids(imap, alice, alice_ids)
    wait_for_ids(imap, bob, bob_ids)
    alice_subjects = {m["Subject"] for m in messages(imap, alice)}
    assert alice_subjects == {"alice one", "alice two", "to the team"}

    call_command("backup")
    run = BackupRun.objects.latest("pk")
    assert run.state == State.SUCCEEDED, run.error
    assert f"backup #{run.pk} succeeded" in capsys.readouterr().out

    # After the backup: alice loses all her mail (expunged over IMAP), then
    # both get new mail, and the alias is deleted.
    expunge_all(imap, alice)
    assert inbox(imap, alice) == Counter()
    alice_later = send(port, alice, "alice after the backup")
    bob_later = send(port, bob, "bob after the backup")
    wait_for_ids(imap, alice, {alice_later})
    wait_for_ids(imap, bob, bob_ids | {bob_later})
    Alias.objects.get(domain=dom, local_part="team").delete()
    code, text = smtp_transaction(port, SENDER, team)
    assert code == 550, (code, text)
    bob_files = files_on_disk(server.vmail_root, bob)
    assert len(bob_files) == 3

    call_command("restore", str(run.pk), "--mailbox", alice)

    out = capsys.readouterr().out
    assert f"{alice}: 3 message(s) restored, 0 already there" in out
    assert inbox(imap, alice) == Counter(alice_ids | {alice_later})
    restored = {m["Subject"] for m in messages(imap, alice)}
    assert restored == alice_subjects | {"alice after the backup"}
    # The other mailbox: the same files (same inodes), nothing twice.
    assert files_on_disk(server.vmail_root, bob) == bob_files
    assert inbox(imap, bob) == Counter(bob_ids | {bob_later})
    # A mailbox restore leaves the database alone.
    assert not Alias.objects.filter(domain=dom, local_part="team").exists()

    # The database: pg_restore of the run's pg_dump into the live database
    # that Postfix and Dovecot read (--all also merges all mail, which must
    # find every message already there).
    call_command("restore", str(run.pk), "--all")

    out = capsys.readouterr().out
    assert "database restored" in out
    assert f"{alice}: 0 message(s) restored, 3 already there" in out
    assert f"{bob}: 0 message(s) restored, 2 already there" in out
    alias = Alias.objects.get(domain=dom, local_part="team")
    assert alias.destinations == alice
    assert BackupRun.objects.get(pk=run.pk).state == State.SUCCEEDED
    code, text = smtp_transaction(port, SENDER, team)
    assert code == 250, (code, text)
    again = send(port, team, "to the team again")
    wait_for_ids(imap, alice, {again})
    assert inbox(imap, alice) == Counter(alice_ids | {alice_later, again})
    assert files_on_disk(server.vmail_root, bob) == bob_files
    assert inbox(imap, bob) == Counter(bob_ids | {bob_later})


class Repeat(threading.Thread):
    """Call ``step(n)`` with n = 0, 1, ... until stopped; keep the first error."""

    def __init__(self, step, limit: int, pause: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.step = step
        self.limit = limit
        self.pause = pause
        self.done = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set() and self.done < self.limit:
                self.step(self.done)
                self.done += 1
                self.stop.wait(self.pause)
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            connection.close()

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=IMAP_TIMEOUT + 30)
        assert not self.is_alive()
        if self.error:
            raise self.error


def wait_until(thread: Repeat, count: int) -> None:
    assert poll(lambda: thread.done >= count or thread.error), thread.error
    assert thread.error is None, thread.error


def test_a_backup_taken_while_mail_is_delivered_and_written_restores_consistently(
    server,
):
    """Issue 6: a backup taken during delivery restores to a consistent maildir
    and a database dump consistent in itself."""
    port, imap = server.smtp_port, server.imap_port
    dom = data.domain(unique_domain("busy"))
    carol = f"carol@{dom.name}"
    data.mailbox(dom, "carol")
    before = {send(port, carol, f"before {n}") for n in range(5)}
    wait_for_ids(imap, carol, before)

    sent: dict[str, str] = {}

    def deliver(n: int) -> None:
        subject = f"during {n}"
        sent[send(port, carol, subject)] = subject

    def read_and_flag(n: int) -> None:
        # What a mail client does meanwhile: its first SELECT moves new/ to
        # cur/, each flag change renames the message's file.
        client = login(imap, carol)
        try:
            client.select("INBOX")
            flag = r"(\Flagged)" if n % 2 else r"(\Seen)"
            client.store("1:*", "+FLAGS" if n % 4 < 2 else "-FLAGS", flag)
        finally:
            logout(client)

    def write(n: int) -> None:
        # One transaction: a mailbox, its lookup rows and an alias of it.
        with transaction.atomic():
            data.mailbox(dom, f"w{n:03d}")
            data.alias(dom, f"a{n:03d}", f"w{n:03d}@{dom.name}")

    # The vmail root is the session's: other tests' mailboxes are there too.
    others = sum(
        maildir.describe(home)["messages"]
        for address, home in maildir.mailbox_homes(server.vmail_root)
        if address != carol
    )
    # About 30 messages a second, through the whole run.
    sender = Repeat(deliver, limit=2000, pause=0.02)
    reader = Repeat(read_and_flag, limit=2000, pause=0.02)
    writer = Repeat(write, limit=1000)
    threads = (sender, reader, writer)
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            wait_until(thread, 2)
        in_inbox = set(inbox(imap, carol))
        run = services.backup_run()
        # Keep delivering and writing a little longer: the run was taken in
        # the middle of both, and some mail and rows must miss it.
        wait_until(sender, sender.done + 2)
        wait_until(writer, writer.done + 2)
    finally:
        for thread in threads:
            thread.stop.set()
        for thread in threads:
            thread.finish()
    assert run.state == State.SUCCEEDED, run.error
    written = writer.done
    delivered = wait_for_ids(imap, carol, before | set(sent), timeout=90)
    assert max(delivered.values()) == 1

    # Disaster: carol's whole home (maildir and Dovecot's indexes) is gone,
    # and the database goes back to the dump.
    shutil.rmtree(server.vmail_root / dom.name / "carol")
    result = services.backup_restore(snapshot=str(run.pk), everything=True)
    assert result.database_restored

    # The dump is consistent in itself: every transaction is in it whole or
    # not at all, in the order they committed, the lookup rows included.
    boxes = sorted(
        Mailbox.objects.filter(domain=dom, local_part__startswith="w").values_list(
            "local_part", flat=True
        )
    )
    aliases = sorted(
        Alias.objects.filter(domain=dom, local_part__startswith="a").values_list(
            "local_part", flat=True
        )
    )
    assert 2 <= len(boxes) < written, (len(boxes), written)
    assert boxes == [f"w{n:03d}" for n in range(len(boxes))]
    assert aliases == [f"a{n:03d}" for n in range(len(boxes))]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT address FROM mailpanel_virtual_mailboxes WHERE address LIKE %s",
            [f"w%@{dom.name}"],
        )
        looked_up = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT address, destination FROM mailpanel_virtual_aliases"
            " WHERE address LIKE %s",
            [f"a%@{dom.name}"],
        )
        alias_rows = sorted(cursor.fetchall())
    assert looked_up == [f"{box}@{dom.name}" for box in boxes]
    assert alias_rows == [
        (f"a{box[1:]}@{dom.name}", f"{box}@{dom.name}") for box in boxes
    ]

    # The maildir is consistent: Dovecot reads the restored home, every
    # message in it is complete and there once, none that was in the mailbox
    # when the run started is missing, and each is one that was really sent.
    restored = messages(imap, carol)
    ids = Counter(m["Message-ID"] for m in restored)
    assert ids, "nothing came back"
    assert max(ids.values()) == 1, ids.most_common(3)
    assert before | in_inbox <= set(ids)
    assert set(ids) <= before | set(sent)
    on_disk = files_on_disk(server.vmail_root, carol)
    assert len(ids) == len(on_disk)
    # What came back is what the run's manifest counted when it froze the
    # maildirs, and every other mailbox still had all its mail.
    assert len(on_disk) == run.details["messages"] - others
    assert result.messages_restored == len(on_disk)
    for message in restored:
        body = message.get_payload().replace("\r\n", "\n")
        assert body == f"Body of {message['Subject']}\n"
    # Mail that arrived after the freeze belongs to the next backup.
    assert len(ids) < len(before) + len(sent)
    for path in maildir.messages(server.vmail_root / dom.name / "carol" / "Maildir"):
        assert path.stat().st_uid == server.config.vmail_uid
