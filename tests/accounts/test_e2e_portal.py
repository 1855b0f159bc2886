"""End-to-end: what an owner changes in the portal, the real mail server does.

The portal is driven over HTTP with CSRF tokens (Django's test client, as a
browser would); Postfix, Dovecot with Pigeonhole and the "outside world"
(the SMTP sink for sink.test) are the session's private instance from
tests/conftest.py. Rows are committed (``transactional_db``) because Postfix
and Dovecot read them over their own connections.

The portal only queues the out-of-office script's sync (an outbox message per
mail host). Here the test plays that host's worker (``worker`` below): it
runs each queued ``vacation_sync_task`` in this process, with the settings
this Dovecot was rendered with, so the script lands in the vmail root it
reads. Nothing is published to a broker; tests/workers/ covers real workers.
"""

import imaplib
import subprocess
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from mailserver.lifecycle import VACATION_TASK
from mailserver.models import OutboxMessage
from mailserver.tasks import vacation_sync_task
from tests.accounts.conftest import log_in, post_form
from tests.conftest import SINK_DOMAIN
from tests.mailserver import data
from tests.mailserver.support import (
    imap_login,
    imap_wait_for,
    poll,
    send,
    unique_subject,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

NEW_PASSWORD = "Lantern-Quietly-Orbit-42"


@pytest.fixture
def mail(mailserver, transactional_db):
    """The running mail server, with the settings it was rendered with."""
    with override_settings(**mailserver.settings):
        yield mailserver


@pytest.fixture
def worker(mail, monkeypatch):
    """Run what the portal queued for the mail host, as its worker would.

    The outbox keeps the messages instead of publishing them; ``run()`` calls
    each waiting vacation sync task in order (the task's body, right here)
    and marks it sent. Returns the tasks' results.
    """
    monkeypatch.setattr("mailserver.outbox.outbox_send", lambda *, message_id: False)

    def run() -> list:
        waiting = OutboxMessage.objects.filter(task=VACATION_TASK, sent_at=None)
        results = []
        for message in waiting.order_by("pk"):
            assert message.queue == ""  # no mail host registered: the local one
            results.append(vacation_sync_task(*message.args))
            OutboxMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now())
        return results

    return run


def portal(address: str, password: str = data.PASSWORD) -> Client:
    client = Client(enforce_csrf_checks=True)
    response = log_in(client, address, password)
    assert response.status_code == 302, response
    return client


def queue_empty(mail) -> bool:
    return "Mail queue is empty" in mail.postqueue()


