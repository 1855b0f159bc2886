"""End-to-end: DKIM signing by rspamd as Postfix's milter (issue 15, item 1).

The session's Postfix, Dovecot and rspamd (tests/conftest.py); the keys are
the panel's own (``dkim.services``), activated by force, published in the
loopback test DNS server, and verified at the sink with dkimpy, as a
receiver would. Each test applies its keys (``mailserver_apply``: rspamd is
reloaded and uses them when it returns) and takes them away afterwards.
"""

from __future__ import annotations

import smtplib
import subprocess
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.services import vacation_set, vacation_sync
from dkim.services import dkim_key_activate, dkim_key_generate, signing_keys
from mailserver.render.rspamd import rspamd_private_key
from mailserver.services import mailserver_apply
from tests.conftest import E2E_HOSTNAME, SINK_DOMAIN
from tests.mailserver import data
from tests.mailserver.dkim_verify import Signature, signatures, txt_record
from tests.mailserver.support import (
    imap_wait_for,
    make_message,
    poll,
    send,
    submission,
    unique_subject,
)
from tests.monitoring.dns_server import DnsTestServer

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

# A fixed Fernet key for the keys at rest in the test database; never a real one.
ENCRYPTION_KEY = "k3Vq8rTz0bYw5nLc2HfJ7dXs9mAe4pGu1iQo6yNhWvE="
# Not the other tests' someone@: the session's sink is shared, and they count
# what reaches their sender.
OUTSIDER = f"stranger@{SINK_DOMAIN}"


@pytest.fixture(scope="module")
def dns_server():
    server = DnsTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def signer(mail, dns_server):
    """``signer(domain, ...)``: RSA and Ed25519 keys for each domain, active,
    published in the test DNS and applied on the mail host."""
    dns_server.reset()
    with override_settings(MAILPANEL_SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY):

        def sign_for(*domains) -> list:
            created = []
            for domain in domains:
                for key in dkim_key_generate(domain=domain):
                    key = dkim_key_activate(key=key, force=True)
                    dns_server.add(
                        f"{key.record_name}.", "TXT", txt_record(key.dns_record)
                    )
                    created.append(key)
            mailserver_apply(mail.config)
            return created

        try:
            yield sign_for
        finally:
            # The rows go with the test; the next test must not sign with them.
            mailserver_apply(mail.config, keys=[])


def verified(mail, dns_server, raw: bytes) -> list[Signature]:
    found = signatures(raw, dns_server.port)
    assert found, f"no DKIM-Signature\n{raw.decode(errors='replace')[:2000]}"
    return found


def assert_signed_by(found: list[Signature], domain: str, keys) -> None:
    selectors = {k.selector: k.algorithm for k in keys if k.domain.name == domain}
    assert sorted((s.domain, s.selector, s.algorithm) for s in found) == sorted(
        (domain, selector, f"{algorithm}-sha256")
        for selector, algorithm in selectors.items()
    )
    assert all(s.valid for s in found), found


def _setup():
    hosted = data.domain("hosted.test")
    alice = data.mailbox(hosted, "alice")
    other = data.domain("other.test")
    data.mailbox(other, "ceo")
    data.identity(alice, "ceo@other.test")
    return hosted, alice, other


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587", "465"])
def test_it_signs_submission_with_rsa_and_ed25519(
    mail, dns_server, signer, implicit_tls
):
    hosted, _, _ = _setup()
    keys = signer(hosted)
    subject = unique_subject("signed")
    rcpts = [f"friend@{SINK_DOMAIN}"]

    with submission(mail, implicit_tls, "alice@hosted.test", data.PASSWORD) as c:
        c.send_message(
            make_message("alice@hosted.test", rcpts, subject),
            "alice@hosted.test",
            rcpts,
        )

    [received] = mail.sink.wait_for(subject)
    assert_signed_by(verified(mail, dns_server, received.raw), "hosted.test", keys)


