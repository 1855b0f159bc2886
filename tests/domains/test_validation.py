"""Each validation rule rejects bad input with a clear message and writes nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError

from domains import services
from domains.models import Alias, Domain, DomainAlias, Forward, Mailbox, SendAsIdentity
from tests.domains.utils import PASSWORD, saved, table_counts

pytestmark = pytest.mark.django_db


def assert_rejected(obj, message: str) -> None:
    before = table_counts()
    with pytest.raises(ValidationError) as excinfo:
        saved(obj)
    assert message in " ".join(excinfo.value.messages)
    assert table_counts() == before


def test_it_rejects_an_invalid_domain_name():
    assert_rejected(Domain(name="not a domain"), "not a valid domain name")


def test_it_rejects_a_duplicate_domain_in_another_spelling(domain):
    assert_rejected(Domain(name="EXAMPLE.org."), "already exists")


def test_it_rejects_a_domain_that_is_an_alias_domain(domain):
    saved(DomainAlias(name="alias.example", target=domain))
    assert_rejected(Domain(name="alias.example"), "already an alias domain")


def test_it_rejects_a_domain_alias_that_targets_itself(domain):
    assert_rejected(DomainAlias(name="example.org", target=domain), "hosted domain")


def test_it_rejects_a_domain_alias_that_targets_another_alias_domain(domain):
    # The target is always a hosted Domain; an alias domain's name can never be
    # a hosted domain, so alias → alias chains cannot be expressed.
    saved(DomainAlias(name="first.example", target=domain))
    assert_rejected(DomainAlias(name="first.example", target=domain), "already exists")


def test_it_rejects_a_bad_local_part(domain):
    assert_rejected(
        Mailbox(domain=domain, local_part="a..b", password="x"), "not allowed"
    )


def test_it_rejects_a_mailbox_that_is_an_alias(domain, make_alias):
    make_alias(domain, "sales", "someone@elsewhere.example")
    assert_rejected(
        Mailbox(domain=domain, local_part="Sales", password="x"), "already an alias"
    )


def test_it_rejects_an_alias_that_is_a_mailbox(domain, make_mailbox):
    make_mailbox(domain, "alice")
    assert_rejected(
        Alias(domain=domain, local_part="alice", destinations="x@elsewhere.example"),
        "already a mailbox",
    )


def test_the_database_refuses_a_mailbox_that_is_an_alias(domain, make_alias):
    # Bypassing clean() still cannot make an address both: the lookup table's
    # unique index refuses the second row and the transaction is rolled back.
    make_alias(domain, "sales", "someone@elsewhere.example")
    before = table_counts()
    mailbox = Mailbox(domain=domain, local_part="sales", password="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        mailbox.save()
    assert table_counts() == before


def test_it_rejects_an_alias_with_a_bad_destination(domain):
    assert_rejected(
        Alias(domain=domain, local_part="a", destinations="ok@example.net, broken@"),
        "not a mail address",
    )


def test_it_rejects_an_alias_pointing_at_itself(domain):
    assert_rejected(
        Alias(domain=domain, local_part="a", destinations="A@example.org"),
        "cannot point at itself",
    )


def test_it_rejects_an_alias_loop(domain, make_alias):
    make_alias(domain, "a", "b@example.org")
    make_alias(domain, "b", "c@example.org")
    assert_rejected(
        Alias(domain=domain, local_part="c", destinations="a@example.org"),
        "loop: c@example.org → a@example.org → b@example.org → c@example.org",
    )


def test_it_rejects_a_loop_through_a_domain_alias(domain, make_alias):
    saved(DomainAlias(name="alias.example", target=domain))
    make_alias(domain, "a", "b@alias.example")
    assert_rejected(
        Alias(domain=domain, local_part="b", destinations="a@alias.example"),
        "loop",
    )


def test_it_rejects_a_forward_loop(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    bob = make_mailbox(domain, "bob")
    saved(Forward(mailbox=alice, destinations="bob@example.org"))
    assert_rejected(
        Forward(mailbox=bob, destinations="alice@example.org"),
        "loop: bob@example.org → alice@example.org → bob@example.org",
    )


def test_it_rejects_a_loop_between_a_forward_and_an_alias(
    domain, make_mailbox, make_alias
):
    alice = make_mailbox(domain, "alice")
    make_alias(domain, "team", "alice@example.org")
    assert_rejected(Forward(mailbox=alice, destinations="team@example.org"), "loop")


def test_it_rejects_a_forward_to_the_mailbox_itself(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    assert_rejected(
        Forward(mailbox=alice, destinations="alice@example.org"), "keep a copy"
    )


def test_it_allows_a_chain_that_is_not_a_loop(domain, make_mailbox, make_alias):
    make_mailbox(domain, "alice")
    make_alias(domain, "a", "b@example.org")
    make_alias(domain, "b", "alice@example.org, c@example.net")
    assert Alias.objects.count() == 2


def test_it_enforces_the_mailbox_limit(domain, make_mailbox):
    domain.max_mailboxes = 1
    saved(domain)
    make_mailbox(domain, "alice")
    assert_rejected(
        Mailbox(domain=domain, local_part="bob", password="x"), "maximum of 1 mailboxes"
    )


def test_it_enforces_the_alias_limit(domain, make_alias):
    domain.max_aliases = 1
    saved(domain)
    make_alias(domain, "a", "x@example.net")
    assert_rejected(
        Alias(domain=domain, local_part="b", destinations="x@example.net"),
        "maximum of 1 aliases",
    )


def test_it_rejects_a_quota_above_what_the_domain_has_left(domain, make_mailbox):
    domain.quota = 1000
    saved(domain)
    make_mailbox(domain, "alice", quota=600)
    assert_rejected(
        Mailbox(domain=domain, local_part="bob", password="x", quota=500),
        "Only 400 bytes",
    )


def test_it_requires_a_mailbox_quota_when_the_domain_has_a_total(domain):
    domain.quota = 1000
    saved(domain)
    assert_rejected(
        Mailbox(domain=domain, local_part="bob", password="x", quota=0),
        "needs a quota of its own",
    )


def test_it_gives_new_mailboxes_the_domains_default_quota(domain, make_mailbox):
    domain.default_mailbox_quota = 500
    saved(domain)
    assert make_mailbox(domain, "alice").quota == 500


def test_it_rejects_a_domain_total_below_the_allocated_quota(domain, make_mailbox):
    make_mailbox(domain, "alice", quota=600)
    domain.quota = 500
    with pytest.raises(ValidationError, match="cannot be smaller"):
        saved(domain)
    domain.refresh_from_db()
    assert domain.quota == 0


def test_it_rejects_a_default_quota_above_the_total(db):
    assert_rejected(
        Domain(name="example.net", quota=100, default_mailbox_quota=200),
        "cannot be larger",
    )


def test_the_database_refuses_negative_quotas(domain):
    with pytest.raises(IntegrityError), transaction.atomic():
        Domain.objects.filter(pk=domain.pk).update(quota=-1)


def test_it_rejects_an_identity_that_is_the_mailbox_itself(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    assert_rejected(
        SendAsIdentity(mailbox=alice, address="Alice@example.org"), "always send as"
    )


def test_it_rejects_a_weak_password_and_creates_nothing(domain):
    before = table_counts()
    with pytest.raises(ValidationError, match="too common|too short"):
        services.mailbox_create(domain=domain, local_part="bob", password="password")
    assert table_counts() == before


def test_it_refuses_to_delete_a_domain_with_mailboxes_unless_confirmed(
    domain, make_mailbox
):
    make_mailbox(domain, "alice")
    before = table_counts()
    with pytest.raises(ValidationError, match="confirm"):
        services.domain_delete(domain=domain)
    with pytest.raises(ProtectedError):
        domain.delete()
    assert table_counts() == before
    services.domain_delete(domain=domain, delete_mailboxes=True)
    assert set(table_counts().values()) == {0}


def test_a_mailbox_password_is_only_stored_as_a_hash(domain):
    mailbox = services.mailbox_create(
        domain=domain, local_part="bob", password=PASSWORD
    )
    assert PASSWORD not in mailbox.password
    assert mailbox.password.startswith("{")
    assert mailbox.check_password(PASSWORD)
    assert not mailbox.check_password(PASSWORD + "x")
