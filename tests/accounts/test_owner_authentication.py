"""authenticate_owner(): a failed login costs the same whoever it was for.

Issue 22: a wrong password for a mailbox still on an imported hash took
57 ms, against 78 ms for an unknown address or an Argon2 mailbox, so the
login told which mailboxes exist and are old. Every failed login must pay at
least one verification in the configured scheme at the configured cost. The
tests watch which hashes are verified (the real verifier runs); times are
printed by bench/login_timing.py, never asserted here.
"""

import pytest
from passlib.hash import md5_crypt, sha512_crypt

from accounts.owners import authenticate_owner
from domains import passwords
from domains.models import Mailbox
from tests.accounts.conftest import ADDRESS
from tests.domains.utils import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not the password"  # noqa: S105

OLD_HASHES = {
    "SHA512-CRYPT": lambda: "{SHA512-CRYPT}" + sha512_crypt.hash(PASSWORD),
    "MD5-CRYPT": lambda: "{MD5-CRYPT}" + md5_crypt.hash(PASSWORD),
    "bare $6$": lambda: sha512_crypt.hash(PASSWORD),
    "PLAIN": lambda: "{PLAIN}" + PASSWORD,
    "BLF-CRYPT": lambda: passwords.hash_password(PASSWORD, scheme="BLF-CRYPT"),
}
# Verifies nothing, quickly: as cheap as an old hash.
MALFORMED = "{SHA512-CRYPT}$6$"


@pytest.fixture
def verified(monkeypatch) -> list[str]:
    """The stored values verified, in order; the real verifier still runs."""
    calls: list[str] = []
    real = passwords.verify_password

    def spy(password: str, stored: str) -> bool:
        calls.append(stored)
        return real(password, stored)

    monkeypatch.setattr(passwords, "verify_password", spy)
    return calls


def paid_full_cost(verified: list[str]) -> bool:
    """One of them was a hash the configured scheme and costs would make."""
    return any(not passwords.needs_rehash(stored) for stored in verified)


@pytest.mark.parametrize(
    "address", ["nobody@example.org", "not an address", "", "alice@unknown.test"]
)
def test_an_unknown_address_costs_a_current_hash(mailbox, verified, address):
    assert authenticate_owner(address, WRONG) is None

    assert paid_full_cost(verified)


def test_a_wrong_password_on_a_current_hash_costs_one_verification(mailbox, verified):
    assert authenticate_owner(ADDRESS, WRONG) is None

    assert verified == [mailbox.password]


@pytest.mark.parametrize("kind", [*OLD_HASHES, "malformed"])
def test_a_wrong_password_on_an_old_hash_costs_a_current_hash_too(
    mailbox, verified, kind
):
    old = MALFORMED if kind == "malformed" else OLD_HASHES[kind]()
    Mailbox.objects.filter(pk=mailbox.pk).update(password=old)

    assert authenticate_owner(ADDRESS, WRONG) is None

    assert verified[0] == old
    assert paid_full_cost(verified)
    assert Mailbox.objects.get(pk=mailbox.pk).password == old


def test_a_cheaper_argon2_hash_costs_a_current_hash_too(mailbox, verified, settings):
    cheap = passwords.hash_password(PASSWORD)
    Mailbox.objects.filter(pk=mailbox.pk).update(password=cheap)
    settings.MAILPANEL_ARGON2_TIME_COST += 1

    assert authenticate_owner(ADDRESS, WRONG) is None

    assert paid_full_cost(verified)


def test_the_dummy_follows_the_configured_scheme(mailbox, verified, settings):
    settings.MAILPANEL_PASSWORD_SCHEME = "BLF-CRYPT"

    assert authenticate_owner("nobody@example.org", WRONG) is None
    assert authenticate_owner(ADDRESS, WRONG) is None

    assert passwords.hash_scheme(verified[0]) == "BLF-CRYPT"
    assert paid_full_cost(verified[1:])


@pytest.mark.parametrize("kind", OLD_HASHES)
def test_the_right_password_on_an_old_hash_logs_in_and_upgrades(mailbox, kind):
    Mailbox.objects.filter(pk=mailbox.pk).update(password=OLD_HASHES[kind]())

    assert authenticate_owner(ADDRESS, PASSWORD) == mailbox

    assert not passwords.needs_rehash(Mailbox.objects.get(pk=mailbox.pk).password)