def test_it_signs_a_send_as_identity_with_its_own_domain(mail, dns_server, signer):
    hosted, _, other = _setup()
    keys = signer(hosted, other)
    subject = unique_subject("identity")
    rcpts = [f"friend@{SINK_DOMAIN}"]

    with submission(mail, False, "alice@hosted.test", data.PASSWORD) as client:
        client.send_message(
            make_message("ceo@other.test", rcpts, subject), "ceo@other.test", rcpts
        )

    [received] = mail.sink.wait_for(subject)
    assert_signed_by(verified(mail, dns_server, received.raw), "other.test", keys)


def test_it_never_signs_a_from_the_envelope_sender_does_not_own(mail, signer):
    hosted, _, other = _setup()
    data.domain_alias("alias.test", hosted)
    signer(hosted, other)
    rcpts = [f"friend@{SINK_DOMAIN}"]
    mismatch, null = unique_subject("mismatch"), unique_subject("null sender")
    aliased = unique_subject("alias domain")

    with submission(mail, False, "alice@hosted.test", data.PASSWORD) as client:
        # Another hosted domain's From: over alice's own envelope sender ...
        client.send_message(
            make_message("ceo@other.test", rcpts, mismatch), "alice@hosted.test", rcpts
        )
        # ... or over the null sender, which Postfix checks no owner for.
        client.send_message(make_message("ceo@other.test", rcpts, null), "<>", rcpts)
        # An alias domain has no keys of its own (docs/dkim.md).
        client.send_message(
            make_message("alice@alias.test", rcpts, aliased), "alice@alias.test", rcpts
        )

    for subject in (mismatch, null, aliased):
        [received] = mail.sink.wait_for(subject)
        assert received.message.get_all("DKIM-Signature") is None, subject


def test_it_signs_an_out_of_office_reply(mail, dns_server, signer):
    hosted, _, _ = _setup()
    bob = data.mailbox(hosted, "bob")
    keys = signer(hosted)
    away = unique_subject("Away")
    today = timezone.localdate()
    vacation_set(
        mailbox=bob,
        ip_address=None,
        enabled=True,
        subject=away,
        message="Back on Monday.",
        start=today - timedelta(days=1),
        end=today + timedelta(days=1),
        reply_days=1,
    )
    vacation_sync(mailbox=bob, vmail_root=mail.vmail_root)
    inbound = unique_subject("inbound")

    send(mail.smtp_port, OUTSIDER, [bob.address], inbound)

    # Port 25 calls no milter: what comes in is not signed by us.
    delivered = imap_wait_for(mail.imap_port, bob.address, data.PASSWORD, inbound)
    assert delivered.get_all("DKIM-Signature") is None
    [reply] = mail.sink.wait_for(away)
    assert reply.rcpt_tos == [OUTSIDER]
    assert reply.mail_from in ("", "<>")
    assert_signed_by(verified(mail, dns_server, reply.raw), "hosted.test", keys)


