"""The first page: quota, the addresses the mailbox may send as, settings."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import RecoveryAddress, Vacation
from domains.models import Alias, DomainAlias, Forward, SendAsIdentity
from mailserver.models import MailboxUsage
from tests.domains.utils import saved

pytestmark = pytest.mark.django_db


def test_it_needs_a_login(browser):
    response = browser.get("/account/")

    assert response.status_code == 302
    assert response.url == "/account/login/?next=/account/"


def test_it_shows_the_quota_and_that_usage_is_not_measured(owner, mailbox):
    mailbox.quota = 2 * 1024**3
    mailbox.save()

    page = owner.get("/account/").text

    assert "2.0\xa0GiB" in page  # as the admin says it (domains.sizes)
    assert "Not measured yet" in page


def test_it_shows_the_usage_and_when_it_was_measured(owner, mailbox):
    mailbox.quota = 2 * 1024**3
    mailbox.save()
    measured = timezone.now() - timedelta(minutes=5)
    MailboxUsage.objects.create(
        mailbox=mailbox,
        bytes_used=768 * 1024**2,
        messages=1234,
        bytes_limit=2 * 1024**3,
        updated=measured,
    )

    page = owner.get("/account/").text

    assert "Not measured yet" not in page
    assert "768.0\xa0MiB (37%), 1234 messages" in page
    assert f'<time datetime="{measured.isoformat()}"' in page
    assert "5\xa0minutes ago" in page


def test_it_shows_no_limit(owner, mailbox):
    assert "No limit" in owner.get("/account/").text


def test_it_lists_every_address_the_mailbox_may_send_as(owner, mailbox, other_mailbox):
    saved(DomainAlias(name="alias.example", target=mailbox.domain))
    saved(
        Alias(domain=mailbox.domain, local_part="sales", destinations=mailbox.address)
    )
    saved(
        Alias(domain=mailbox.domain, local_part="team", destinations="bob@example.org")
    )
    saved(SendAsIdentity(mailbox=mailbox, address="ceo@example.com"))

    page = owner.get("/account/").text

    for address in (
        "alice@example.org",
        "alice@alias.example",
        "sales@example.org",
        "sales@alias.example",
        "ceo@example.com",
    ):
        assert f"<li>{address}</li>" in page
    assert "team@example.org" not in page
    assert "bob@example.org" not in page


def test_it_summarises_forwarding_vacation_and_recovery(owner, mailbox):
    saved(Forward(mailbox=mailbox, destinations="me@example.net", keep_copy=False))
    Vacation.objects.create(
        mailbox=mailbox,
        enabled=True,
        subject="Gone fishing",
        message="Back soon.",
        start="2031-07-01",
        end="2031-07-14",
    )
    RecoveryAddress.objects.create(mailbox=mailbox, address="me@example.net")

    page = owner.get("/account/").text

    assert "To me@example.net, without keeping a copy." in page
    assert "“Gone fishing”" in page
    assert "Reset links go to me@example.net." in page


def test_it_is_never_cached(owner):
    response = owner.get("/account/")

    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
