"""The admin's domain list: its counts, and what computing them costs."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from domains.models import Alias, Domain, Mailbox

pytestmark = pytest.mark.django_db

URL = "/admin/domains/domain/"


def seed(domains: int, mailboxes: int, aliases: int) -> list[Domain]:
    created = Domain.objects.bulk_create(
        Domain(name=f"d{i}.example") for i in range(domains)
    )
    Mailbox.objects.bulk_create(
        Mailbox(domain=d, local_part=f"u{j}", password="{PLAIN}x", quota=1024)
        for d in created
        for j in range(mailboxes)
    )
    Alias.objects.bulk_create(
        Alias(domain=d, local_part=f"a{j}", destinations="x@example.net")
        for d in created
        for j in range(aliases)
    )
    return created


def statements(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in queries]


def test_it_shows_each_domains_counts_and_allocated_quota(admin_client):
    seed(1, mailboxes=3, aliases=2)
    Domain.objects.create(name="empty.example")
    html = admin_client.get(URL).content.decode()
    assert re.search(r'class="field-mailbox_count"><a [^>]*>3<', html)
    assert re.search(r'class="field-alias_count"><a [^>]*>2<', html)
    assert 'class="field-quota_allocated">3.0\xa0KiB<' in html
    assert re.search(r'class="field-mailbox_count"><a [^>]*>0<', html)
    assert re.search(r'class="field-alias_count"><a [^>]*>0<', html)


def test_it_sorts_by_a_count(admin_client):
    [small, big] = seed(2, mailboxes=0, aliases=0)
    Mailbox.objects.create(domain=big, local_part="u1", password="{PLAIN}x")
    Mailbox.objects.create(domain=big, local_part="u2", password="{PLAIN}x")
    Mailbox.objects.create(domain=small, local_part="u1", password="{PLAIN}x")
    # list_display[2] is the mailbox count; "-" sorts descending.
    html = admin_client.get(URL + "?o=-2").content.decode()
    assert html.index("d1.example") < html.index("d0.example")


def test_it_counts_the_list_once_per_request(admin_client):
    seed(3, mailboxes=2, aliases=2)
    counts = [s for s in statements(admin_client, URL) if "COUNT(*)" in s]
    assert len(counts) == 1


def test_its_count_reads_neither_mailboxes_nor_aliases(admin_client):
    # The paginator only needs the number of domains: with the counts joined
    # and grouped it aggregated every mailbox times every alias.
    seed(3, mailboxes=2, aliases=2)
    [count] = [s for s in statements(admin_client, URL) if "COUNT(*)" in s]
    assert "domains_mailbox" not in count
    assert "domains_alias" not in count


def test_it_groups_nothing(admin_client):
    # Each count is a subquery of its own, evaluated for the page's rows only.
    seed(3, mailboxes=2, aliases=2)
    for statement in statements(admin_client, URL):
        assert 'GROUP BY "domains_domain"' not in statement
