"""Forgotten passwords: a one-use, short-lived link to the recovery address."""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import AuditEvent, RecoveryAddress
from accounts.owners import MAILBOX_SESSION_KEY
from domains.models import Mailbox
from tests.accounts.conftest import ADDRESS, log_in, post_form
from tests.domains.utils import PASSWORD

pytestmark = pytest.mark.django_db

URL = "/account/password/reset/"
NEW = "a brand new passphrase 42"
RECOVERY = "alice.home@example.net"


@pytest.fixture
def recovery(mailbox) -> RecoveryAddress:
    return RecoveryAddress.objects.create(mailbox=mailbox, address=RECOVERY)


def request_link(client: Client, address: str = ADDRESS):
    return post_form(client, URL, {"username": address})


def sent_link() -> str:
    """The path of the mailed link, which must start with the configured base."""
    assert len(mail.outbox) == 1
    base = re.escape(settings.MAILPANEL_BASE_URL.rstrip("/"))
    match = re.search(base + r"(/account/password/reset/\S+/)\s", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match[1]


def set_password(client: Client, link: str, password: str = NEW):
    return post_form(client, link, {"password1": password, "password2": password})


def test_it_mails_a_link_to_the_recovery_address(browser, recovery):
    response = request_link(browser)

    assert response.status_code == 302
    assert response.url == "/account/password/reset/sent/"
    assert mail.outbox[0].to == [RECOVERY]
    assert ADDRESS in mail.outbox[0].subject
    assert sent_link()


def test_it_sets_the_new_password_with_the_link(browser, mailbox, recovery, flushed):
    request_link(browser)

    response = set_password(browser, sent_link())

    assert response.status_code == 302
    assert response.url == "/account/login/"
    mailbox.refresh_from_db()
    assert mailbox.check_password(NEW)
    assert AuditEvent.objects.filter(action="password_reset").count() == 1


def test_it_accepts_a_link_only_once(browser, recovery, flushed):
    request_link(browser)
    link = sent_link()
    set_password(browser, link)

    response = browser.get(link)

    assert response.status_code == 404
    assert "not valid" in response.text


def test_it_expires_the_link(browser, mailbox, recovery, settings):
    request_link(browser)
    settings.MAILPANEL_PORTAL_RESET_TIMEOUT = -1

    response = browser.get(sent_link())

    assert response.status_code == 404


def test_it_invalidates_the_link_when_the_recovery_address_changes(browser, recovery):
    request_link(browser)
    recovery.address = "someone.else@example.net"
    recovery.save()

    assert browser.get(sent_link()).status_code == 404


def test_it_refuses_a_link_for_another_mailbox(
    browser, mailbox, other_mailbox, recovery
):
    """Changing the id in the link does not reach another mailbox."""
    request_link(browser)
    link = sent_link()
    _, uidb64, token, _ = link.rsplit("/", 3)
    other = urlsafe_base64_encode(force_bytes(other_mailbox.pk))
    forged = link.replace(f"/{uidb64}/", f"/{other}/")

    response = browser.post(
        forged,
        {
            "password1": NEW,
            "password2": NEW,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )

    assert browser.get(forged).status_code == 404
    assert response.status_code == 404
    assert Mailbox.objects.get(pk=other_mailbox.pk).password == other_mailbox.password


def test_it_says_the_same_for_an_address_without_recovery(
    browser, mailbox, other_mailbox, recovery
):
    with_recovery = request_link(browser, ADDRESS)
    page_with = browser.get(with_recovery.url).text
    without = request_link(browser, other_mailbox.address)
    unknown = request_link(browser, "nobody@example.org")

    assert with_recovery.url == without.url == unknown.url
    assert browser.get(without.url).text == page_with
    assert "ask your administrator" in page_with
    assert len(mail.outbox) == 1


def test_it_mails_at_most_once_in_a_while(browser, recovery):
    request_link(browser)
    request_link(browser)

    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("password1", "password2", "message"),
    [
        (NEW, NEW + "x", "The two passwords differ."),
        ("short", "short", "too short"),
        ("", "", "This field is required."),
    ],
)
def test_it_rejects_a_bad_new_password_and_changes_nothing(
    browser, mailbox, recovery, password1, password2, message
):
    request_link(browser)
    link = sent_link()

    response = post_form(
        browser, link, {"password1": password1, "password2": password2}
    )

    assert response.status_code == 200
    assert message in response.text
    assert Mailbox.objects.get(pk=mailbox.pk).password == mailbox.password
    assert browser.get(link).status_code == 200


def test_it_rejects_an_empty_address(browser):
    response = request_link(browser, "")

    assert response.status_code == 200
    assert "This field is required." in response.text
    assert mail.outbox == []


def test_it_ends_the_owners_other_sessions(browser, recovery, flushed):
    owner = Client(enforce_csrf_checks=True)
    log_in(owner)
    request_link(browser)

    set_password(browser, sent_link())

    assert owner.get("/account/").status_code == 302
    assert MAILBOX_SESSION_KEY not in owner.session
    assert log_in(Client(), password=PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_HOST": "evil.example:8443"},
        {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "http"},
    ],
)
def test_it_builds_the_link_from_the_base_url_not_the_request(
    recovery, settings, headers
):
    """Whatever host the request names, the link points at the panel."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.USE_X_FORWARDED_HOST = True
    settings.MAILPANEL_BASE_URL = "https://panel.example.org"
    client = Client(enforce_csrf_checks=True, **headers)

    request_link(client)

    body = mail.outbox[0].body
    assert "evil" not in body
    assert "https://panel.example.org/account/password/reset/" in body
    assert client.get(sent_link()).status_code == 200


def test_it_sends_no_link_without_a_base_url(browser, recovery, settings, caplog):
    settings.MAILPANEL_BASE_URL = ""

    response = request_link(browser)

    assert response.status_code == 302
    assert mail.outbox == []
    assert "MAILPANEL_BASE_URL" in caplog.text
