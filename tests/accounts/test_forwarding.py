"""Forwarding: the owner's own addresses, validated as in the admin."""

import re

import pytest
from django.core import mail

from accounts.models import AuditEvent
from domains.models import Forward
from tests.accounts.conftest import ADDRESS, post_form
from tests.domains.utils import PASSWORD, lookup, saved, table_counts

pytestmark = pytest.mark.django_db

URL = "/account/forwarding/"


def forward_to(
    client, destinations: str, keep_copy: bool = True, password: str | None = PASSWORD
):
    data = {"destinations": destinations}
    if keep_copy:
        data["keep_copy"] = "on"
    if password is not None:
        data["current_password"] = password
    return post_form(client, URL, data)


def postfix_destination() -> str:
    return lookup("mailpanel_virtual_aliases", "destination", "address", ADDRESS)[0]


def test_it_adds_forward_addresses_keeping_a_copy(owner, mailbox):
    response = forward_to(owner, "Me@Example.net\nother@example.com")

    assert response.status_code == 302
    forward = Forward.objects.get(mailbox=mailbox)
    assert forward.destination_list == ["me@example.net", "other@example.com"]
    assert forward.keep_copy
    assert postfix_destination() == f"{ADDRESS},me@example.net,other@example.com"


def test_it_forwards_without_a_copy(owner, mailbox):
    forward_to(owner, "me@example.net", keep_copy=False)

    assert postfix_destination() == "me@example.net"


def test_it_removes_one_address(owner, mailbox):
    forward_to(owner, "me@example.net, other@example.com")

    forward_to(owner, "other@example.com")

    assert Forward.objects.get().destination_list == ["other@example.com"]


def test_it_stops_forwarding_when_emptied(owner, mailbox):
    forward_to(owner, "me@example.net")

    forward_to(owner, "  ")

    assert not Forward.objects.exists()
    assert postfix_destination() == ADDRESS


def keep_copy_box(page: str) -> str:
    return re.search(r'<input type="checkbox" name="keep_copy"[^>]*>', page)[0]


def test_it_shows_the_current_forwarding(owner, mailbox):
    assert "checked" in keep_copy_box(owner.get(URL).text)
    forward_to(owner, "me@example.net", keep_copy=False)

    page = owner.get(URL).text

    assert "me@example.net</textarea>" in page
    assert "checked" not in keep_copy_box(page)


def test_it_keeps_an_admins_switch_off(owner, mailbox):
    saved(Forward(mailbox=mailbox, destinations="me@example.net", active=False))

    forward_to(owner, "other@example.com")

    assert not Forward.objects.get().active
    assert postfix_destination() == ADDRESS


def test_it_records_the_change(owner, mailbox):
    forward_to(owner, "me@example.net")

    event = AuditEvent.objects.get(action="forward_changed")
    assert event.detail == {"destinations": ["me@example.net"], "keep_copy": True}


