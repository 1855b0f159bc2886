"""End-to-end: SMTP port 25 → Postfix → LMTP → Dovecot → IMAP and POP3.

Issue tests 1 (delivery, admin), 2 (aliases, catch-all, domain alias,
forwards), 3 (refusals) and 4 (changes apply without reload).
"""

import imaplib
import poplib
import re
import smtplib

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from domains.models import Mailbox
from mailserver.services import dovecot_flush_auth_cache
from tests.conftest import SINK_DOMAIN
from tests.mailserver import data
from tests.mailserver.support import (
    imap_login,
    imap_subjects,
    imap_wait_for,
    maildir_files,
    poll,
    pop3_subjects,
    send,
    transaction,
    unique_subject,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

SENDER = f"someone@{SINK_DOMAIN}"  # bounces go to the sink, not to DNS


def test_orm_mailbox_receives_over_smtp_and_reads_imap_and_pop3(mail):
    dom = data.domain("example.test")
    data.mailbox(dom, "alice")
    subject = unique_subject("hello alice")

    send(mail.smtp_port, SENDER, ["alice@example.test"], subject)

    message = imap_wait_for(
        mail.imap_port, "alice@example.test", data.PASSWORD, subject
    )
    assert "Body of" in message.get_payload()
    assert pop3_subjects(mail.pop3_port, "alice@example.test", data.PASSWORD) == [
        subject
    ]
    files = maildir_files(mail.vmail_root, "alice@example.test")
    assert len(files) == 1
    assert files[0].stat().st_uid == mail.config.vmail_uid


def _csrf_token(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, f"no CSRF token on {url}"
    return match[1].decode()


def test_admin_created_mailbox_receives_and_logs_in(mail):
    dom = data.domain("admin.test")
    get_user_model().objects.create_superuser("root", "root@admin.test", "Adm1n-pass!")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "csrfmiddlewaretoken": _csrf_token(client, "/admin/login/"),
            "username": "root",
            "password": "Adm1n-pass!",
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.content[:500]
    password = "Set-In-The-Admin-42"
    url = "/admin/domains/mailbox/add/"
    response = client.post(
        url,
        {
            "csrfmiddlewaretoken": _csrf_token(client, url),
            "domain": dom.pk,
            "local_part": "Carol",
            "name": "Carol",
            "quota": 0,
            "active": "on",
            "imap_enabled": "on",
            "pop3_enabled": "on",
            "smtp_enabled": "on",
            "password1": password,
            "password2": password,
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Mailbox.objects.filter(domain=dom, local_part="carol").exists()

    subject = unique_subject("via admin")
    send(mail.smtp_port, SENDER, ["carol@admin.test"], subject)
    imap_wait_for(mail.imap_port, "carol@admin.test", password, subject)
    assert pop3_subjects(mail.pop3_port, "carol@admin.test", password) == [subject]


def test_aliases_catchall_domain_alias_and_forwards(mail):
    dom = data.domain("example.test")
    alice = data.mailbox(dom, "alice")
    data.mailbox(dom, "bob")
    copy = data.mailbox(dom, "copy")
    away = data.mailbox(dom, "away")
    data.mailbox(dom, "catch")
    data.alias(dom, "team", "alice@example.test", "bob@example.test")
    data.alias(dom, "", "catch@example.test")
    data.domain_alias("example-alias.test", dom)
    data.forward(copy, f"copy@{SINK_DOMAIN}", keep_copy=True)
    data.forward(away, f"away@{SINK_DOMAIN}", keep_copy=False)
    pw = data.PASSWORD

    team = unique_subject("team")
    send(mail.smtp_port, SENDER, ["team@example.test"], team)
    imap_wait_for(mail.imap_port, "alice@example.test", pw, team)
    imap_wait_for(mail.imap_port, "bob@example.test", pw, team)

    stray = unique_subject("catch-all")
    send(mail.smtp_port, SENDER, ["nobody-here@example.test"], stray)
    imap_wait_for(mail.imap_port, "catch@example.test", pw, stray)

    aliased = unique_subject("domain alias")
    send(mail.smtp_port, SENDER, ["alice@example-alias.test"], aliased)
    imap_wait_for(mail.imap_port, "alice@example.test", pw, aliased)
    # The catch-all does not swallow a mailbox's mail (nor of its alias domain).
    assert aliased not in imap_subjects(mail.imap_port, "catch@example.test", pw)
    assert team not in imap_subjects(mail.imap_port, "catch@example.test", pw)

    kept = unique_subject("forward with copy")
    send(mail.smtp_port, SENDER, ["copy@example.test"], kept)
    imap_wait_for(mail.imap_port, "copy@example.test", pw, kept)
    assert mail.sink.wait_for(kept)[0].rcpt_tos == [f"copy@{SINK_DOMAIN}"]

    gone = unique_subject("forward without copy")
    send(mail.smtp_port, SENDER, ["away@example.test"], gone)
    assert mail.sink.wait_for(gone)[0].rcpt_tos == [f"away@{SINK_DOMAIN}"]
    assert gone not in imap_subjects(mail.imap_port, "away@example.test", pw)
    assert alice.local_part == "alice"


def test_refusals_unknown_inactive_and_service_switches(mail):
    dom = data.domain("example.test")
    data.mailbox(dom, "alice")
    data.mailbox(dom, "sleepy", active=False)
    data.alias(dom, "", "alice@example.test")  # a catch-all must not take them
    off = data.domain("inactive.test", active=False)
    data.mailbox(off, "dave")
    data.mailbox(dom, "noimap", imap_enabled=False)
    data.mailbox(dom, "nopop", pop3_enabled=False)
    other = data.domain("other.test")
    data.mailbox(other, "erin")
    pw = data.PASSWORD

    code, text = transaction(mail.smtp_port, SENDER, "ghost@other.test")
    assert code == 550, text  # unknown recipient, refused at RCPT time
    code, text = transaction(mail.smtp_port, SENDER, "sleepy@example.test")
    assert code == 550 and "disabled" in text, text
    code, text = transaction(mail.smtp_port, SENDER, "dave@inactive.test")
    assert 500 <= code < 600, text

    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail.imap_port, "sleepy@example.test", pw)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail.imap_port, "dave@inactive.test", pw)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail.imap_port, "noimap@example.test", pw)
    assert pop3_subjects(mail.pop3_port, "noimap@example.test", pw) == []
    with pytest.raises(poplib.error_proto):
        pop3_subjects(mail.pop3_port, "nopop@example.test", pw)
    imap_login(mail.imap_port, "nopop@example.test", pw).logout()


def test_changes_apply_at_next_transaction_and_login(mail):
    dom = data.domain("example.test")
    code, _ = transaction(mail.smtp_port, SENDER, "frank@example.test")
    assert code == 550

    frank = data.mailbox(dom, "frank")
    subject = unique_subject("new mailbox")
    send(mail.smtp_port, SENDER, ["frank@example.test"], subject)
    imap_wait_for(mail.imap_port, "frank@example.test", data.PASSWORD, subject)

    frank.set_password("A-Brand-New-Secret-7")
    frank.save()
    assert dovecot_flush_auth_cache("frank@example.test", mail.dovecot_conf)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail.imap_port, "frank@example.test", data.PASSWORD)
    imap_login(mail.imap_port, "frank@example.test", "A-Brand-New-Secret-7").logout()

    data.alias(dom, "sales", "frank@example.test")
    sales = unique_subject("new alias")
    send(mail.smtp_port, SENDER, ["sales@example.test"], sales)
    imap_wait_for(mail.imap_port, "frank@example.test", "A-Brand-New-Secret-7", sales)

    data.update(frank, imap_enabled=False)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail.imap_port, "frank@example.test", "A-Brand-New-Secret-7")

    data.update(frank, active=False)
    code, _ = transaction(mail.smtp_port, SENDER, "frank@example.test")
    assert code == 550
    data.update(dom, active=False)
    code, _ = transaction(mail.smtp_port, SENDER, "sales@example.test")
    assert 500 <= code < 600
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(mail.smtp_port, SENDER, ["sales@example.test"], "refused")
    assert poll(lambda: True)
