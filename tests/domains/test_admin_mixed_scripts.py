"""The admin saves mixed-script domain names, and warns about them (UTS #39)."""

import pytest
from django.contrib.messages import WARNING

from domains.models import Domain, DomainAlias
from tests.domains.utils import saved

pytestmark = pytest.mark.django_db

LOOKALIKE = "ex\u0430mple.test"  # a Cyrillic "а"


def domain_form(name: str, alias: str = "") -> dict:
    return {
        "name": name,
        "active": "on",
        "description": "",
        "max_mailboxes": "0",
        "max_aliases": "0",
        "quota": "0",
        "default_mailbox_quota": "0",
        "alias_domains-TOTAL_FORMS": "1" if alias else "0",
        "alias_domains-INITIAL_FORMS": "0",
        "alias_domains-0-name": alias,
        "alias_domains-0-active": "on",
    }


def warnings(response) -> list[str]:
    return [m.message for m in response.context["messages"] if m.level == WARNING]


def test_it_saves_a_mixed_script_domain_with_a_warning(admin_client):
    response = admin_client.post(
        "/admin/domains/domain/add/", domain_form(LOOKALIKE), follow=True
    )

    assert response.status_code == 200
    assert Domain.objects.get().name == "xn--exmple-4nf.test"
    [warning] = warnings(response)
    assert "ex\u0430mple" in warning
    assert "Latin" in warning and "Cyrillic" in warning
    assert "xn--exmple-4nf.test" in warning


@pytest.mark.parametrize("name", ["example.test", "пример.рф", "ソニーsony.jp"])
def test_it_does_not_warn_about_a_single_script_name(admin_client, name):
    response = admin_client.post(
        "/admin/domains/domain/add/", domain_form(name), follow=True
    )

    assert Domain.objects.count() == 1
    assert warnings(response) == []


def test_it_warns_about_an_alias_domain_added_inline(admin_client):
    response = admin_client.post(
        "/admin/domains/domain/add/",
        domain_form("example.test", alias=LOOKALIKE),
        follow=True,
    )

    assert DomainAlias.objects.get().name == "xn--exmple-4nf.test"
    [warning] = warnings(response)
    assert "ex\u0430mple" in warning


def test_it_warns_about_an_alias_domain_added_on_its_own(admin_client):
    target = saved(Domain(name="example.org"))

    response = admin_client.post(
        "/admin/domains/domainalias/add/",
        {"name": LOOKALIKE, "target": target.pk, "active": "on"},
        follow=True,
    )

    assert DomainAlias.objects.get().name == "xn--exmple-4nf.test"
    assert len(warnings(response)) == 1
