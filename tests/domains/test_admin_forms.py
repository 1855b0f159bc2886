"""Admin pages: adding a mailbox, setting its password, bulk actions, deleting."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from domains.models import Alias, Domain, Mailbox
from tests.domains.utils import PASSWORD, lookup, table_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def csrf_client(db) -> Client:
    """An admin session that must send the CSRF token, like a browser."""
    User.objects.create_superuser("root", "root@example.org", "admin-pass-123")
    client = Client(enforce_csrf_checks=True)
    client.login(username="root", password="admin-pass-123")
    return client


def post_form(client: Client, url: str, data: dict):
    page = client.get(url)
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()
    )
    return client.post(url, {**data, "csrfmiddlewaretoken": token.group(1)})


def mailbox_form(domain: Domain, **overrides) -> dict:
    return {
        "domain": domain.pk,
        "local_part": "alice",
        "name": "Alice",
        "quota": "0",
        "active": "on",
        "imap_enabled": "on",
        "pop3_enabled": "on",
        "smtp_enabled": "on",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **overrides,
    }


def test_it_adds_a_mailbox_with_a_password(csrf_client, domain):
    response = post_form(
        csrf_client, "/admin/domains/mailbox/add/", mailbox_form(domain)
    )
    assert response.status_code == 302
    mailbox = Mailbox.objects.get()
    assert mailbox.check_password(PASSWORD)
    assert lookup(
        "mailpanel_dovecot_passdb", "username", "username", "alice@example.org"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password2": "something else entirely"}, "The two passwords differ."),
        ({"password1": "short", "password2": "short"}, "too short"),
        ({"local_part": "a..b"}, "is not allowed before the @"),
        ({"local_part": ""}, "This field is required."),
    ],
)
def test_it_shows_errors_and_writes_nothing(csrf_client, domain, overrides, message):
    before = table_counts()
    response = post_form(
        csrf_client, "/admin/domains/mailbox/add/", mailbox_form(domain, **overrides)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert table_counts() == before


def test_it_sets_a_new_password(csrf_client, domain, make_mailbox):
    mailbox = make_mailbox(domain, "alice")
    url = f"/admin/domains/mailbox/{mailbox.pk}/password/"
    new = "another long passphrase"
    response = post_form(csrf_client, url, {"password1": new, "password2": new})
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.check_password(new)
    assert not mailbox.check_password(PASSWORD)
    stored = lookup("mailpanel_dovecot_passdb", "password", "username", mailbox.address)
    assert set(stored) == {mailbox.password}


def test_it_refuses_a_weak_new_password(csrf_client, domain, make_mailbox):
    mailbox = make_mailbox(domain, "alice")
    old = mailbox.password
    url = f"/admin/domains/mailbox/{mailbox.pk}/password/"
    response = post_form(csrf_client, url, {"password1": "123", "password2": "123"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.password == old


def test_it_deactivates_and_activates_in_bulk(csrf_client, domain, make_mailbox):
    a = make_mailbox(domain, "alice")
    b = make_mailbox(domain, "bob")
    data = {"action": "deactivate", "_selected_action": [a.pk, b.pk]}
    post_form(csrf_client, "/admin/domains/mailbox/", data)
    assert not Mailbox.objects.filter(active=True).exists()
    assert lookup("mailpanel_virtual_mailboxes", "address", "address", a.address) == []
    data["action"] = "activate"
    post_form(csrf_client, "/admin/domains/mailbox/", data)
    assert Mailbox.objects.filter(active=True).count() == 2


def test_deleting_a_domain_with_mailboxes_needs_confirmation(
    csrf_client, domain, make_mailbox
):
    make_mailbox(domain, "alice")
    before = table_counts()
    data = {"action": "delete_with_mailboxes", "_selected_action": [domain.pk]}
    response = post_form(csrf_client, "/admin/domains/domain/", data)
    assert response.status_code == 200
    assert "1 mailbox(es)" in response.content.decode()
    assert table_counts() == before
    response = post_form(
        csrf_client, "/admin/domains/domain/", {**data, "confirm": "on"}
    )
    assert response.status_code == 302
    assert not Domain.objects.exists()
    assert set(table_counts().values()) == {0}


def test_the_plain_delete_action_is_not_offered(admin_client, domain):
    response = admin_client.get("/admin/domains/domain/")
    assert "delete_selected" not in response.content.decode()


def test_the_bulk_delete_action_rebuilds_the_lookup_rows(
    csrf_client, domain, make_alias
):
    kept = make_alias(domain, "info", "someone@example.net")
    gone = make_alias(domain, "sales", "someone@example.net")
    data = {"action": "delete_selected", "_selected_action": [gone.pk], "post": "yes"}

    response = post_form(csrf_client, "/admin/domains/alias/", data)

    assert response.status_code == 302
    assert list(Alias.objects.all()) == [kept]
    assert (
        lookup(
            "mailpanel_virtual_aliases", "destination", "address", "sales@example.org"
        )
        == []
    )
    assert lookup(
        "mailpanel_virtual_aliases", "destination", "address", "info@example.org"
    ) == ["someone@example.net"]
