"""List pages run a constant number of queries, whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from domains import lookups
from domains.models import Alias, Domain, Mailbox

pytestmark = pytest.mark.django_db

MAX_QUERIES = 10


def seed(domains: int, mailboxes_per_domain: int, prefix: str = "d") -> list[Domain]:
    created = Domain.objects.bulk_create(
        Domain(name=f"{prefix}{i}.example") for i in range(domains)
    )
    Mailbox.objects.bulk_create(
        Mailbox(domain=d, local_part=f"u{j}", password="{PLAIN}x", quota=1024)
        for d in created
        for j in range(mailboxes_per_domain)
    )
    Alias.objects.bulk_create(
        Alias(domain=d, local_part=f"a{j}", destinations="x@example.net")
        for d in created
        for j in range(3)
    )
    lookups.sync_domains(d.pk for d in created)
    return created


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_domain_list_runs_constant_queries(admin_client):
    seed(5, 2)
    few = count_queries(admin_client, "/admin/domains/domain/")
    seed_more = Domain.objects.count()
    Domain.objects.bulk_create(Domain(name=f"more{i}.example") for i in range(45))
    assert Domain.objects.count() == seed_more + 45
    many = count_queries(admin_client, "/admin/domains/domain/")
    assert few == many <= MAX_QUERIES


def test_the_domain_list_shows_counts_and_quota(admin_client):
    seed(1, 3)
    response = admin_client.get("/admin/domains/domain/")
    row = response.content.decode()
    assert 'class="field-mailbox_count">3<' in row
    assert 'class="field-alias_count">3<' in row
    assert 'class="field-quota_allocated">3.0\xa0KiB<' in row


def test_a_domains_mailbox_list_runs_constant_queries(admin_client):
    [small] = seed(1, 5)
    url = f"/admin/domains/mailbox/?domain__id__exact={small.pk}"
    few = count_queries(admin_client, url)
    Mailbox.objects.bulk_create(
        Mailbox(domain=small, local_part=f"extra{j}", password="{PLAIN}x")
        for j in range(95)
    )
    many = count_queries(admin_client, url)
    assert few == many <= MAX_QUERIES


def test_the_alias_list_runs_constant_queries(admin_client):
    seed(2, 1)
    few = count_queries(admin_client, "/admin/domains/alias/")
    seed(10, 1, prefix="more")
    assert count_queries(admin_client, "/admin/domains/alias/") == few <= MAX_QUERIES
