"""The mailbox and alias lists' domain filter: a text box, not a link per domain."""

import re

import pytest

from domains.models import Alias, Domain, Mailbox

pytestmark = pytest.mark.django_db

MAILBOXES = "/admin/domains/mailbox/"
ALIASES = "/admin/domains/alias/"


def mailbox(domain: Domain, local_part: str) -> Mailbox:
    return Mailbox.objects.create(
        domain=domain, local_part=local_part, password="{PLAIN}x"
    )


def alias(domain: Domain, local_part: str) -> Alias:
    return Alias.objects.create(
        domain=domain, local_part=local_part, destinations="x@example.net"
    )


def rows(html: str) -> list[str]:
    """The first column of each row of the result list."""
    return re.findall(r'<th class="field-[a-z_]+"><a href="[^"]*">([^<]*)</a>', html)


def test_it_lists_the_mailboxes_of_the_named_domain(admin_client):
    a = Domain.objects.create(name="a.example")
    b = Domain.objects.create(name="b.example")
    mailbox(a, "anna")
    mailbox(b, "ben")
    html = admin_client.get(MAILBOXES, {"domain": "a.example"}).content.decode()
    assert rows(html) == ["anna@a.example"]


def test_it_lists_the_aliases_of_the_named_domain(admin_client):
    a = Domain.objects.create(name="a.example")
    b = Domain.objects.create(name="b.example")
    alias(a, "info")
    alias(b, "sales")
    html = admin_client.get(ALIASES, {"domain": "b.example"}).content.decode()
    assert rows(html) == ["sales@b.example"]


def test_it_takes_the_name_in_any_form(admin_client):
    idn = Domain.objects.create(name="xn--bcher-kva.example")
    mailbox(idn, "anna")
    mailbox(Domain.objects.create(name="other.example"), "ben")
    for typed in ("Bücher.example", " xn--bcher-kva.example. "):
        html = admin_client.get(MAILBOXES, {"domain": typed}).content.decode()
        assert rows(html) == ["anna@bücher.example"]


@pytest.mark.parametrize("typed", ["nosuch.example", "not a domain"])
def test_it_lists_nothing_for_a_name_no_domain_has(admin_client, typed):
    mailbox(Domain.objects.create(name="a.example"), "anna")
    response = admin_client.get(MAILBOXES, {"domain": typed})
    assert response.status_code == 200
    assert rows(response.content.decode()) == []


@pytest.mark.parametrize("url", [MAILBOXES, ALIASES])
def test_it_does_not_list_the_domains(admin_client, url):
    Domain.objects.bulk_create(Domain(name=f"d{i}.example") for i in range(30))
    html = admin_client.get(url).content.decode()
    assert "d17.example" not in html
    assert "domain__id__exact" not in html
    assert 'name="domain"' in html


def test_its_form_keeps_the_lists_other_parameters(admin_client):
    html = admin_client.get(
        MAILBOXES, {"q": "ann", "active__exact": "1", "p": "2", "domain": "a.example"}
    ).content.decode()
    form = html[html.index('class="domain-filter"') :]
    form = form[: form.index("</form>")]
    assert '<input type="hidden" name="q" value="ann">' in form
    assert '<input type="hidden" name="active__exact" value="1">' in form
    assert 'name="p"' not in form
    assert 'value="a.example"' in form


def test_the_domain_list_links_each_count_to_the_filtered_list(admin_client):
    a = Domain.objects.create(name="a.example")
    mailbox(a, "anna")
    alias(a, "info")
    html = admin_client.get("/admin/domains/domain/").content.decode()
    assert f'<a href="{MAILBOXES}?domain=a.example">1</a>' in html
    assert f'<a href="{ALIASES}?domain=a.example">1</a>' in html
