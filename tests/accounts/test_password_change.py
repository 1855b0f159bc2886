"""Changing the password: current one required, live for Dovecot at once."""

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.owners import MAILBOX_SESSION_KEY
from domains.models import Mailbox
from mailserver.lifecycle import AUTH_FLUSH_TASK
from mailserver.models import MailHost, OutboxMessage

# Imported before the `flushed` fixture patches anything, as in a worker.
from mailserver.tasks import dovecot_auth_flush_task
from tests.accounts.conftest import ADDRESS, log_in, post_form
from tests.domains.utils import PASSWORD, lookup

pytestmark = pytest.mark.django_db

URL = "/account/password/"
NEW = "a brand new passphrase 42"


def change(client: Client, **overrides: str):
    data = {"current_password": PASSWORD, "password1": NEW, "password2": NEW}
    return post_form(client, URL, {**data, **overrides})


def passdb_hash() -> str:
    return lookup("mailpanel_dovecot_passdb", "password", "username", ADDRESS)[0]


def test_it_changes_the_password_for_dovecot_at_once(owner, mailbox, flushed):
    old_hash = passdb_hash()

    response = change(owner)

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.check_password(NEW)
    assert not mailbox.check_password(PASSWORD)
    assert passdb_hash() == mailbox.password != old_hash


def test_it_queues_the_auth_cache_flush_for_each_mail_host_and_runs_no_doveadm(
    owner, mailbox, flushed, monkeypatch, django_capture_on_commit_callbacks
):
    MailHost.objects.create(name="mx1")
    MailHost.objects.create(name="mx2")
    published: list[int] = []
    monkeypatch.setattr(
        "mailserver.outbox.outbox_send",
        lambda *, message_id: published.append(message_id) or True,
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = change(owner)

    assert response.status_code == 302
    queued = OutboxMessage.objects.filter(task=AUTH_FLUSH_TASK)
    assert {(m.queue, tuple(m.args)) for m in queued} == {
        ("mx1", (ADDRESS,)),
        ("mx2", (ADDRESS,)),
    }
    # Handed to the broker after commit; doveadm is the workers' business.
    assert sorted(published) == sorted(m.pk for m in queued)
    assert flushed == []


def test_the_flushed_fixture_sees_a_flush_the_task_would_run(flushed):
    """Else the `flushed == []` checks above could not fail."""
    dovecot_auth_flush_task("someone@example.test")

    assert flushed == ["someone@example.test"]


def test_it_keeps_this_session_and_ends_the_others(owner, mailbox, flushed):
    elsewhere = Client(enforce_csrf_checks=True)
    log_in(elsewhere)
    assert elsewhere.get("/account/").status_code == 200

    change(owner)

    assert owner.get("/account/").status_code == 200
    assert elsewhere.get("/account/").status_code == 302
    assert MAILBOX_SESSION_KEY not in elsewhere.session


def test_it_refuses_the_old_password_at_the_next_login(owner, mailbox, flushed):
    change(owner)
    browser = Client(enforce_csrf_checks=True)

    assert log_in(browser, password=PASSWORD).status_code == 200
    assert log_in(browser, password=NEW).status_code == 302


def test_it_records_the_change_without_the_password(owner, mailbox, flushed):
    change(owner)

    event = AuditEvent.objects.get(action="password_changed")
    assert event.address == ADDRESS
    assert event.ip_address == "127.0.0.1"
    assert NEW not in str(event.detail)


def test_it_refuses_a_post_without_csrf_token(owner, mailbox):
    response = owner.post(
        URL, {"current_password": PASSWORD, "password1": NEW, "password2": NEW}
    )

    assert response.status_code == 403
    assert Mailbox.objects.get(pk=mailbox.pk).password == mailbox.password


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"current_password": "wrong"}, "Your current password is not correct."),
        ({"current_password": ""}, "This field is required."),
        ({"password2": NEW + "x"}, "The two passwords differ."),
        ({"password1": "short", "password2": "short"}, "too short"),
        ({"password1": "password123", "password2": "password123"}, "too common"),
        ({"password1": "1234567890123", "password2": "1234567890123"}, "numeric"),
        (
            {"password1": "alice@example.org", "password2": "alice@example.org"},
            "too similar",
        ),
        ({"password1": PASSWORD, "password2": PASSWORD}, "same as the current one"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(
    owner, mailbox, flushed, overrides, message
):
    response = change(owner, **overrides)

    assert response.status_code == 200
    assert message in response.text
    stored = Mailbox.objects.get(pk=mailbox.pk)
    assert stored.password == mailbox.password
    assert not AuditEvent.objects.filter(action="password_changed").exists()
    assert flushed == []


def test_it_rate_limits_guessing_the_current_password(owner, mailbox, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        change(owner, current_password="a guess")

    response = change(owner)

    assert "Too many wrong passwords" in response.text
    assert Mailbox.objects.get(pk=mailbox.pk).password == mailbox.password


def test_it_needs_a_login(browser):
    response = browser.get(URL)

    assert response.status_code == 302
    assert response.url == "/account/login/?next=/account/password/"


def test_it_logs_no_password(owner, mailbox, flushed, caplog):
    caplog.set_level("DEBUG")

    change(owner, current_password="wrong guess 1")
    change(owner)

    assert "wrong guess 1" not in caplog.text
    assert NEW not in caplog.text
    assert PASSWORD not in caplog.text
