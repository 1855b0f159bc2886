"""No hosted address is longer than the 254 characters SMTP allows.

A 64-character local part on a 253-character domain passed full_clean() and
then broke the lookup rows' varchar(254) on PostgreSQL: a 500 in the admin
(issue 22). Each way of making such an address is a validation error now,
alias domains included (their names are in the lookup rows too).
"""

import pytest
from django.core.exceptions import ValidationError

from domains.models import Alias, Domain, DomainAlias, Mailbox
from tests.domains.test_admin_forms import mailbox_form
from tests.domains.utils import PASSWORD, saved, table_counts

pytestmark = pytest.mark.django_db

# 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters, the longest domain name.
LONG_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


def assert_too_long(obj, field: str) -> None:
    before = table_counts()
    with pytest.raises(ValidationError) as excinfo:
        saved(obj)
    assert "254" in " ".join(excinfo.value.message_dict[field])
    assert table_counts() == before


@pytest.fixture
def long_domain(db) -> Domain:
    assert len(LONG_DOMAIN) == 253
    return saved(Domain(name=LONG_DOMAIN))


def test_it_refuses_a_mailbox_whose_address_is_too_long(long_domain):
    mailbox = Mailbox(domain=long_domain, local_part="x" * 64)
    mailbox.set_password(PASSWORD)
    assert_too_long(mailbox, "local_part")


def test_it_refuses_an_alias_whose_address_is_too_long(long_domain):
    alias = Alias(domain=long_domain, local_part="x", destinations="a@b.example")
    assert_too_long(alias, "local_part")


def test_it_takes_an_address_of_exactly_254_characters(db):
    name = ".".join(["a" * 63, "b" * 63, "c" * 61])  # 189 characters
    domain = saved(Domain(name=name))
    mailbox = Mailbox(domain=domain, local_part="x" * (254 - 1 - len(name)))
    mailbox.set_password(PASSWORD)
    assert len(saved(mailbox).address) == 254
    assert saved(Alias(domain=domain, local_part="", destinations="a@b.example"))


def test_it_counts_the_alias_domains_names(domain):
    saved(DomainAlias(name=LONG_DOMAIN, target=domain))
    mailbox = Mailbox(domain=domain, local_part="bob")
    mailbox.set_password(PASSWORD)
    assert_too_long(mailbox, "local_part")
    alias = Alias(domain=domain, local_part="sales", destinations="a@b.example")
    assert_too_long(alias, "local_part")


def test_it_refuses_an_alias_domain_that_would_make_an_address_too_long(
    domain, make_mailbox
):
    make_mailbox(domain, "x" * 30)
    assert_too_long(DomainAlias(name=LONG_DOMAIN, target=domain), "name")


def test_it_refuses_a_domain_rename_that_would_make_an_address_too_long(
    domain, make_alias
):
    make_alias(domain, "sales", "a@b.example")
    domain.name = LONG_DOMAIN
    with pytest.raises(ValidationError) as excinfo:
        saved(domain)
    assert "254" in " ".join(excinfo.value.message_dict["name"])
    assert Domain.objects.get().name == "example.org"


def test_the_admin_shows_an_error_instead_of_failing(admin_client, long_domain):
    before = table_counts()
    response = admin_client.post(
        "/admin/domains/mailbox/add/",
        mailbox_form(long_domain, local_part="x" * 64),
    )
    assert response.status_code == 200
    assert "254" in response.content.decode()
    assert table_counts() == before
