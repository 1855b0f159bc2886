"""Renaming and deleting mailboxes: the maildir follows, no mail is lost."""

from __future__ import annotations

import imaplib
import smtplib
import threading
import time

import pytest
from django.db import transaction
from django.test import override_settings

from domains import lookups
from mailserver.lifecycle import DEFER_ACTION
from mailserver.models import MaildirJob, OutboxMessage
from tests.mailserver import data
from tests.mailserver.support import (
    imap_subjects,
    imap_wait_for,
    maildir_files,
    send,
    unique_subject,
)
from tests.mailserver.support import (
    transaction as rcpt,
)
from tests.workers.conftest import wait_until

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]


def _send_until_accepted(port: int, recipient: str, subject: str) -> None:
    """What a sending MTA does with a 4xx: try again a little later."""
    for _ in range(150):
        try:
            send(port, "x@sink.test", [recipient], subject)
            return
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            assert 400 <= code < 500, exc.recipients
            time.sleep(0.2)
    raise AssertionError(f"{recipient} never accepted {subject!r}")


def test_it_defers_both_addresses_while_a_move_is_unfinished(
    mailserver, transactional_db
):
    with override_settings(**mailserver.settings):
        domain = data.domain("moving.test")
        data.mailbox(domain, "new")
        job = MaildirJob.objects.create(
            kind=MaildirJob.Kind.MOVE,
            source="moving.test/old",
            target="moving.test/new",
            old_address="old@moving.test",
            new_address="new@moving.test",
        )
        lookups.sync_domains({domain.pk})
        for address in ("old@moving.test", "new@moving.test"):
            code, text = rcpt(mailserver.smtp_port, "x@sink.test", address)
            assert code == 450, (code, text)
            assert "being moved" in text
        assert (
            lookups.PostfixRecipientAccess.objects.filter(action=DEFER_ACTION).count()
            == 2
        )
        MaildirJob.objects.filter(pk=job.pk).update(state=MaildirJob.State.DONE)
        lookups.sync_domains({domain.pk})
        code, _ = rcpt(mailserver.smtp_port, "x@sink.test", "new@moving.test")
        assert code == 250


def test_it_delivers_a_burst_sent_during_a_rename_into_the_renamed_mailbox(
    hosts, workers
):
    server = workers.mailserver
    with override_settings(**server.settings):
        box = data.mailbox(data.domain("burst.test"), "before")
        subjects = [unique_subject(f"burst {i}") for i in range(30)]
        started = threading.Event()

        def burst():
            for index, subject in enumerate(subjects):
                if index == 5:
                    started.set()
                _send_until_accepted(server.smtp_port, "before@burst.test", subject)

        sender = threading.Thread(target=burst)
        sender.start()
        assert started.wait(30)
        with transaction.atomic():
            box.local_part = "after"
            box.full_clean()
            box.save()
        sender.join(120)
        late = unique_subject("to the new name")
        _send_until_accepted(server.smtp_port, "after@burst.test", late)

        def all_there():
            try:
                found = set(
                    imap_subjects(server.imap_port, "after@burst.test", data.PASSWORD)
                )
            except imaplib.IMAP4.error:
                return None  # logged in while the maildir was still moving
            return found >= {*subjects, late}

        assert wait_until(all_there, timeout=120), (
            workers.logs() + server.logs() + server.postqueue()
        )
        jobs = MaildirJob.objects.filter(new_address="after@burst.test")
        assert {job.state for job in jobs} == {MaildirJob.State.DONE}
        assert jobs.count() == 2  # one per mail host
        assert not (server.vmail_root / "burst.test" / "before").exists()
        assert maildir_files(server.vmail_root, "after@burst.test")
        # The old address stays an alias of the renamed mailbox.
        _send_until_accepted(server.smtp_port, "before@burst.test", "via alias")
        imap_wait_for(server.imap_port, "after@burst.test", data.PASSWORD, "via alias")


def test_it_archives_the_maildir_of_a_deleted_mailbox(hosts, workers):
    server = workers.mailserver
    with override_settings(**server.settings):
        box = data.mailbox(data.domain("gone.test"), "bye")
        subject = unique_subject("keep me")
        send(server.smtp_port, "x@sink.test", [box.address], subject)
        imap_wait_for(server.imap_port, box.address, data.PASSWORD, subject)
        with transaction.atomic():
            box.delete()
        archive = server.vmail_root / ".archive" / "gone.test"

        def archived():
            return MaildirJob.objects.filter(
                old_address="bye@gone.test", state=MaildirJob.State.DONE
            ).count() == 2 and list(archive.glob("bye-*"))

        found = wait_until(archived)
        assert found, workers.logs()
        assert list(found[0].glob("Maildir/*/*"))
        assert not (server.vmail_root / "gone.test" / "bye").exists()


def test_it_flushes_the_auth_cache_on_every_host_after_a_password_change(
    hosts, workers
):
    from django_celery_results.models import TaskResult

    from domains.services import mailbox_set_password

    with override_settings(**workers.mailserver.settings):
        box = data.mailbox(data.domain("pw.test"), "carol")
        mailbox_set_password(mailbox=box, password="Another-Horse-Battery-7")
    queues = set(
        OutboxMessage.objects.filter(
            task="mailserver.tasks.dovecot_auth_flush_task", args=[box.address]
        ).values_list("queue", flat=True)
    )
    assert queues == {workers.a.name, workers.b.name}

    def done():
        rows = TaskResult.objects.filter(
            task_name="mailserver.tasks.dovecot_auth_flush_task", status="SUCCESS"
        )
        return {row.worker.split("@")[0] for row in rows} >= queues

    assert wait_until(done), workers.logs()


def test_it_moves_every_maildir_of_a_renamed_domain_and_keeps_the_old_name(
    hosts, workers
):
    server = workers.mailserver
    with override_settings(**server.settings):
        domain = data.domain("before-rename.test")
        boxes = [data.mailbox(domain, name) for name in ("ann", "ben")]
        subjects = {
            box.local_part: unique_subject(f"to {box.local_part}") for box in boxes
        }
        for box in boxes:
            send(
                server.smtp_port, "x@sink.test", [box.address], subjects[box.local_part]
            )
            imap_wait_for(
                server.imap_port, box.address, data.PASSWORD, subjects[box.local_part]
            )
        with transaction.atomic():
            domain.name = "after-rename.test"
            domain.full_clean()
            domain.save()

        def moved():
            jobs = MaildirJob.objects.filter(new_address__endswith="@after-rename.test")
            return jobs.count() == 4 and {job.state for job in jobs} == {
                MaildirJob.State.DONE
            }

        assert wait_until(moved), workers.logs()
        assert not (server.vmail_root / "before-rename.test").exists()
        for name in ("ann", "ben"):
            address = f"{name}@after-rename.test"
            imap_wait_for(server.imap_port, address, data.PASSWORD, subjects[name])
        # The old name is an alias domain now: its addresses still arrive.
        late = unique_subject("to the old name")
        _send_until_accepted(server.smtp_port, "ann@before-rename.test", late)
        imap_wait_for(server.imap_port, "ann@after-rename.test", data.PASSWORD, late)
