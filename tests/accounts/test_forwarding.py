"""Forwarding: the owner's own addresses, validated as in the admin."""

import re

import pytest

from accounts.models import AuditEvent
from domains.models import Forward
from tests.accounts.conftest import ADDRESS, post_form
from tests.domains.utils import lookup, saved, table_counts

pytestmark = pytest.mark.django_db

URL = "/account/forwarding/"


def forward_to(client, destinations: str, keep_copy: bool = True):
    data = {"destinations": destinations}
    if keep_copy:
        data["keep_copy"] = "on"
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
            "mailbox": other_mailbox.pk,
            "mailbox_id": other_mailbox.pk,
            "id": other_mailbox.pk,
        },
    )

    assert Forward.objects.get().mailbox == mailbox
