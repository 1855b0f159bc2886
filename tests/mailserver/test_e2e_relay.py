"""End-to-end: never an open relay (issue test 5), and TLS before any login.

Every probe comes from an unauthenticated client on 127.0.0.1, which is not
trusted: MAILPANEL_MYNETWORKS is empty by default and in these tests.
"""

import imaplib
import socket
import time

import pytest

from tests.conftest import E2E_HOSTNAME, SINK_DOMAIN, unavailable
from tests.mailserver import data
from tests.mailserver.support import (
    IMAP4FromAddress,
    imap_login,
    no_verify_context,
    smtp_session,
    transaction,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

EXTERNAL = f"victim@{SINK_DOMAIN}"
STRANGER = f"stranger@{SINK_DOMAIN}"


def test_unauthenticated_relay_probes_are_all_refused(mail):
    dom = data.domain("hosted.test")
    data.mailbox(dom, "alice")
    data.mailbox(dom, "user")
    before = len(mail.sink.messages)

    probes = {
        "plain external RCPT": (STRANGER, EXTERNAL, None),
        "percent hack": (STRANGER, f"victim%{SINK_DOMAIN}@hosted.test", None),
        "source route": (STRANGER, f"@hosted.test:{EXTERNAL}", None),
        "quoted local part": (STRANGER, f'"{EXTERNAL}"@hosted.test', None),
        "double @": (STRANGER, f"{EXTERNAL}@hosted.test", None),
        "bang path": (STRANGER, f"{SINK_DOMAIN}!victim@hosted.test", None),
        "HELO as the server": (STRANGER, "alice@hosted.test", E2E_HOSTNAME),
        "MAIL FROM a hosted address": ("user@hosted.test", "alice@hosted.test", None),
        "hosted sender to external": ("alice@hosted.test", EXTERNAL, None),
    }
    results = {}
    for name, (sender, recipient, helo) in probes.items():
        kwargs = {"helo": helo} if helo else {}
        results[name] = transaction(mail.smtp_port, sender, recipient, **kwargs)
    accepted = {name: r for name, r in results.items() if not 500 <= r[0] < 600}
    assert not accepted, accepted

    # The same probes with DATA: nothing may reach the outside.
    for name, (sender, recipient, helo) in probes.items():
        with smtp_session(mail.smtp_port, helo or "client.example.net") as client:
            client.mail(sender)
            client.rcpt(recipient)
            code, text = client.docmd("DATA")
            if code == 354:
                code, text = client.data(b"Subject: relay probe\r\n\r\nprobe\r\n")
            assert code >= 500, (name, code, text)
    time.sleep(2)
    assert len(mail.sink.messages) == before


def test_mail_from_an_identity_at_another_provider_comes_in(mail):
    # Alice may send as her address elsewhere, but port 25 refuses strangers
    # only the addresses of hosted domains: that provider's mail for it
    # (her own message to herself, say) must still arrive.
    alice = data.mailbox(data.domain("hosted.test"), "alice")
    data.identity(alice, STRANGER)
    code, text = transaction(mail.smtp_port, STRANGER, "alice@hosted.test")
    assert code == 250, text
    data.identity(alice, "ceo@hosted.test")
    code, text = transaction(mail.smtp_port, "ceo@hosted.test", "alice@hosted.test")
    assert 500 <= code < 600, text
    assert "Log in to send as this address" in text


def test_port_25_offers_no_login(mail):
    with smtp_session(mail.smtp_port) as client:
        assert not client.has_extn("auth")
        client.starttls(context=no_verify_context())
        client.ehlo()
        assert not client.has_extn("auth")


def _loopback_alias_available() -> bool:
    try:
        with socket.create_connection(
            ("127.0.0.1", 9), timeout=1, source_address=("127.0.0.2", 0)
        ):
            pass
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return True


def test_dovecot_refuses_plaintext_login_without_tls(mail):
    data.mailbox(data.domain("hosted.test"), "alice")
    if not _loopback_alias_available():
        unavailable("cannot connect from 127.0.0.2 on this machine")
    # 127.0.0.2 is not covered by MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK.
    client = IMAP4FromAddress("127.0.0.1", mail.imap_port, "127.0.0.2")
    try:
        assert "LOGINDISABLED" in client.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="(?i)plaintext|TLS|disabled"):
            client.login("alice@hosted.test", data.PASSWORD)
    finally:
        client.shutdown()
    client = IMAP4FromAddress("127.0.0.1", mail.imap_port, "127.0.0.2")
    client.starttls(ssl_context=no_verify_context())
    client.login("alice@hosted.test", data.PASSWORD)
    client.logout()
    secure = imaplib.IMAP4_SSL(
        "127.0.0.1", mail.imaps_port, ssl_context=no_verify_context()
    )
    secure.login("alice@hosted.test", data.PASSWORD)
    secure.logout()
    # The documented test setting: plaintext on 127.0.0.1 itself is allowed.
    imap_login(mail.imap_port, "alice@hosted.test", data.PASSWORD).logout()
