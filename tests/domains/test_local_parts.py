"""The local parts of hosted addresses: one alphabet, in the model and the database.

Mailboxes and aliases may only use letters, digits, ``.``, ``_`` and ``-``
(docs/addresses.md); anything else is refused by ``full_clean()``, by the
admin, and by the database's check constraint when ``clean()`` is skipped.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from domains.addresses import normalize_address
from domains.models import Alias, Domain, Mailbox
from tests.domains.test_admin_forms import mailbox_form
from tests.domains.utils import PASSWORD, saved, table_counts

pytestmark = pytest.mark.django_db

# Each reached the file system or made a mailbox Dovecot refuses (issue 22).
HOSTILE = [
    "alice/",
    "/",
    "/var/vmail/victim.test/ceo",
    "../victim.test/ceo",
    "o'brien",
    "a%d",
    "a+tag",
    "a\\b",
    "a!b",
]


@pytest.mark.parametrize("local_part", HOSTILE)
def test_full_clean_refuses_a_mailbox_outside_the_alphabet(domain, local_part):
    before = table_counts()
    mailbox = Mailbox(domain=domain, local_part=local_part)
    mailbox.set_password(PASSWORD)
    with pytest.raises(ValidationError) as excinfo:
        saved(mailbox)
    assert "letters, digits" in " ".join(excinfo.value.message_dict["local_part"])
    assert table_counts() == before


@pytest.mark.parametrize("local_part", HOSTILE)
def test_full_clean_refuses_an_alias_outside_the_alphabet(domain, local_part):
    before = table_counts()
    alias = Alias(domain=domain, local_part=local_part, destinations="x@example.net")
    with pytest.raises(ValidationError) as excinfo:
        saved(alias)
    assert "letters, digits" in " ".join(excinfo.value.message_dict["local_part"])
    assert table_counts() == before


@pytest.mark.parametrize(
    "local_part", [*HOSTILE, ".alice", "alice.", "a..b", "Alice", "", "ünï"]
)
def test_the_database_refuses_a_mailbox_saved_without_clean(domain, local_part):
    before = table_counts()
    mailbox = Mailbox(domain=domain, local_part=local_part, password="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        mailbox.save()
    assert table_counts() == before


@pytest.mark.parametrize("local_part", [*HOSTILE, ".alice", "a..b", "Alice"])
def test_the_database_refuses_an_alias_saved_without_clean(domain, local_part):
    before = table_counts()
    alias = Alias(domain=domain, local_part=local_part, destinations="x@example.net")
    with pytest.raises(IntegrityError), transaction.atomic():
        alias.save()
    assert table_counts() == before


@pytest.mark.parametrize("local_part", ["alice", "a.b-c_d", "0", "x" * 64, "a-", "-a"])
def test_the_database_takes_every_local_part_of_the_alphabet(domain, local_part):
    Mailbox(domain=domain, local_part=local_part, password="x").save()
    alias = f"{local_part[:60]}.al"
    Alias(domain=domain, local_part=alias, destinations="x@y.example").save()
    assert Mailbox.objects.filter(local_part=local_part).exists()


def test_the_database_takes_a_catch_all_alias(domain):
    Alias(domain=domain, local_part="", destinations="x@example.net").save()
    assert Alias.objects.get().is_catchall


def test_it_lowercases_before_checking(domain):
    mailbox = Mailbox(domain=domain, local_part="Alice.Smith")
    mailbox.set_password(PASSWORD)
    assert saved(mailbox).local_part == "alice.smith"


def test_addresses_elsewhere_keep_the_whole_rfc_5321_alphabet():
    # Forward and alias destinations, recovery addresses: not hosted here.
    assert normalize_address("O'Brien+tag@Example.NET") == "o'brien+tag@example.net"


@pytest.mark.parametrize("local_part", HOSTILE)
def test_the_admin_refuses_it_and_writes_nothing(admin_client, local_part):
    domain = saved(Domain(name="example.org"))
    before = table_counts()
    response = admin_client.post(
        "/admin/domains/mailbox/add/",
        mailbox_form(domain, local_part=local_part),
    )
    assert response.status_code == 200
    assert "letters, digits" in response.content.decode()
    assert table_counts() == before


@pytest.mark.parametrize("local_part", HOSTILE)
def test_the_admin_refuses_such_an_alias(admin_client, local_part):
    domain = saved(Domain(name="example.org"))
    before = table_counts()
    response = admin_client.post(
        "/admin/domains/alias/add/",
        {
            "domain": domain.pk,
            "local_part": local_part,
            "destinations": "x@example.net",
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "letters, digits" in response.content.decode()
    assert table_counts() == before
