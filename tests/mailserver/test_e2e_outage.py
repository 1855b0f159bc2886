"""End-to-end: the database goes away and comes back (issue test 7).

Postfix and Dovecot reach PostgreSQL through separate loopback proxies
(``DbLink``) that this test cuts, instead of stopping the machine's one
PostgreSQL cluster: the test database and every other test session live in
that cluster, and a proxy cannot be left stopped by a crashed test. For the
daemons a cut link is indistinguishable from a dead server: open connections
drop and new ones are refused.
"""

import imaplib
import smtplib

import pytest

from tests.conftest import SINK_DOMAIN
from tests.mailserver import data
from tests.mailserver.support import (
    imap_login,
    imap_wait_for,
    maildir_files,
    poll,
    send,
    transaction,
    unique_subject,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

SENDER = f"someone@{SINK_DOMAIN}"  # bounces go to the sink, not to DNS
# Postfix's pgsql client waits 60 s before it retries a failed server, and
# Dovecot's SQL pool backs off between reconnection attempts.
RECOVERY_TIMEOUT = 180.0


def test_database_outage_defers_and_queued_mail_arrives_later(mail):
    dom = data.domain("hosted.test")
    data.mailbox(dom, "alice")
    pw = data.PASSWORD
    address = "alice@hosted.test"
    imap_login(mail.imap_port, address, pw).logout()
    try:
        mail.postfix_link.cut()
        mail.dovecot_link.cut()

        # Postfix: try again later, never "user unknown"; on port 25 the
        # sender check at MAIL FROM is the first lookup to fail
        # (docs/mailserver.md, "Database outages").
        for recipient in (address, "nobody@hosted.test"):
            code, text = transaction(mail.smtp_port, SENDER, recipient)
            # Refused at MAIL FROM (the answer names the sender), with one
            # of Postfix's two texts for a table it cannot read.
            assert code == 451, (recipient, code, text)
            assert text.startswith(
                (
                    f"4.3.0 <{SENDER}>: Temporary lookup failure",
                    f"4.3.5 <{SENDER}>: Sender address rejected: "
                    "Server configuration error",
                )
            ), text
        # Dovecot: a temporary refusal, not "wrong password".
        with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE|[Tt]emporary"):
            imap_login(mail.imap_port, address, pw)
        # Postfix's link returns first: mail is accepted, but Dovecot cannot
        # look the mailbox up, so LMTP defers it and it waits in the queue.
        mail.postfix_link.restore()
        subject = unique_subject("queued during outage")

        def try_send() -> bool:
            # What a sending MTA does: keep the message and retry on 4xx.
            try:
                send(mail.smtp_port, SENDER, [address], subject)
            except (
                smtplib.SMTPSenderRefused,  # port 25 checks the sender at MAIL
                smtplib.SMTPRecipientsRefused,
                smtplib.SMTPDataError,
            ) as exc:
                codes = [c for c, _ in getattr(exc, "recipients", {}).values()]
                codes.append(getattr(exc, "smtp_code", 450))
                assert all(400 <= code < 500 for code in codes), exc
                return False
            return True

        assert poll(try_send, RECOVERY_TIMEOUT), mail.logs()
        # Deferred: Dovecot's lookup waits in its SQL pool, then fails; a
        # "user doesn't exist" from it is turned into a retry, never a bounce.
        deferred = poll(
            lambda: address in mail.postqueue() and "(" in mail.postqueue(),
            RECOVERY_TIMEOUT,
        )
        assert deferred, mail.postqueue() + mail.logs()
        assert maildir_files(mail.vmail_root, address) == []
        # The database is back: the queued message is delivered by Postfix's
        # own retry (no flush), and logins work again.
        mail.dovecot_link.restore()
        imap_wait_for(mail.imap_port, address, pw, subject, timeout=RECOVERY_TIMEOUT)
        assert poll(lambda: address not in mail.postqueue(), 30), mail.postqueue()
        bounces = [m for m in mail.sink.messages if SENDER in m.rcpt_tos]
        assert not bounces, [m.message["Subject"] for m in bounces]
    finally:
        mail.postfix_link.restore()
        mail.dovecot_link.restore()
