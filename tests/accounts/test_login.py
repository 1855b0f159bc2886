"""The owners' login: address and mailbox password, rate limited by Axes."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY as DJANGO_USER_SESSION_KEY

from accounts.models import AuditEvent
from accounts.owners import HASH_SESSION_KEY, MAILBOX_SESSION_KEY
from domains import passwords
from domains.models import Mailbox
from tests.accounts.conftest import ADDRESS, csrf_token, log_in, post_form
from tests.domains.utils import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_logs_in_with_the_mailbox_password(browser, mailbox):
    response = log_in(browser)

    assert response.status_code == 302
    assert response.url == "/account/"
    assert browser.session[MAILBOX_SESSION_KEY] == mailbox.pk
    assert browser.get("/account/").status_code == 200


def test_it_accepts_the_address_in_any_case(browser, mailbox):
    response = log_in(browser, address="  Alice@EXAMPLE.org ")

    assert response.status_code == 302
    assert browser.session[MAILBOX_SESSION_KEY] == mailbox.pk


def test_it_never_makes_the_owner_a_django_user(browser, mailbox):
    log_in(browser)

    assert DJANGO_USER_SESSION_KEY not in browser.session
    response = browser.get("/account/")
    assert not response.wsgi_request.user.is_authenticated


def test_it_refuses_a_wrong_password(browser, mailbox):
    response = log_in(browser, password="not the password")

    assert response.status_code == 200
    assert "do not match an active mailbox" in response.text
    assert MAILBOX_SESSION_KEY not in browser.session


def test_it_says_the_same_for_an_unknown_address(browser, mailbox):
    response = log_in(browser, address="nobody@example.org")

    assert "do not match an active mailbox" in response.text
    assert MAILBOX_SESSION_KEY not in browser.session


@pytest.mark.parametrize(
    ("mailbox_active", "domain_active"), [(False, True), (True, False)]
)
def test_it_refuses_a_mailbox_dovecot_would_refuse(
    browser, mailbox, mailbox_active, domain_active
):
    mailbox.active = mailbox_active
    mailbox.save()
    mailbox.domain.active = domain_active
    mailbox.domain.save()

    response = log_in(browser)

    assert response.status_code == 200
    assert MAILBOX_SESSION_KEY not in browser.session


def test_it_refuses_a_post_without_csrf_token(browser, mailbox):
    response = browser.post(
        "/account/login/", {"username": ADDRESS, "password": PASSWORD}
    )

    assert response.status_code == 403
    assert MAILBOX_SESSION_KEY not in browser.session


def test_it_cycles_the_session_key(browser, mailbox):
    """A session id planted before the login is worthless after it."""
    planted = browser.session
    planted["planted"] = True
    planted.save()
    token = csrf_token(browser, "/account/login/")
    csrf_cookie = browser.cookies["csrftoken"].value

    browser.post(
        "/account/login/",
        {"username": ADDRESS, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )

    assert browser.cookies["sessionid"].value != planted.session_key
    assert not planted.exists(planted.session_key)
    assert browser.cookies["csrftoken"].value != csrf_cookie


def test_it_keeps_the_session_key_of_an_admin_out(admin_client, mailbox):
    """An admin session in the same browser is emptied, not inherited."""
    admin_client.post("/account/login/", {"username": ADDRESS, "password": PASSWORD})

    assert admin_client.session[MAILBOX_SESSION_KEY] == mailbox.pk
    assert DJANGO_USER_SESSION_KEY not in admin_client.session
    assert admin_client.get("/admin/").status_code == 302


def test_it_upgrades_an_old_hash_scheme(browser, mailbox):
    legacy = passwords.hash_password(PASSWORD, scheme="BLF-CRYPT")
    Mailbox.objects.filter(pk=mailbox.pk).update(password=legacy)

    log_in(browser)

    stored = Mailbox.objects.get(pk=mailbox.pk).password
    assert stored.startswith("{ARGON2ID}")
    assert browser.get("/account/").status_code == 200


def test_it_records_the_login(browser, mailbox):
    log_in(browser)

    event = AuditEvent.objects.get()
    assert (event.action, event.address, event.ip_address) == (
        "login",
        ADDRESS,
        "127.0.0.1",
    )


def test_it_redirects_to_a_local_next_url(browser, mailbox):
    response = post_form(
        browser,
        "/account/login/?next=/account/forwarding/",
        {"username": ADDRESS, "password": PASSWORD, "next": "/account/forwarding/"},
    )

    assert response.url == "/account/forwarding/"


def test_it_ignores_a_next_url_elsewhere(browser, mailbox):
    response = post_form(
        browser,
        "/account/login/",
        {"username": ADDRESS, "password": PASSWORD, "next": "https://evil.example/"},
    )

    assert response.url == "/account/"


def test_it_locks_out_after_five_failures(browser, mailbox, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(browser, password="wrong password").status_code == 200

    last_failure = log_in(browser, password="wrong password")
    right_password = log_in(browser)

    assert last_failure.status_code == 429
    assert right_password.status_code == 429
    assert "Too many wrong passwords" in right_password.text
    assert "Try again in 15 minutes." in right_password.text
    assert MAILBOX_SESSION_KEY not in browser.session


def test_it_never_stores_the_password_with_a_failure(browser, mailbox):
    log_in(browser, password="a-guessed-Secret-42")

    attempt = AccessAttempt.objects.get()
    assert attempt.username == f"portal:{ADDRESS}"
    assert "a-guessed-Secret-42" not in attempt.post_data


def test_it_logs_no_password(browser, mailbox, caplog):
    caplog.set_level("DEBUG")

    log_in(browser, password="a-guessed-Secret-42")
    log_in(browser)

    assert "a-guessed-Secret-42" not in caplog.text
    assert PASSWORD not in caplog.text


def test_it_sets_secure_http_only_cookies_outside_debug(browser, mailbox, settings):
    assert not settings.DEBUG

    response = log_in(browser)

    cookie = response.cookies["sessionid"]
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.MAILPANEL_PORTAL_SESSION_AGE


def test_it_logs_out_on_post_only(owner):
    assert owner.get("/account/logout/").status_code == 405

    token = owner.cookies["csrftoken"].value
    response = owner.post("/account/logout/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert MAILBOX_SESSION_KEY not in owner.session
    assert HASH_SESSION_KEY not in owner.session
    assert owner.get("/account/").status_code == 302
    assert AuditEvent.objects.filter(action="logout").count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": ADDRESS, "password": ""}, "password"),
    ],
)
def test_it_rejects_empty_fields_without_counting_a_failure(
    browser, mailbox, data, field
):
    response = post_form(browser, "/account/login/", data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == ["This field is required."]
    assert MAILBOX_SESSION_KEY not in browser.session
    assert not AccessAttempt.objects.exists()
