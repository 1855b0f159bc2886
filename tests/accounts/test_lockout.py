"""Login lockouts: the admin and the portal count apart, by name and address.

Issue 22: five wrong portal logins with the name "admin", from anywhere,
locked the superuser out of /admin/. Now each login counts failures per name
and client address (AXES_FAILURE_LIMIT), and per client address alone with a
higher limit (MAILPANEL_LOGIN_IP_FAILURE_LIMIT), separately for the admin
and for the portal.
"""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from accounts.owners import MAILBOX_SESSION_KEY
from tests.accounts.conftest import ADDRESS, log_in, post_form

pytestmark = pytest.mark.django_db

ADMIN_PASSWORD = "admin-pass-123"  # noqa: S105
WRONG = "not-the-password"  # noqa: S105
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.org", ADMIN_PASSWORD)


def client_at(ip: str) -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=ip)


def admin_login(client: Client, username: str = "admin", password: str = WRONG):
    return post_form(
        client, "/admin/login/", {"username": username, "password": password}
    )


def logged_in_to_admin(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_it_still_stops_five_wrong_admin_passwords_from_one_address(
    superuser, settings
):
    attacker = client_at(ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert admin_login(attacker).status_code == 200

    last_failure = admin_login(attacker)
    right_password = admin_login(attacker, password=ADMIN_PASSWORD)

    assert last_failure.status_code == 429
    assert right_password.status_code == 429
    assert not logged_in_to_admin(attacker)


def test_a_stranger_cannot_lock_the_admin_out(superuser, settings):
    attacker = client_at(ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        admin_login(attacker)

    owner = client_at(OWNER)
    response = admin_login(owner, password=ADMIN_PASSWORD)

    assert response.status_code == 302
    assert logged_in_to_admin(owner)


def test_portal_failures_do_not_count_against_the_admin(superuser, settings):
    """Not even from the administrator's own address."""
    client = client_at(OWNER)
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        log_in(client, address="admin", password="x")
    assert log_in(client, address="admin", password="x").status_code == 429

    response = admin_login(client, password=ADMIN_PASSWORD)

    assert response.status_code == 302
    assert logged_in_to_admin(client)


def test_admin_failures_do_not_count_against_the_portal(mailbox, settings):
    client = client_at(OWNER)
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        admin_login(client, username=ADDRESS)

    response = log_in(client)

    assert response.status_code == 302
    assert client.session[MAILBOX_SESSION_KEY] == mailbox.pk


def test_a_stranger_cannot_lock_an_owner_out_of_the_portal(mailbox, settings):
    attacker = client_at(ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, password="wrong password")
    assert log_in(attacker).status_code == 429

    owner = client_at(OWNER)
    response = log_in(owner)

    assert response.status_code == 302
    assert owner.session[MAILBOX_SESSION_KEY] == mailbox.pk


def test_one_address_trying_many_names_is_stopped(superuser, mailbox, settings):
    settings.MAILPANEL_LOGIN_IP_FAILURE_LIMIT = 8
    assert settings.AXES_FAILURE_LIMIT < 8
    attacker = client_at(ATTACKER)
    for i in range(7):
        # Under the limit per name: only the address's own count stops it.
        assert admin_login(attacker, username=f"user{i}").status_code == 200

    last_failure = admin_login(attacker, username="user7")
    locked = admin_login(attacker, password=ADMIN_PASSWORD)
    elsewhere = admin_login(client_at(OWNER), password=ADMIN_PASSWORD)

    assert last_failure.status_code == 429
    assert locked.status_code == 429
    assert not logged_in_to_admin(attacker)
    assert elsewhere.status_code == 302


def test_the_portal_has_its_own_limit_per_address(mailbox, settings):
    settings.MAILPANEL_LOGIN_IP_FAILURE_LIMIT = 8
    attacker = client_at(ATTACKER)
    for i in range(8):
        log_in(attacker, address=f"guess{i}@example.org", password="x")

    assert log_in(attacker).status_code == 429
    assert log_in(client_at(OWNER)).status_code == 302


def test_the_address_limit_is_higher_than_the_name_limit(settings):
    assert settings.MAILPANEL_LOGIN_IP_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT


def test_operators_unlock_by_the_name_they_know(superuser, mailbox, settings):
    attacker = client_at(ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        admin_login(attacker)
        log_in(attacker, password="wrong password")
    assert AccessAttempt.objects.count() == 2

    call_command("axes_reset_username", "admin", ADDRESS, stdout=None)

    assert not AccessAttempt.objects.exists()
    assert admin_login(attacker, password=ADMIN_PASSWORD).status_code == 302
