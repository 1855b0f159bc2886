"""The out-of-office page: saved as a row, installed as a Sieve script."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AuditEvent, Vacation
from accounts.sieve_files import SieveInstallError
from domains.models import Alias
from tests.accounts.conftest import ADDRESS, post_form
from tests.domains.utils import saved

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


@pytest.fixture
def home(vmail_root):
    return vmail_root / "example.org" / "alice"


def test_it_installs_the_reply_as_the_active_script(owner, mailbox, home):
    response = post_form(owner, URL, form())

    assert response.status_code == 302
    vacation = Vacation.objects.get(mailbox=mailbox)
    assert (vacation.subject, vacation.reply_days) == ("Away", 7)
    script = (home / ".dovecot.sieve").read_text()
    assert ':subject "Away"' in script
    assert "Back on the 20th." in script
    assert f'"le" "date" "{days(7)}"' in script


def test_it_answers_for_the_mailboxs_aliases(owner, mailbox, home):
    saved(Alias(domain=mailbox.domain, local_part="sales", destinations=ADDRESS))

    post_form(owner, URL, form())

    script = (home / ".dovecot.sieve").read_text()
    assert ':addresses ["alice@example.org", "sales@example.org"]' in script


def test_it_removes_the_script_when_switched_off(owner, mailbox, home):
    post_form(owner, URL, form())

    response = post_form(owner, URL, form(enabled=None))

    assert response.status_code == 302
    assert not Vacation.objects.get().enabled
    assert not (home / ".dovecot.sieve").is_symlink()
    assert not (home / "sieve" / "mailpanel.sieve").exists()


def test_it_shows_the_saved_reply(owner, mailbox, home):
    post_form(owner, URL, form(subject="Gone fishing"))

    assert 'value="Gone fishing"' in owner.get(URL).text


def test_it_records_the_change(owner, mailbox, home):
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
    owner, mailbox, home, overrides, field_message
):
    post_form(owner, URL, form(subject="Kept"))
    script = (home / ".dovecot.sieve").read_text()

    response = post_form(owner, URL, form(**overrides))

    assert response.status_code == 200
    assert field_message in response.text
    assert Vacation.objects.get().subject == "Kept"
    assert (home / ".dovecot.sieve").read_text() == script
    assert AuditEvent.objects.filter(action="vacation_changed").count() == 1


def test_it_saves_nothing_when_the_script_cannot_be_written(
    owner, mailbox, home, monkeypatch
):
    def refuse(**kwargs):
        raise SieveInstallError("the home is not writable")

    monkeypatch.setattr("accounts.services.sieve_script_install", refuse)

    response = post_form(owner, URL, form())

    assert response.status_code == 200
    assert "Nothing was changed: the home is not writable" in response.text
    assert not Vacation.objects.exists()
    assert not AuditEvent.objects.filter(action="vacation_changed").exists()


def test_it_says_so_when_the_file_system_fails(owner, mailbox, home, monkeypatch):
    def fail(**kwargs):
        raise PermissionError(13, "Permission denied", str(home))

    monkeypatch.setattr("accounts.services.sieve_script_install", fail)

    response = post_form(owner, URL, form())

    assert "could not be set up on the mail server" in response.text
    assert str(home) not in response.text
    assert not Vacation.objects.exists()


def test_it_leaves_an_owners_own_filters_alone(owner, mailbox, home):
    home.mkdir(parents=True)
    (home / ".dovecot.sieve").write_text("# my filters\n")

    response = post_form(owner, URL, form())

    assert "did not write" in response.text
    assert (home / ".dovecot.sieve").read_text() == "# my filters\n"
    assert not Vacation.objects.exists()


def test_it_syncs_the_script_idempotently(mailbox, home):
    """vacation_sync() is the future Celery task's body: safe to run again."""
    Vacation.objects.create(
        mailbox=mailbox,
        enabled=True,
        subject="Away",
        message="Back soon.",
        start=days(0),
        end=days(3),
    )

    services.vacation_sync(mailbox=mailbox)
    first = (home / ".dovecot.sieve").read_text()
    services.vacation_sync(mailbox=mailbox)

    assert (home / ".dovecot.sieve").read_text() == first
    Vacation.objects.update(enabled=False)
    services.vacation_sync(mailbox=mailbox)
    services.vacation_sync(mailbox=mailbox)
    assert not (home / ".dovecot.sieve").is_symlink()
