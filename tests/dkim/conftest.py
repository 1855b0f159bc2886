"""Fixtures for the DKIM tests: an encryption key and a hosted domain."""

from __future__ import annotations

import pytest

from domains.models import Domain

# A fixed test key: never a real one.
TEST_KEY = "k3Vq8rTz0bYw5nLc2HfJ7dXs9mAe4pGu1iQo6yNhWvE="


@pytest.fixture(autouse=True)
def encryption_key(settings):
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    return TEST_KEY


@pytest.fixture
def domain(db) -> Domain:
    return Domain.objects.create(name="example.org")


@pytest.fixture
def other_domain(db) -> Domain:
    return Domain.objects.create(name="example.net")


@pytest.fixture(scope="session")
def dns_server():
    from tests.monitoring.dns_server import DnsTestServer

    server = DnsTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server, settings):
    """The loopback DNS server, emptied, as the resolver every check asks."""
    dns_server.reset()
    settings.MAILPANEL_DNS_RESOLVER = dns_server.address
    settings.MAILPANEL_DNS_TIMEOUT = 0.5
    yield dns_server
    dns_server.reset()


def publish(dns, key, record: str | None = None) -> None:
    """Serve ``key``'s record (or ``record``), split as a zone file would."""
    text = record if record is not None else key.dns_record
    strings = " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
    dns.add(key.record_name, "TXT", strings)
