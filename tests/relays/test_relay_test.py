"""Test this relay: TLS and login against the provider's relay, no mail sent.

The worker's task is called as a plain function; each failure names its step.
"""

import pytest

from relays.models import RelayHost
from relays.tasks import relay_test_task
from tests.mailserver.support import free_port, poll
from tests.relays.conftest import make_relay
from tests.relays.provider import RELAY_HOST, USERS

pytestmark = [pytest.mark.mailserver, pytest.mark.django_db]

USER, PASSWORD = next(iter(USERS.items()))


@pytest.fixture
def trusted(settings, provider):
    settings.MAILPANEL_RELAY_TLS_CA_FILE = str(provider.ca_file)
    settings.MAILPANEL_RELAY_TEST_TIMEOUT = 5
    return provider


def relay(port: int, security=RelayHost.Security.STARTTLS, **fields) -> RelayHost:
    defaults = {"username": USER, "password": PASSWORD, "name": f"r{port}"}
    return make_relay(
        host=RELAY_HOST, port=port, security=security, **{**defaults, **fields}
    )


def after_test(relay_host: RelayHost) -> RelayHost:
    relay_test_task(relay_host.pk)
    relay_host.refresh_from_db()
    return relay_host


def test_it_logs_in_with_starttls_and_sends_nothing(trusted):
    before = len(trusted.sink.messages)
    result = after_test(relay(trusted.starttls_port))
    assert result.last_test_ok is True, result.last_test_result
    assert "TLS verified, logged in" in result.last_test_result
    assert result.last_test_at is not None
    assert len(trusted.sink.messages) == before
    # Logged in and left: no MAIL command ever reached the relay. (Postfix's
    # postlogd writes the disconnect line a moment after the client is gone.)
    summary = "starttls=1 auth=1 quit=1 commands=5"
    assert poll(lambda: summary in trusted.log(), timeout=10), trusted.log()


def test_it_logs_in_with_implicit_tls(trusted):
    result = after_test(relay(trusted.tls_port, RelayHost.Security.IMPLICIT_TLS))
    assert result.last_test_ok is True, result.last_test_result


def test_it_reports_a_refused_connection(trusted):
    result = after_test(relay(free_port()))
    assert result.last_test_ok is False
    assert result.last_test_result.startswith("connection refused by localhost:")


def test_it_reports_a_certificate_it_cannot_verify(trusted, settings):
    # The system's CAs do not know the test CA.
    settings.MAILPANEL_RELAY_TLS_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
    result = after_test(relay(trusted.starttls_port))
    assert result.last_test_ok is False
    assert result.last_test_result.startswith("TLS failure: the certificate of")
    assert "not trusted" in result.last_test_result


def test_it_reports_the_wrong_kind_of_tls(trusted):
    result = after_test(relay(trusted.starttls_port, RelayHost.Security.IMPLICIT_TLS))
    assert result.last_test_ok is False
    assert result.last_test_result.startswith("TLS failure")


def test_it_reports_failed_authentication_without_the_password(trusted, caplog):
    caplog.set_level("DEBUG")
    result = after_test(relay(trusted.starttls_port, password="Wrong-Pass-9"))
    assert result.last_test_ok is False
    assert result.last_test_result.startswith("authentication failed:")
    assert "535" in result.last_test_result
    assert "Wrong-Pass-9" not in result.last_test_result
    assert "Wrong-Pass-9" not in caplog.text


def test_it_returns_nothing_for_a_deleted_relay(trusted):
    assert relay_test_task(987654) is None
