"""The recovery address: where reset links go, set with the current password."""

import pytest

from accounts.models import AuditEvent, RecoveryAddress
from domains.models import Mailbox
from tests.accounts.conftest import post_form
from tests.domains.utils import PASSWORD

pytestmark = pytest.mark.django_db

URL = "/account/recovery/"


def set_recovery(client, address: str, password: str = PASSWORD):
    return post_form(client, URL, {"address": address, "current_password": password})


def test_it_sets_the_recovery_address(owner, mailbox):
    response = set_recovery(owner, "Me@Example.NET")

    assert response.status_code == 302
    assert RecoveryAddress.objects.get(mailbox=mailbox).address == "me@example.net"
    event = AuditEvent.objects.get(action="recovery_changed")
    assert event.detail == {"address": "me@example.net"}


def test_it_removes_it_when_emptied(owner, mailbox):
    set_recovery(owner, "me@example.net")

    set_recovery(owner, "")

    assert not RecoveryAddress.objects.exists()


def test_it_shows_the_current_one(owner, mailbox):
    set_recovery(owner, "me@example.net")

    assert 'value="me@example.net"' in owner.get(URL).text


@pytest.mark.parametrize(
    ("address", "password", "message"),
    [
        ("me@example.net", "wrong", "Your current password is not correct."),
        ("me@example.net", "", "This field is required."),
        ("not an address", PASSWORD, "is not a mail address"),
        ("alice@example.org", PASSWORD, "choose an address somewhere else"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(
    owner, mailbox, address, password, message
):
    set_recovery(owner, "kept@example.net")

    response = set_recovery(owner, address, password)

    assert response.status_code == 200
    assert message in response.text
    assert RecoveryAddress.objects.get().address == "kept@example.net"
    assert AuditEvent.objects.filter(action="recovery_changed").count() == 1


def test_it_keeps_the_session_when_the_current_password_is_rehashed(
    owner, mailbox, settings
):
    """check_password() upgrades a hash after a settings change mid-session."""
    settings.MAILPANEL_PASSWORD_SCHEME = "BLF-CRYPT"

    response = set_recovery(owner, "me@example.net")

    assert response.status_code == 302
    assert Mailbox.objects.get(pk=mailbox.pk).password.startswith("{BLF-CRYPT}")
    assert owner.get("/account/").status_code == 200
