"""End-to-end: submission on 587 (STARTTLS) and 465 (implicit TLS), issue test 6."""

import base64
import smtplib

import pytest

from tests.conftest import SINK_DOMAIN
from tests.mailserver import data
from tests.mailserver.support import (
    imap_wait_for,
    make_message,
    submission,
    unique_subject,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]


def _setup():
    dom = data.domain("hosted.test")
    alice = data.mailbox(dom, "alice")
    data.mailbox(dom, "bob")
    data.mailbox(dom, "mallory")
    data.alias(dom, "sales", "alice@hosted.test")
    data.identity(alice, "ceo@hosted.test")
    return alice


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587", "465"])
def test_mailbox_sends_as_itself_alias_and_identity(mail, implicit_tls):
    _setup()
    pw = data.PASSWORD
    sent = []
    with submission(mail, implicit_tls, "alice@hosted.test", pw) as client:
        for sender in ("alice@hosted.test", "sales@hosted.test", "ceo@hosted.test"):
            subject = unique_subject(f"from {sender}")
            rcpts = ["bob@hosted.test"]
            client.send_message(make_message(sender, rcpts, subject), sender, rcpts)
            sent.append(subject)
        external = unique_subject("authenticated relay")
        rcpts = [f"friend@{SINK_DOMAIN}"]
        client.send_message(
            make_message("alice@hosted.test", rcpts, external),
            "alice@hosted.test",
            rcpts,
        )
    for subject in sent:
        imap_wait_for(mail.imap_port, "bob@hosted.test", pw, subject)
    assert mail.sink.wait_for(external)[0].mail_from == "alice@hosted.test"


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587", "465"])
def test_sending_as_someone_else_is_refused(mail, implicit_tls):
    _setup()
    for sender in ("bob@hosted.test", "nobody@hosted.test", f"alice@{SINK_DOMAIN}"):
        with (
            submission(
                mail, implicit_tls, "alice@hosted.test", data.PASSWORD
            ) as client,
            pytest.raises(
                (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)
            ) as refused,
        ):
            client.send_message(
                make_message(sender, ["bob@hosted.test"], "spoof"),
                sender,
                ["bob@hosted.test"],
            )
        assert "not owned" in str(refused.value), refused.value


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587", "465"])
def test_wrong_password_and_disabled_smtp_are_refused(mail, implicit_tls):
    alice = _setup()
    with (
        pytest.raises(smtplib.SMTPAuthenticationError),
        submission(mail, implicit_tls, "alice@hosted.test", "wrong-password"),
    ):
        pass
    data.update(alice, smtp_enabled=False)
    with (
        pytest.raises(smtplib.SMTPAuthenticationError),
        submission(mail, implicit_tls, "alice@hosted.test", data.PASSWORD),
    ):
        pass


def test_auth_before_starttls_is_refused(mail):
    _setup()
    client = smtplib.SMTP(
        "127.0.0.1", mail.submission_port, local_hostname="client.example.net"
    )
    try:
        client.ehlo()
        assert not client.has_extn("auth")
        token = base64.b64encode(b"\0alice@hosted.test\0" + data.PASSWORD.encode())
        code, text = client.docmd("AUTH", "PLAIN " + token.decode())
        assert 500 <= code < 600, (code, text)
        code, text = client.docmd("MAIL", "FROM:<alice@hosted.test>")
        assert 500 <= code < 600, (code, text)  # encryption is required first
    finally:
        client.close()
