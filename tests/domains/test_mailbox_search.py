"""domains.search.mailbox_search: the admin's mailbox search."""

import pytest
from django.db import connection

from domains.models import Domain, Mailbox
from domains.search import mailbox_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailboxes():
    example = Domain.objects.create(name="example.org")
    other = Domain.objects.create(name="other.net")
    idn = Domain.objects.create(name="xn--bcher-kva.example")
    rows = [
        (example, "anna", "Anna Schmidt"),
        (example, "joanna", ""),
        (example, "anna.b", ""),
        (example, "ben.becker", "Ben Becker"),
        (example, "a_b", ""),
        (other, "anna", ""),
        (other, "axb", "Exampleton"),
        (idn, "leser", ""),
    ]
    for domain, local_part, name in rows:
        Mailbox.objects.create(
            domain=domain, local_part=local_part, name=name, password="{PLAIN}x"
        )


def found(text: str) -> set[str]:
    return {m.address for m in mailbox_search(Mailbox.objects.all(), text)}


def test_it_finds_part_of_a_local_part(mailboxes):
    assert found("becker") == {"ben.becker@example.org"}
    assert found("nna") == {
        "anna@example.org",
        "joanna@example.org",
        "anna.b@example.org",
        "anna@other.net",
    }


def test_it_finds_part_of_a_domain(mailboxes):
    assert found("other") == {"anna@other.net", "axb@other.net"}


def test_it_finds_part_of_a_display_name(mailboxes):
    assert found("schmidt") == {"anna@example.org"}


def test_it_ignores_letter_case(mailboxes):
    assert found("BECKER") == {"ben.becker@example.org"}
    assert found("OTHER.NET") == {"anna@other.net", "axb@other.net"}
    assert found("sChMiDt") == {"anna@example.org"}


def test_a_term_with_an_at_sign_is_part_of_the_address(mailboxes):
    assert found("anna@exa") == {"anna@example.org", "joanna@example.org"}
    assert found("anna@example.org") == {"anna@example.org", "joanna@example.org"}
    assert found("@other.net") == {"anna@other.net", "axb@other.net"}
    assert found("b@") == {"anna.b@example.org", "a_b@example.org", "axb@other.net"}
    assert found("anna@nosuch") == set()


def test_every_term_must_match(mailboxes):
    assert found("anna other") == {"anna@other.net"}
    assert found("anna nosuch") == set()


def test_quotes_keep_a_phrase_whole(mailboxes):
    assert found('"anna s"') == {"anna@example.org"}
    assert found("anna s") == {"anna@example.org"}  # "s" is in "Schmidt" only
    assert found('"ben b"') == {"ben.becker@example.org"}


def test_a_unicode_domain_is_found_in_either_form(mailboxes):
    assert found("bücher") == {"leser@xn--bcher-kva.example"}
    assert found("leser@Bücher.example") == {"leser@xn--bcher-kva.example"}
    assert found("xn--bcher") == {"leser@xn--bcher-kva.example"}


def test_like_wildcards_are_plain_characters(mailboxes):
    assert found("a_b") == {"a_b@example.org"}
    assert found("%") == set()


def test_a_blank_search_changes_nothing(mailboxes):
    assert len(found("  ")) == Mailbox.objects.count()


def test_the_admin_search_box_uses_it(admin_client, mailboxes):
    html = admin_client.get("/admin/domains/mailbox/", {"q": "anna@exa"})
    html = html.content.decode()
    assert "joanna@example.org" in html
    assert "anna@other.net" not in html
    assert "anna.b@example.org" not in html


@pytest.mark.postgres
def test_it_can_use_an_index_for_every_part_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.fail("index use is checked on PostgreSQL; set DATABASE_URL")
    domain = Domain.objects.create(name="example.org")
    Mailbox.objects.bulk_create(
        Mailbox(domain=domain, local_part=f"user{i}", password="{PLAIN}x")
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        # Whether an index can answer the query, not the planner's choice on
        # a table this small (a full scan of the domain_id index, here).
        cursor.execute("ANALYZE domains_mailbox")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = mailbox_search(Mailbox.objects.all(), "ser12").explain()
    assert "Bitmap Index Scan on domains_mailbox_local_part_trgm" in plan
    assert "Bitmap Index Scan on domains_mailbox_name_trgm" in plan
    # With an @: the end of the local part.
    plan = mailbox_search(Mailbox.objects.all(), "r12@").explain()
    assert "Bitmap Index Scan on domains_mailbox_local_part_trgm" in plan
