"""domains.search.aliases_delivering_to, and the mailbox page that lists them."""

import re

import pytest
from django.db import connection

from domains.models import Alias, Domain, Mailbox
from domains.search import aliases_delivering_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def example():
    return Domain.objects.create(name="example.org")


def alias(domain: Domain, local_part: str, destinations: str) -> Alias:
    return Alias.objects.create(
        domain=domain, local_part=local_part, destinations=destinations
    )


def sources(address: str) -> set[str]:
    return {a.source for a in aliases_delivering_to(address)}


def test_it_finds_the_aliases_with_the_address_among_their_destinations(example):
    alias(example, "info", "anna@example.org")
    alias(example, "team", "ben@example.org\nanna@example.org\nx@example.net")
    alias(example, "sales", "ben@example.org")
    assert sources("anna@example.org") == {"info@example.org", "team@example.org"}


def test_it_matches_whole_addresses_only(example):
    alias(example, "a", "joanna@example.org")
    alias(example, "b", "anna@example.org.uk")
    alias(example, "c", "anna@example.organic")
    assert sources("anna@example.org") == set()


def test_it_splits_destinations_where_destination_list_does(example):
    # Rows written without clean() (bulk_create, a shell) may use any space.
    Alias.objects.bulk_create(
        [
            Alias(domain=example, local_part="tab", destinations="x@y.org\tanna@e.org"),
            Alias(domain=example, local_part="crlf", destinations="anna@e.org\r\n"),
            Alias(
                domain=example, local_part="spc", destinations=" x@y.org  anna@e.org"
            ),
        ]
    )
    assert sources("anna@e.org") == {
        "tab@example.org",
        "crlf@example.org",
        "spc@example.org",
    }
    for a in Alias.objects.all():
        assert "anna@e.org" in a.destination_list


def test_a_mailbox_page_lists_the_aliases_that_deliver_to_it(admin_client, example):
    mailbox = Mailbox.objects.create(
        domain=example, local_part="anna", password="{PLAIN}x"
    )
    alias(example, "info", "anna@example.org")
    alias(example, "other", "joanna@example.org")
    html = admin_client.get(f"/admin/domains/mailbox/{mailbox.pk}/change/")
    field = re.search(
        r"field-aliases_here.*?</div>\s*</div>", html.content.decode(), re.S
    )
    assert field is not None
    assert "info@example.org" in field.group()
    assert "other@example.org" not in field.group()


@pytest.mark.postgres
def test_an_index_answers_it_on_postgresql(example):
    if connection.vendor != "postgresql":
        pytest.fail("index use is checked on PostgreSQL; set DATABASE_URL")
    Alias.objects.bulk_create(
        Alias(domain=example, local_part=f"a{i}", destinations=f"u{i}@example.org")
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE domains_alias")
        # Whether the index can answer it, not the planner's choice.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = aliases_delivering_to("u7@example.org").explain()
    assert "Bitmap Index Scan on domains_alias_destinations_trgm" in plan
