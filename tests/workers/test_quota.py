"""Quota usage read from the real Dovecot, stored, and warned about once."""

from __future__ import annotations

import pytest
from django.core import mail as outbox
from django.test import override_settings

from mailserver.models import MailboxUsage
from mailserver.quota import quota_refresh
from tests.mailserver import data
from tests.mailserver.support import imap_wait_for, send, unique_subject

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]


def test_it_stores_usage_from_dovecot_and_warns_the_owner_once(
    mailserver, transactional_db
):
    with override_settings(**mailserver.settings):
        domain = data.domain("quota.test")
        full = data.mailbox(domain, "full", quota=40 * 1024)
        empty = data.mailbox(domain, "empty", quota=40 * 1024)
        subject = unique_subject("big")
        with open("/dev/urandom", "rb") as noise:
            body = noise.read(28 * 1024).hex()[: 37 * 1024]
        from tests.mailserver.support import smtp_session

        with smtp_session(mailserver.smtp_port) as client:
            client.sendmail(
                "x@sink.test",
                [full.address],
                f"Subject: {subject}\r\nFrom: x@sink.test\r\n\r\n{body}\r\n",
            )
        imap_wait_for(mailserver.imap_port, full.address, data.PASSWORD, subject)
        send(mailserver.smtp_port, "x@sink.test", [empty.address], "small")

        assert quota_refresh() >= 1
        usage = MailboxUsage.objects.get(mailbox=full)
        assert usage.bytes_used >= 37 * 1024
        assert usage.bytes_limit == 40 * 1024
        assert usage.percent >= 90
        assert usage.warned_at is not None
        assert [m.to for m in outbox.outbox] == [[full.address]]

        quota_refresh()
        assert len(outbox.outbox) == 1, "warned twice"