def test_it_signs_a_bounce_with_the_host_names_domain(mail, dns_server, signer):
    hosted, _, _ = _setup()
    # The server is mail.mailpanel.test: its bounces come from
    # MAILER-DAEMON@mail.mailpanel.test and align with mailpanel.test.
    parent = data.domain(E2E_HOSTNAME.split(".", 1)[1])
    refused = f"refused@{SINK_DOMAIN}"
    data.alias(hosted, "gone", refused)
    keys = signer(parent)
    mail.sink.refused.add(refused)
    subject = unique_subject("bounced")
    try:
        send(mail.smtp_port, OUTSIDER, ["gone@hosted.test"], subject)

        bounce = poll(
            lambda: [
                m
                for m in mail.sink.messages
                if m.rcpt_tos == [OUTSIDER]
                and subject in m.raw.decode(errors="replace")
                and m.message["Subject"] != subject
            ]
        )
    finally:
        mail.sink.refused.discard(refused)
    assert bounce, mail.logs()
    [dsn] = bounce
    assert dsn.mail_from in ("", "<>")
    assert f"MAILER-DAEMON@{E2E_HOSTNAME}" in dsn.message["From"]
    assert_signed_by(verified(mail, dns_server, dsn.raw), parent.name, keys)


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587", "465"])
def test_it_defers_submission_while_the_signer_is_down(
    mail, dns_server, signer, implicit_tls
):
    hosted, _, _ = _setup()
    data.mailbox(hosted, "bob")
    keys = signer(hosted)
    subject = unique_subject("retried")
    rcpts = [f"friend@{SINK_DOMAIN}"]
    message = make_message("alice@hosted.test", rcpts, subject)

    mail.stop_rspamd()
    try:
        # Postfix cannot reach its milter: a 4xx, at whichever command.
        with (
            pytest.raises(smtplib.SMTPResponseException) as deferred,
            submission(mail, implicit_tls, "alice@hosted.test", data.PASSWORD) as c,
        ):
            c.send_message(message, "alice@hosted.test", rcpts)
        assert 400 <= deferred.value.smtp_code < 500, deferred.value
        # Port 25 keeps accepting: inbound mail needs no signature.
        inbound = unique_subject("inbound while down")
        send(mail.smtp_port, OUTSIDER, ["bob@hosted.test"], inbound)
        imap_wait_for(mail.imap_port, "bob@hosted.test", data.PASSWORD, inbound)
        assert "Mail queue is empty" in mail.postqueue()
        assert mail.sink.received(subject) == []
    finally:
        mail.start_rspamd()

    # The client retries; now it leaves, signed.
    with submission(mail, implicit_tls, "alice@hosted.test", data.PASSWORD) as c:
        c.send_message(message, "alice@hosted.test", rcpts)
    [received] = mail.sink.wait_for(subject)
    assert_signed_by(verified(mail, dns_server, received.raw), "hosted.test", keys)


def refusals(log: str) -> str:
    return "".join(line for line in log.splitlines(True) if "milter-reject" in line)


def test_it_keeps_sendmail_mail_queued_while_the_signer_is_down(
    mail, dns_server, signer
):
    hosted, _, _ = _setup()
    keys = signer(hosted)
    subject = unique_subject("sendmail")
    message = make_message("alice@hosted.test", [f"friend@{SINK_DOMAIN}"], subject)
    postfix_dir = str(mail.workdir / "postfix")
    sendmail = ["sendmail", "-C", postfix_dir, "-f", "alice@hosted.test"]

    log = mail.workdir / "postfix.log"
    seen = len(log.read_text())
    mail.stop_rspamd()
    try:
        subprocess.run(
            [*sendmail, f"friend@{SINK_DOMAIN}"], input=message.as_bytes(), check=True
        )
        # pickup hands it to cleanup, whose milter is down: back to the maildrop.
        assert poll(lambda: "cleanup" in refusals(log.read_text()[seen:]))
        assert "alice@hosted.test" in mail.postqueue()
        assert mail.sink.received(subject) == []
    finally:
        mail.start_rspamd()

    subprocess.run(["postkick", "-c", postfix_dir, "public", "pickup", "W"], check=True)
    [received] = mail.sink.wait_for(subject)
    assert_signed_by(verified(mail, dns_server, received.raw), "hosted.test", keys)


def test_it_never_writes_a_private_key_to_a_log(mail, signer):
    hosted, _, other = _setup()
    signer(hosted, other)
    subject = unique_subject("logged")
    rcpts = [f"friend@{SINK_DOMAIN}"]
    with submission(mail, False, "alice@hosted.test", data.PASSWORD) as client:
        client.send_message(
            make_message("alice@hosted.test", rcpts, subject),
            "alice@hosted.test",
            rcpts,
        )
    mail.sink.wait_for(subject)

    with override_settings(MAILPANEL_SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY):
        secrets = set()
        for key in signing_keys():
            body = [
                line
                for line in key.private_pem.splitlines()
                if line and not line.startswith("-----")
            ]
            secrets.update(body)
            secrets.add(rspamd_private_key(key).strip())
    assert len(secrets) > 4
    logs = {
        path.name: path.read_text(errors="replace")
        for path in mail.workdir.glob("*.log")
    }
    assert {"postfix.log", "dovecot.log", "rspamd.log"} <= logs.keys()
    assert "DKIM_SIGNED" in logs["rspamd.log"]  # it did log the signing
    leaked = [
        (name, secret[:8])
        for name, text in logs.items()
        for secret in secrets
        if secret in text
    ]
    assert leaked == []
