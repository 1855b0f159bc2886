"""domains.search.alias_search: the admin's alias search."""

import pytest
from django.db import connection

from domains.models import Alias, Domain
from domains.search import alias_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def aliases():
    example = Domain.objects.create(name="example.org")
    other = Domain.objects.create(name="other.net")
    rows = [
        (example, "info", "anna@example.org", "Front Desk"),
        (example, "sales", "ben@example.org\njoanna@partner.example", ""),
        (example, "", "anna@example.org", ""),  # the catch-all
        (other, "info", "carla@other.net", ""),
        (other, "team_a", "x@elsewhere.example", "Sales team"),
    ]
    for domain, local_part, destinations, description in rows:
        Alias.objects.create(
            domain=domain,
            local_part=local_part,
            destinations=destinations,
            description=description,
        )


def found(text: str) -> set[str]:
    return {a.source for a in alias_search(Alias.objects.all(), text)}


def test_it_finds_part_of_a_local_part_or_domain(aliases):
    assert found("nfo") == {"info@example.org", "info@other.net"}
    assert found("other") == {"info@other.net", "team_a@other.net"}


def test_it_finds_part_of_a_destination(aliases):
    assert found("joanna") == {"sales@example.org"}
    assert found("partner") == {"sales@example.org"}


def test_it_finds_part_of_a_description_in_any_case(aliases):
    assert found("desk") == {"info@example.org"}
    assert found("SALES") == {"sales@example.org", "team_a@other.net"}


def test_a_term_with_an_at_sign_is_part_of_an_address(aliases):
    # The alias's own address, or one of its destinations.
    assert found("info@ex") == {"info@example.org"}
    assert found("anna@example.org") == {"info@example.org", "@example.org"}
    # joanna@partner.example contains "anna@" too.
    assert found("anna@") == {"info@example.org", "@example.org", "sales@example.org"}
    assert found("@other.net") == {"info@other.net", "team_a@other.net"}


def test_every_term_must_match(aliases):
    assert found("info other") == {"info@other.net"}


def test_like_wildcards_are_plain_characters(aliases):
    assert found("team_a") == {"team_a@other.net"}
    assert found("%") == set()


def test_the_admin_search_box_uses_it(admin_client, aliases):
    html = admin_client.get("/admin/domains/alias/", {"q": "joanna"}).content.decode()
    assert "sales@example.org" in html
    assert "info@example.org" not in html


@pytest.mark.postgres
def test_it_can_use_an_index_for_every_part_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.fail("index use is checked on PostgreSQL; set DATABASE_URL")
    domain = Domain.objects.create(name="example.org")
    Alias.objects.bulk_create(
        Alias(domain=domain, local_part=f"alias{i}", destinations=f"u{i}@x.example")
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE domains_alias")
        # Whether an index can answer the query, not the planner's choice.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = alias_search(Alias.objects.all(), "ias12").explain()
    for index in ("local_part", "destinations", "description"):
        assert f"Bitmap Index Scan on domains_alias_{index}_trgm" in plan
