import pytest

from domains.models import Alias, Domain, Mailbox
from tests.domains.utils import PASSWORD, saved


@pytest.fixture
def domain(db) -> Domain:
    return saved(Domain(name="example.org"))


@pytest.fixture
def make_mailbox(db):
    def make(domain: Domain, local_part: str, **fields) -> Mailbox:
        mailbox = Mailbox(domain=domain, local_part=local_part, **fields)
        mailbox.set_password(PASSWORD)
        return saved(mailbox)

    return make


@pytest.fixture
def make_alias(db):
    def make(domain: Domain, local_part: str, destinations: str, **fields) -> Alias:
        alias = Alias(
            domain=domain, local_part=local_part, destinations=destinations, **fields
        )
        return saved(alias)

    return make
