"""One address never expands to more than MAILPANEL_ALIAS_EXPANSION_LIMIT addresses.

Postfix counts, per original recipient, the addresses virtual alias expansion
ends with (``virtual_alias_expansion_limit``, rendered from the same setting)
and defers the whole message beyond it. So the model counts the same way,
through forwards, aliases, alias domains and catch-alls, for the address
being saved and for every address whose mail passes through it: what the
panel accepts, Postfix delivers.
"""

import pytest
from django.core.exceptions import ValidationError

from domains.models import Alias, DomainAlias, Forward
from tests.domains.utils import saved, table_counts

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture(autouse=True)
def limit(settings):
    settings.MAILPANEL_ALIAS_EXPANSION_LIMIT = LIMIT


def outside(count: int, prefix: str = "t") -> str:
    return "\n".join(f"{prefix}{n}@elsewhere.example" for n in range(count))


def assert_refused(obj, message: str = "would go to") -> str:
    before = table_counts()
    with pytest.raises(ValidationError) as excinfo:
        saved(obj)
    text = " ".join(excinfo.value.messages)
    assert message in text
    assert table_counts() == before
    return text


def test_it_takes_a_forward_of_exactly_the_limit(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    saved(Forward(mailbox=alice, destinations=outside(LIMIT), keep_copy=False))
    forward = Forward.objects.get()
    forward.destinations = outside(LIMIT - 1)
    forward.keep_copy = True  # the copy kept in the mailbox is one address
    saved(forward)


def test_it_refuses_a_forward_beyond_the_limit(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    text = assert_refused(
        Forward(mailbox=alice, destinations=outside(LIMIT + 1), keep_copy=False)
    )
    assert f"6 addresses; at most {LIMIT}" in text


def test_the_kept_copy_counts(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    assert_refused(Forward(mailbox=alice, destinations=outside(LIMIT), keep_copy=True))


def test_it_refuses_3000_targets_at_the_default_limit(domain, make_mailbox, settings):
    settings.MAILPANEL_ALIAS_EXPANSION_LIMIT = 50
    alice = make_mailbox(domain, "alice")
    assert_refused(Forward(mailbox=alice, destinations=outside(3000)))


def test_it_refuses_an_alias_beyond_the_limit(domain):
    assert_refused(
        Alias(domain=domain, local_part="all", destinations=outside(LIMIT + 1))
    )


def test_it_refuses_a_catch_all_beyond_the_limit(domain):
    assert_refused(Alias(domain=domain, local_part="", destinations=outside(6)))


def test_it_counts_through_aliases_and_forwards(domain, make_mailbox, make_alias):
    # team → alice (and her 3 forwards, with the copy: 4) + bob (1) = 5.
    alice = make_mailbox(domain, "alice")
    make_mailbox(domain, "bob")
    saved(Forward(mailbox=alice, destinations=outside(3)))
    make_alias(domain, "team", "alice@example.org\nbob@example.org")
    # One more behind "team" is one too many.
    text = assert_refused(
        Alias(
            domain=domain,
            local_part="all",
            destinations="team@example.org\nx@elsewhere.example",
        )
    )
    assert "all@example.org" in text


def test_it_refuses_a_change_that_makes_another_address_expand_too_far(
    domain, make_mailbox, make_alias
):
    alice = make_mailbox(domain, "alice")
    make_alias(domain, "team", "alice@example.org\n" + outside(3, "m"))
    # alice alone would reach 3 (with her copy), within the limit; mail to
    # team would then reach 3 + 3 = 6.
    text = assert_refused(Forward(mailbox=alice, destinations=outside(2)))
    assert "team@example.org" in text


def test_it_follows_alias_domains(domain, make_mailbox):
    saved(DomainAlias(name="alias.example", target=domain))
    alice = make_mailbox(domain, "alice")
    saved(Forward(mailbox=alice, destinations=outside(3)))
    # alice@alias.example → alice@example.org → 4 addresses; plus 2 = 6.
    assert_refused(
        Alias(
            domain=domain,
            local_part="all",
            destinations="alice@alias.example\n" + outside(2, "o"),
        )
    )


def test_it_follows_a_catch_all_for_an_address_without_its_own_row(domain, make_alias):
    make_alias(domain, "", outside(4))
    # nobody@example.org has no row of its own: Postfix takes the catch-all.
    assert_refused(
        Alias(
            domain=domain,
            local_part="all",
            destinations="nobody@example.org\nx@elsewhere.example\ny@else.example",
        )
    )
