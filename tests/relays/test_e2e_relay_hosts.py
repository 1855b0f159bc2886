"""End-to-end: mail leaves through the provider's relay with a login, or
directly, as the routes in the database say; a wrong login keeps it queued.

"Directly" (default_transport) ends in the session's sink, the relay's
deliveries in the provider's own sink, so each message says which way it went.
Mail is handed to the session's Postfix with sendmail(1), like a local program.
"""

import json
import subprocess

import pytest
from django.test import override_settings

from dkim.services import dkim_key_activate, dkim_key_generate
from domains.models import DomainAlias
from mailserver.services import mailserver_apply
from relays.models import DomainRelay, RelayHost, SenderRelay
from relays.tasks import relay_credentials_write_task
from tests.mailserver import data
from tests.mailserver.dkim_verify import signatures, txt_record
from tests.mailserver.support import make_message, poll, unique_subject
from tests.monitoring.dns_server import DnsTestServer
from tests.relays.conftest import make_relay
from tests.relays.provider import RELAY_HOST, USERS

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

FAR = "someone@far.test"  # neither hosted nor in transport_maps
(USER, PASSWORD), (OTHER, OTHER_PASSWORD) = USERS.items()


def submit(mail, sender: str, subject: str) -> None:
    message = make_message(sender, [FAR], subject)
    subprocess.run(
        ["sendmail", "-C", str(mail.workdir / "postfix"), "-f", sender, "-oi", FAR],
        input=message.as_bytes(),
        check=True,
        timeout=30,
    )


def authenticated_as(sink_message) -> str:
    received = " ".join(sink_message.message.get_all("Received", []))
    marker = "(Authenticated sender: "
    assert marker in received, received
    return received.split(marker, 1)[1].split(")", 1)[0]


def queued(mail) -> list[dict]:
    result = subprocess.run(
        ["postqueue", "-c", str(mail.workdir / "postfix"), "-j"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def starttls_relay(provider, **fields) -> RelayHost:
    return make_relay(
        **{
            "name": "provider 587",
            "host": RELAY_HOST,
            "port": provider.starttls_port,
            "username": USER,
            "password": PASSWORD,
            **fields,
        }
    )


def test_it_relays_a_domains_mail_with_a_login_and_sends_the_rest_direct(
    relay_mail, provider
):
    relayed = data.domain("relayed.test")
    data.domain("direct.test")
    DomainRelay.objects.create(domain=relayed, relay=starttls_relay(provider))
    relay_credentials_write_task()
    via_relay, direct = unique_subject("via relay"), unique_subject("direct")

    submit(relay_mail, "alice@relayed.test", via_relay)
    submit(relay_mail, "bob@direct.test", direct)

    (message,) = provider.sink.wait_for(via_relay)
    assert authenticated_as(message) == USER
    assert message.rcpt_tos == [FAR]
    relay_mail.sink.wait_for(direct)
    assert not relay_mail.sink.received(via_relay)
    assert not provider.sink.received(direct)
    assert f"sasl_username={USER}" in provider.log()
    log = (relay_mail.workdir / "postfix.log").read_text()
    assert "Verified TLS connection established to localhost[127.0.0.1]" in log


def test_it_lets_a_sender_override_its_domain_and_a_default_cover_the_rest(
    relay_mail, provider
):
    relayed = data.domain("relayed.test")
    data.domain("direct.test")
    DomainAlias.objects.create(name="alias.test", target=relayed)
    domain_relay = starttls_relay(provider)
    implicit_tls = make_relay(
        name="provider 465",
        host=RELAY_HOST,
        port=provider.tls_port,
        security=RelayHost.Security.IMPLICIT_TLS,
        username=OTHER,
        password=OTHER_PASSWORD,
        is_default=True,
    )
    DomainRelay.objects.create(domain=relayed, relay=domain_relay)
    SenderRelay.objects.create(address="carol@relayed.test", relay=implicit_tls)
    relay_credentials_write_task()
    senders = {
        "carol@relayed.test": OTHER,  # her own relay, over port "465"
        "alice@relayed.test": USER,  # the domain's
        "dave@alias.test": USER,  # an alias domain follows its domain
        "bob@direct.test": OTHER,  # the default relay
    }
    subjects = {sender: unique_subject(sender) for sender in senders}
    for sender, subject in subjects.items():
        submit(relay_mail, sender, subject)

    for sender, subject in subjects.items():
        (message,) = provider.sink.wait_for(subject)
        assert authenticated_as(message) == senders[sender], sender
        assert not relay_mail.sink.received(subject)
    log = (relay_mail.workdir / "postfix.log").read_text()
    assert f"relay=localhost[127.0.0.1]:{provider.tls_port}" in log
    assert "postfix/relay-smtps" in log


def test_it_keeps_mail_queued_on_a_wrong_login_until_the_relay_is_fixed(
    relay_mail, provider
):
    relayed = data.domain("relayed.test")
    relay = starttls_relay(provider, password="Wrong-Pass-9")
    DomainRelay.objects.create(domain=relayed, relay=relay)
    relay_credentials_write_task()
    subject = unique_subject("wrong login")

    submit(relay_mail, "alice@relayed.test", subject)

    def deferred_reason():
        for entry in queued(relay_mail):
            if entry["queue_name"] == "deferred":
                return entry["recipients"][0].get("delay_reason")
        return None

    reason = poll(deferred_reason)
    assert reason and "SASL authentication failed" in reason, (
        reason,
        relay_mail.postqueue(),
    )
    assert "535" in reason
    assert not provider.sink.received(subject)
    assert not relay_mail.sink.received(subject)  # neither sent direct nor bounced

    # Fixing the password is all it takes: the worker rewrites the table and
    # Postfix's next retry logs in.
    relay.set_password(PASSWORD)
    relay.save()
    relay_credentials_write_task()
    (message,) = provider.sink.wait_for(subject)
    assert authenticated_as(message) == USER
    assert "Wrong-Pass-9" not in (relay_mail.workdir / "postfix.log").read_text()


def test_it_signs_what_it_relays(relay_mail, provider):
    """Signing happens as the message is accepted, before it is routed."""
    relayed = data.domain("relayed.test")
    DomainRelay.objects.create(domain=relayed, relay=starttls_relay(provider))
    relay_credentials_write_task()
    dns = DnsTestServer().start()
    subject = unique_subject("signed via relay")
    # A throw-away Fernet key for the keys at rest.
    secret = "k3Vq8rTz0bYw5nLc2HfJ7dXs9mAe4pGu1iQo6yNhWvE="
    try:
        with override_settings(MAILPANEL_SECRET_ENCRYPTION_KEY=secret):
            for key in dkim_key_generate(domain=relayed):
                key = dkim_key_activate(key=key, force=True)
                dns.add(f"{key.record_name}.", "TXT", txt_record(key.dns_record))
            mailserver_apply(relay_mail.config)

        submit(relay_mail, "alice@relayed.test", subject)

        (message,) = provider.sink.wait_for(subject)
        found = signatures(message.raw, dns.port)
        assert sorted(s.algorithm for s in found) == ["ed25519-sha256", "rsa-sha256"]
        assert all(s.domain == "relayed.test" and s.valid for s in found), found
    finally:
        dns.stop()
        mailserver_apply(relay_mail.config, keys=[])
