"""The out-of-office page: the request saves the row and queues the work.

No file is written here: every mail host's worker installs or removes the
script after commit (tests/accounts/test_vacation_sync.py runs that part).
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import services
from accounts.models import AuditEvent, Vacation
from domains.models import Alias
from mailserver.lifecycle import VACATION_TASK
from mailserver.models import MailHost, OutboxMessage
from tests.accounts.conftest import post_form

pytestmark = pytest.mark.django_db

URL = "/account/out-of-office/"


def days(n: int) -> str:
    return (timezone.localdate() + timedelta(days=n)).isoformat()


def form(**overrides) -> dict:
    data = {
        "enabled": "on",
        "subject": "Away",
        "message": "Back on the 20th.",
        "start": days(0),
        "end": days(7),
        "reply_days": "7",
    }
    return {k: v for k, v in {**data, **overrides}.items() if v is not None}


VALID = {
    "enabled": True,
    "subject": "Away",
    "message": "Back soon.",
    "start": timezone.localdate(),
    "end": timezone.localdate() + timedelta(days=7),
}


def queued() -> list[tuple[str, tuple]]:
    return sorted(
        (m.queue, tuple(m.args))
        for m in OutboxMessage.objects.filter(task=VACATION_TASK)
    )


def files_under(root) -> list:
    return sorted(root.rglob("*"))


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """Outbox messages handed to the broker (after commit) in this test."""
    sent: list[int] = []
    monkeypatch.setattr(
        "mailserver.outbox.outbox_send",
        lambda *, message_id: sent.append(message_id) or True,
    )
    return sent


def test_it_saves_the_reply_and_queues_a_sync_per_mail_host_writing_no_file(
    owner, mailbox, vmail_root, published, django_capture_on_commit_callbacks
):
    mx1 = MailHost.objects.create(name="mx1")
    mx2 = MailHost.objects.create(name="mx2")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_form(owner, URL, form())

    assert response.status_code == 302
    vacation = Vacation.objects.get(mailbox=mailbox)
    assert (vacation.enabled, vacation.subject, vacation.reply_days) == (
        True,
        "Away",
        7,
    )
    assert queued() == [("mx1", (mailbox.pk, mx1.pk)), ("mx2", (mailbox.pk, mx2.pk))]
    # Handed to the broker after commit; the script is the workers' business.
    messages = OutboxMessage.objects.filter(task=VACATION_TASK)
    assert sorted(published) == sorted(m.pk for m in messages)
    assert files_under(vmail_root) == []


def test_without_a_registered_host_it_queues_one_sync_for_the_local_worker(
    owner, mailbox, vmail_root
):
    post_form(owner, URL, form())

    assert queued() == [("", (mailbox.pk, None))]
    assert files_under(vmail_root) == []


def test_switching_it_off_queues_the_removal_and_writes_no_file(
    owner, mailbox, vmail_root
):
    MailHost.objects.create(name="mx1")
    post_form(owner, URL, form())
    OutboxMessage.objects.update(sent_at=timezone.now())  # the worker has it

    response = post_form(owner, URL, form(enabled=None))

    assert response.status_code == 302
    assert not Vacation.objects.get().enabled
    assert len(queued()) == 2  # one per save, for the one host
    assert files_under(vmail_root) == []


def test_a_save_while_its_sync_still_waits_queues_no_second_one(
    owner, mailbox, vmail_root
):
    # The waiting sync reads the reply when it runs, so it carries this save.
    mx1 = MailHost.objects.create(name="mx1")
    post_form(owner, URL, form())

    post_form(owner, URL, form(subject="Away until the 20th"))

    assert queued() == [("mx1", (mailbox.pk, mx1.pk))]


def test_it_says_saved_and_soon_active_never_already_live(owner, mailbox, vmail_root):
    page = owner.get(post_form(owner, URL, form())["Location"]).text

    assert "Your out-of-office reply has been saved." in page
    assert "The mail server starts using it within moments." in page

    page = owner.get(post_form(owner, URL, form(enabled=None))["Location"]).text

    assert "The mail server stops sending it within moments." in page


def test_it_shows_the_saved_reply(owner, mailbox, vmail_root):
    post_form(owner, URL, form(subject="Gone fishing"))

    assert 'value="Gone fishing"' in owner.get(URL).text


def test_it_records_the_change(owner, mailbox, vmail_root):
    post_form(owner, URL, form())

    event = AuditEvent.objects.get(action="vacation_changed")
    assert event.detail == {
        "enabled": True,
        "start": days(0),
        "end": days(7),
        "reply_days": 7,
    }


@pytest.mark.parametrize(
    ("overrides", "field_message"),
    [
        ({"start": days(5), "end": days(3)}, "The last day cannot be before"),
        ({"start": days(-10), "end": days(-2)}, "The last day has already passed."),
        ({"subject": ""}, "Enter a subject for the reply."),
        ({"message": "  "}, "Enter the message to reply with."),
        ({"reply_days": "0"}, "Choose between 1 and 60 days."),
        ({"reply_days": "61"}, "Choose between 1 and 60 days."),
        ({"start": "not a date"}, "Enter a valid date."),
        ({"end": ""}, "This field is required."),
        ({"subject": "x" * 201}, "at most 200 characters"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(
    owner, mailbox, vmail_root, overrides, field_message
):
    post_form(owner, URL, form(subject="Kept"))
    before = queued()

    response = post_form(owner, URL, form(**overrides))

    assert response.status_code == 200
    assert field_message in response.text
    assert Vacation.objects.get().subject == "Kept"
    assert queued() == before
    assert AuditEvent.objects.filter(action="vacation_changed").count() == 1


def test_the_service_stores_line_breaks_as_the_script_needs_them(mailbox, vmail_root):
    vacation = services.vacation_set(
        mailbox=mailbox,
        ip_address=None,
        **{**VALID, "message": "one\r\ntwo\rthree\n"},
    )

    assert Vacation.objects.get().message == "one\ntwo\nthree\n" == vacation.message


@pytest.mark.parametrize(
    ("field", "text"),
    [("message", "a\x00b"), ("message", "a\ud800b"), ("subject", "a\udc00b")],
)
def test_the_service_refuses_text_no_script_can_hold(mailbox, vmail_root, field, text):
    # Not only the form: a service call (or the admin) goes through the model.
    with pytest.raises(ValidationError) as excinfo:
        services.vacation_set(
            mailbox=mailbox, ip_address=None, **{**VALID, field: text}
        )

    assert field in excinfo.value.message_dict
    assert not Vacation.objects.exists()
    assert not AuditEvent.objects.exists()
    assert queued() == []


def test_the_row_the_audit_event_and_the_outbox_message_commit_together(
    mailbox, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr("mailserver.lifecycle.vacation_changed", broken)

    with pytest.raises(RuntimeError):
        services.vacation_set(
            mailbox=mailbox,
            ip_address=None,
            enabled=True,
            subject="Away",
            message="Back soon.",
            start=timezone.localdate(),
            end=timezone.localdate(),
        )

    assert not Vacation.objects.exists()
    assert not AuditEvent.objects.exists()


def test_with_the_hooks_switched_off_it_saves_and_queues_nothing(
    owner, mailbox, vmail_root, settings
):
    settings.MAILPANEL_MAILBOX_HOOKS = ""

    assert post_form(owner, URL, form()).status_code == 302

    assert Vacation.objects.get().enabled
    assert queued() == []


def unsent() -> list[tuple[str, tuple]]:
    return sorted(
        (m.queue, tuple(m.args))
        for m in OutboxMessage.objects.filter(task=VACATION_TASK, sent_at=None)
    )


def test_a_new_alias_queues_a_sync_of_each_reply_that_is_on_once(
    owner, mailbox, other_mailbox, vmail_root
):
    # The script's :addresses must learn the alias; the owner saved nothing.
    mx1 = MailHost.objects.create(name="mx1")
    post_form(owner, URL, form())
    OutboxMessage.objects.update(sent_at=timezone.now())

    Alias.objects.create(
        domain=mailbox.domain, local_part="sales", destinations=mailbox.address
    )
    assert unsent() == [("mx1", (mailbox.pk, mx1.pk))]

    # A second change before the worker ran finds that sync still waiting.
    Alias.objects.create(
        domain=mailbox.domain, local_part="info", destinations=mailbox.address
    )
    assert unsent() == [("mx1", (mailbox.pk, mx1.pk))]


def test_a_deleted_alias_queues_the_sync_too(owner, mailbox, vmail_root):
    alias = Alias.objects.create(
        domain=mailbox.domain, local_part="sales", destinations=mailbox.address
    )
    post_form(owner, URL, form())
    OutboxMessage.objects.update(sent_at=timezone.now())

    alias.delete()

    assert unsent() == [("", (mailbox.pk, None))]


def test_with_no_reply_on_address_changes_queue_nothing(owner, mailbox, vmail_root):
    post_form(owner, URL, form(enabled=None))
    OutboxMessage.objects.update(sent_at=timezone.now())

    Alias.objects.create(
        domain=mailbox.domain, local_part="sales", destinations=mailbox.address
    )

    assert unsent() == []
