"""The owners' portal in a real browser: log in, change the password, set an
out-of-office reply, log out; on a desktop and on a phone-sized screen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Vacation
from domains.models import Domain, Mailbox
from mailserver.lifecycle import AUTH_FLUSH_TASK, VACATION_TASK
from mailserver.models import MailboxUsage, OutboxMessage
from mailserver.tasks import vacation_sync_task
from tests.domains.utils import PASSWORD, saved

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "alice@example.org"
NEW_PASSWORD = "Lantern-Quietly-Orbit-42"


@pytest.fixture
def mailbox() -> Mailbox:
    domain = saved(Domain(name="example.org"))
    mailbox = Mailbox(
        domain=domain, local_part="alice", name="Alice Liddell", quota=2 * 1024**3
    )
    mailbox.set_password(PASSWORD)
    mailbox = saved(mailbox)
    # As a mail host's worker measured it a while ago (mailserver.quota).
    MailboxUsage.objects.create(
        mailbox=mailbox,
        bytes_used=768 * 1024**2,
        messages=1234,
        bytes_limit=2 * 1024**3,
        updated=timezone.now() - timedelta(minutes=12),
    )
    return mailbox


@pytest.fixture(autouse=True)
def outbox(monkeypatch):
    """Keep what the portal queues for the mail host's worker, unpublished.

    The portal does no mail-server work itself: it leaves a task in the
    outbox. Keeping it here means no message reaches the machine's Redis, and
    the tests can look at it (and run it, as the worker would).
    """
    monkeypatch.setattr("mailserver.outbox.outbox_send", lambda *, message_id: False)
    return OutboxMessage.objects


def log_in(page, expect, password: str = PASSWORD) -> None:
    page.goto("/account/")
    page.get_by_label("Mail address").fill(ADDRESS)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ADDRESS)


def test_it_logs_in_with_the_mailbox_password(
    expect, page, live_server, mailbox, shoot
):
    page.goto("/account/")

    expect(page).to_have_url(f"{live_server.url}/account/login/?next=/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    shoot(page, "login")
    log_in(page, expect)

    expect(page.get_by_text("Alice Liddell")).to_be_visible()
    expect(page.get_by_role("navigation", name="Portal")).to_be_visible()
    expect(page.get_by_text("768.0 MiB (37%), 1234 messages")).to_be_visible()
    expect(page.get_by_text("Measured 12 minutes ago")).to_be_visible()
    shoot(page, "overview")


def test_it_refuses_a_wrong_password(expect, page, mailbox):
    page.goto("/account/login/")
    page.get_by_label("Mail address").fill(ADDRESS)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_text("do not match an active mailbox")).to_be_visible()
    expect(page.get_by_role("navigation", name="Portal")).to_have_count(0)


def test_it_changes_the_password(expect, page, mailbox, outbox, shoot):
    log_in(page, expect)
    page.get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.locator("input[name=password1]").fill(NEW_PASSWORD)
    page.locator("input[name=password2]").fill(NEW_PASSWORD)
    shoot(page, "password")
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_text("Your password has been changed.")).to_be_visible()
    mailbox.refresh_from_db()
    assert mailbox.check_password(NEW_PASSWORD)
    flushes = outbox.filter(task=AUTH_FLUSH_TASK).values_list("args", flat=True)
    assert list(flushes) == [[ADDRESS]]


def test_it_sets_an_out_of_office_reply(
    expect, page, mailbox, vmail_root, outbox, shoot
):
    log_in(page, expect)
    page.get_by_role("link", name="Out of office").click()
    page.get_by_label("Send an out-of-office reply").check()
    page.get_by_label("Subject").fill("Away until Monday")
    page.get_by_label("Message").fill(
        "I am away until Monday. For urgent\nmatters write to bob@example.org."
    )
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Your out-of-office reply has been saved.")).to_be_visible()
    expect(page.get_by_label("Send an out-of-office reply")).to_be_checked()
    shoot(page, "out-of-office")
    vacation = Vacation.objects.get(mailbox=mailbox)
    assert vacation.enabled
    assert vacation.start == timezone.localdate()
    script_path = vmail_root / "example.org" / "alice" / ".dovecot.sieve"
    assert not script_path.exists()  # the worker writes it, not the request
    [queued] = outbox.filter(task=VACATION_TASK)
    vacation_sync_task(*queued.args)
    script = script_path.read_text()
    assert ':subject "Away until Monday"' in script


def test_it_logs_out(expect, page, mailbox, shoot):
    log_in(page, expect)
    page.get_by_role("button", name="Log out").click()

    expect(page.get_by_text("You have logged out.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    shoot(page, "logged-out")
    page.goto("/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


def test_it_fits_a_phone_screen(expect, phone, mailbox, shoot):
    log_in(phone, expect)

    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= phone.viewport_size["width"], "the page scrolls sideways"
    expect(phone.get_by_role("button", name="Log out")).to_be_in_viewport()
    shoot(phone, "overview-phone")
