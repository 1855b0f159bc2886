import pytest

from domains import passwords
from tests.domains.utils import PASSWORD, lookup

pytestmark = pytest.mark.django_db


def test_it_upgrades_an_old_hash_at_login(domain, make_mailbox):
    mailbox = make_mailbox(domain, "alice")
    # A SHA512-CRYPT hash as imported from another panel.
    from passlib.hash import sha512_crypt

    mailbox.password = "{SHA512-CRYPT}" + sha512_crypt.hash(PASSWORD)
    mailbox.save()
    assert mailbox.check_password(PASSWORD)
    mailbox.refresh_from_db()
    assert passwords.hash_scheme(mailbox.password) == "ARGON2ID"
    # Dovecot sees the upgraded hash at its next lookup.
    stored = lookup(
        "mailpanel_dovecot_passdb", "password", "username", "alice@example.org"
    )
    assert set(stored) == {mailbox.password}


def test_a_wrong_password_does_not_upgrade_the_hash(domain, make_mailbox):
    mailbox = make_mailbox(domain, "alice")
    mailbox.password = (
        "{BLF-CRYPT}" + passwords.hash_password(PASSWORD, "BLF-CRYPT")[11:]
    )
    mailbox.save()
    old = mailbox.password
    assert not mailbox.check_password("wrong")
    mailbox.refresh_from_db()
    assert mailbox.password == old