def test_it_changes_the_imap_password(mail):
    box = data.mailbox(data.domain("portal-pw.test"), "carol")
    imap_login(mail.imap_port, box.address, data.PASSWORD).logout()
    owner = portal(box.address)

    response = post_form(
        owner,
        "/account/password/",
        {
            "current_password": data.PASSWORD,
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302, response
    imap_login(mail.imap_port, box.address, NEW_PASSWORD).logout()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_login(mail.imap_port, box.address, data.PASSWORD)


def vacation_on(owner: Client, subject: str) -> None:
    # A day either side: Sieve's currentdate is the mail server's local date,
    # which may differ from Django's TIME_ZONE near midnight.
    today = timezone.localdate()
    response = post_form(
        owner,
        "/account/out-of-office/",
        {
            "enabled": "on",
            "subject": subject,
            "message": "I am away until Monday.",
            "start": (today - timedelta(days=1)).isoformat(),
            "end": (today + timedelta(days=1)).isoformat(),
            "reply_days": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]


def test_it_answers_an_outside_sender_once(mail, worker):
    box = data.mailbox(data.domain("portal-away.test"), "dave")
    away = unique_subject("Away")
    vacation_on(portal(box.address), away)
    assert worker() == ["installed"]
    sender = f"someone-{away.split()[-1]}@{SINK_DOMAIN}"
    other = f"other-{away.split()[-1]}@{SINK_DOMAIN}"

    first = unique_subject("first")
    send(mail.smtp_port, sender, [box.address], first)
    imap_wait_for(mail.imap_port, box.address, data.PASSWORD, first)
    replies = mail.sink.wait_for(away)

    assert [r.rcpt_tos for r in replies] == [[sender]], mail.logs()
    reply = replies[0]
    assert reply.mail_from in ("", "<>")  # null sender: nobody answers a reply
    assert reply.message["Auto-Submitted"].startswith("auto-replied")
    assert box.address in reply.message["From"]
    assert "I am away until Monday." in reply.message.get_payload(decode=True).decode()

    # The same sender again gets nothing; someone else still gets an answer.
    second = unique_subject("second")
    send(mail.smtp_port, sender, [box.address], second)
    imap_wait_for(mail.imap_port, box.address, data.PASSWORD, second)
    send(mail.smtp_port, other, [box.address], unique_subject("third"))
    mail.sink.wait_for(away, count=2)
    assert poll(lambda: queue_empty(mail)), mail.postqueue()

    recipients = sorted(r.rcpt_tos[0] for r in mail.sink.received(away))
    assert recipients == sorted([sender, other]), mail.logs()


def test_it_stops_answering_when_turned_off(mail, worker):
    box = data.mailbox(data.domain("portal-back.test"), "erin")
    away = unique_subject("Away")
    owner = portal(box.address)
    vacation_on(owner, away)
    assert worker() == ["installed"]
    response = post_form(
        owner,
        "/account/out-of-office/",
        {
            "subject": away,
            "message": "I am away until Monday.",
            "start": "2020-01-01",
            "end": "2020-01-02",
            "reply_days": "1",
        },
    )
    assert response.status_code == 302, response
    assert worker() == ["removed"]

    subject = unique_subject("after")
    send(mail.smtp_port, f"someone@{SINK_DOMAIN}", [box.address], subject)
    imap_wait_for(mail.imap_port, box.address, data.PASSWORD, subject)
    assert poll(lambda: queue_empty(mail)), mail.postqueue()

    assert mail.sink.received(away) == []


def test_it_forwards_to_an_outside_address(mail):
    box = data.mailbox(data.domain("portal-fwd.test"), "frank")
    target = f"frank-elsewhere@{SINK_DOMAIN}"
    owner = portal(box.address)

    response = post_form(
        owner,
        "/account/forwarding/",
        {
            "destinations": target,
            "keep_copy": "on",
            "current_password": data.PASSWORD,
        },
    )
    assert response.status_code == 302, response

    subject = unique_subject("forwarded")
    send(mail.smtp_port, f"someone@{SINK_DOMAIN}", [box.address], subject)
    received = mail.sink.wait_for(subject)
    assert [m.rcpt_tos for m in received] == [[target]]
    imap_wait_for(mail.imap_port, box.address, data.PASSWORD, subject)


def test_the_notice_of_a_new_forward_reaches_the_mailbox_not_the_new_address(mail):
    # No copy kept: once the forward is live, mail to the mailbox only goes
    # to the new address. The notice is sent before that (before the commit
    # Postfix would see), so it lands in the mailbox, where its owner reads.
    box = data.mailbox(data.domain("portal-notice.test"), "hank")
    target = f"hank-elsewhere@{SINK_DOMAIN}"
    owner = portal(box.address)
    notice = f"Forwarding of {box.address} changed"

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=mail.smtp_port,
        DEFAULT_FROM_EMAIL=f"panel@{SINK_DOMAIN}",
    ):
        response = post_form(
            owner,
            "/account/forwarding/",
            {"destinations": target, "current_password": data.PASSWORD},
        )
    assert response.status_code == 302, response

    message = imap_wait_for(mail.imap_port, box.address, data.PASSWORD, notice)
    assert target in message.get_payload(decode=True).decode()
    after = unique_subject("after the change")
    send(mail.smtp_port, f"someone@{SINK_DOMAIN}", [box.address], after)
    assert [m.rcpt_tos for m in mail.sink.wait_for(after)] == [[target]]
    assert poll(lambda: queue_empty(mail)), mail.postqueue()
    assert mail.sink.received(notice) == []


def test_it_compiles_the_script_where_dovecot_reads_it(mail, worker, tmp_path):
    """The worker, not the request, wrote into this Dovecot's vmail root."""
    box = data.mailbox(data.domain("portal-where.test"), "gina")
    vacation_on(portal(box.address), unique_subject("Away"))
    home = mail.vmail_root / "portal-where.test" / "gina"
    link = home / ".dovecot.sieve"
    assert not link.is_symlink()

    assert worker() == ["installed"]

    assert link.is_symlink()
    assert link.resolve().stat().st_uid == mail.config.vmail_uid
    # Never onto /dev/null: sievec saves through a temporary file and a rename,
    # which as root replaces the device with a regular file.
    compiled = tmp_path / "out.svbin"
    result = subprocess.run(
        ["sievec", "-c", str(mail.dovecot_conf), str(link.resolve()), str(compiled)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert compiled.stat().st_size > 0
