"""Each admin page runs a constant number of SQL statements, at most 10,
whatever the number of rows it shows (bench/admin.py measures the same pages
on 100,000 mailboxes)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from domains.models import Alias, Domain, Mailbox, SendAsIdentity

pytestmark = pytest.mark.django_db

MAX_QUERIES = 10
FEW, MANY = 3, 30


@pytest.fixture
def anna(db) -> Mailbox:
    domain = Domain.objects.create(name="example.org")
    return Mailbox.objects.create(domain=domain, local_part="anna", password="{PLAIN}x")


def add_domains(start: int, stop: int) -> None:
    """Domains ``start`` to ``stop``, each with two mailboxes and two aliases."""
    domains = Domain.objects.bulk_create(
        Domain(name=f"d{i}.example") for i in range(start, stop)
    )
    Mailbox.objects.bulk_create(
        Mailbox(domain=d, local_part=f"user{j}", password="{PLAIN}x", quota=1024)
        for d in domains
        for j in range(2)
    )
    Alias.objects.bulk_create(
        Alias(domain=d, local_part=f"alias{j}", destinations="x@example.net")
        for d in domains
        for j in range(2)
    )


def add_mailboxes(anna: Mailbox, start: int, stop: int) -> None:
    Mailbox.objects.bulk_create(
        Mailbox(domain=anna.domain, local_part=f"user{i}", password="{PLAIN}x")
        for i in range(start, stop)
    )


def add_aliases(anna: Mailbox, start: int, stop: int) -> None:
    """Aliases that deliver to anna, and addresses she may send as."""
    Alias.objects.bulk_create(
        Alias(domain=anna.domain, local_part=f"alias{i}", destinations=anna.address)
        for i in range(start, stop)
    )
    SendAsIdentity.objects.bulk_create(
        SendAsIdentity(mailbox=anna, address=f"anna{i}@example.net")
        for i in range(start, stop)
    )


# page: (what adds rows start..stop, the URL)
PAGES = {
    "admin index": (lambda anna, a, b: add_domains(a, b), lambda anna: "/admin/"),
    "domain list": (
        lambda anna, a, b: add_domains(a, b),
        lambda anna: "/admin/domains/domain/",
    ),
    "mailbox list": (
        lambda anna, a, b: add_domains(a, b),
        lambda anna: "/admin/domains/mailbox/",
    ),
    "one domain's mailboxes": (
        add_mailboxes,
        lambda anna: "/admin/domains/mailbox/?domain=example.org",
    ),
    "mailbox search": (add_mailboxes, lambda anna: "/admin/domains/mailbox/?q=user"),
    "mailbox change page": (
        add_aliases,
        lambda anna: f"/admin/domains/mailbox/{anna.pk}/change/",
    ),
    "alias list": (add_aliases, lambda anna: "/admin/domains/alias/"),
    "alias search": (add_aliases, lambda anna: "/admin/domains/alias/?q=alias"),
}


def statements(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in queries]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_runs_the_same_statements_for_3_and_30_rows(
    admin_client, anna, page, django_assert_max_num_queries
):
    add_rows, url = PAGES[page]
    add_rows(anna, 0, FEW)
    # Once untimed: the first request also loads what every process caches
    # (content types).
    admin_client.get(url(anna))
    with django_assert_max_num_queries(MAX_QUERIES) as few:
        assert admin_client.get(url(anna)).status_code == 200
    add_rows(anna, FEW, MANY)
    with django_assert_max_num_queries(MAX_QUERIES) as many:
        response = admin_client.get(url(anna))
    assert response.status_code == 200
    assert len(many) == len(few)


@pytest.mark.parametrize(
    "url",
    ["/admin/domains/mailbox/", "/admin/domains/alias/", "/admin/domains/domain/"],
)
def test_each_list_counts_its_rows_once(admin_client, url):
    # The second COUNT (of the whole table, for "N total") is turned off.
    add_domains(0, 2)
    counts = [s for s in statements(admin_client, url) if "COUNT(*)" in s]
    assert len(counts) == 1