@pytest.mark.parametrize(
    ("destinations", "message"),
    [
        ("not-an-address", "is not a mail address"),
        ("me@example.net, bad@", "“bad@” is not a mail address"),
        (ADDRESS, "A mailbox cannot forward to itself"),
        ("Alice@EXAMPLE.org", "A mailbox cannot forward to itself"),
        ("bob@example.org", "This would make a loop"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(
    owner, mailbox, other_mailbox, destinations, message
):
    saved(Forward(mailbox=other_mailbox, destinations=ADDRESS))
    forward_to(owner, "kept@example.net")
    before = table_counts()
    postfix_before = postfix_destination()

    response = forward_to(owner, destinations)

    assert response.status_code == 200
    assert message in response.text
    assert table_counts() == before
    assert Forward.objects.get(mailbox=mailbox).destination_list == ["kept@example.net"]
    assert postfix_destination() == postfix_before
    assert AuditEvent.objects.filter(action="forward_changed").count() == 1


def test_it_ignores_a_mailbox_id_in_the_form(owner, mailbox, other_mailbox):
    post_form(
        owner,
        URL,
        {
            "destinations": "me@example.net",
            "current_password": PASSWORD,
            "mailbox": other_mailbox.pk,
            "mailbox_id": other_mailbox.pk,
            "id": other_mailbox.pk,
        },
    )

    assert Forward.objects.get().mailbox == mailbox


# --- a new address needs the current password, and the mailbox hears of it ---


def notices() -> list:
    return [m for m in mail.outbox if "forward" in m.subject.lower()]


@pytest.mark.parametrize("password", [None, ""])
def test_a_new_address_needs_the_current_password(owner, mailbox, password):
    # A stolen session must not silently redirect the mailbox's mail.
    before = table_counts()

    response = forward_to(owner, "thief@example.net", password=password)

    assert response.status_code == 200
    assert "Enter your current password to forward to a new address" in response.text
    assert table_counts() == before
    assert notices() == []


def test_the_password_is_hidden_from_error_reports(rf):
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.views import forwarding

    request = rf.post(URL, {"current_password": "secret"})
    request.session = SessionStore()
    forwarding(request)  # not logged in: redirected, but the marker is set
    assert request.sensitive_post_parameters == "__ALL__"


def test_a_wrong_password_changes_nothing(owner, mailbox):
    before = table_counts()

    response = forward_to(owner, "thief@example.net", password="not it at all")

    assert response.status_code == 200
    assert "Your current password is not correct." in response.text
    assert table_counts() == before
    assert notices() == []


def test_only_addresses_not_forwarded_to_yet_need_it(owner, mailbox):
    forward_to(owner, "me@example.net\nother@example.com")
    mail.outbox.clear()

    for destinations, keep_copy in [
        ("other@example.com\nme@example.net", True),  # the same, reordered
        ("other@example.com", True),  # one removed
        ("other@example.com", False),  # no copy kept any more
        ("", True),  # forwarding stopped
    ]:
        response = forward_to(owner, destinations, keep_copy, password=None)
        assert response.status_code == 302, response.text

    assert not Forward.objects.exists()
    assert notices() == []


def test_the_mailbox_is_told_of_a_new_address(owner, mailbox):
    forward_to(owner, "me@example.net")
    mail.outbox.clear()

    response = forward_to(owner, "me@example.net\nnew@example.com", keep_copy=False)

    assert response.status_code == 302
    [notice] = notices()
    assert notice.to == [ADDRESS]
    assert ADDRESS in notice.subject
    assert "new@example.com" in notice.body
    assert "me@example.net" in notice.body
    assert "no copy is kept" in notice.body
    assert "127.0.0.1" in notice.body  # where the change came from
    assert "change your password" in notice.body


def test_a_notice_that_cannot_be_sent_does_not_stop_the_change(
    owner, mailbox, settings
):
    from tests.mailserver.support import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there

    response = forward_to(owner, "me@example.net")

    assert response.status_code == 302
    assert Forward.objects.get().destination_list == ["me@example.net"]


def test_the_service_refuses_a_new_address_without_the_password_checked(mailbox):
    from django.core.exceptions import ValidationError

    from accounts.services import owner_forward_set

    before = table_counts()
    with pytest.raises(ValidationError, match="current password"):
        owner_forward_set(
            mailbox=mailbox,
            destinations="thief@example.net",
            keep_copy=False,
            ip_address=None,
            password_checked=False,
        )
    assert table_counts() == before


def test_it_refuses_more_addresses_than_one_may_forward_to(owner, mailbox):
    # 3,000 were accepted once (issue 22); the limit is Postfix's too.
    before = table_counts()
    many = "\n".join(f"t{n}@example.net" for n in range(3000))

    response = forward_to(owner, many)

    assert response.status_code == 200
    assert "at most 50 are allowed" in response.text
    assert table_counts() == before
