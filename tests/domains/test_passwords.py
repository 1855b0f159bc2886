"""Mailbox password hashes: creation, verification, rehash and Dovecot interop."""

import shutil
import subprocess

import argon2
import pytest

from domains.passwords import (
    SUPPORTED_HASH_SCHEMES,
    hash_password,
    hash_scheme,
    needs_rehash,
    verify_password,
)
from mailpanel import settings as production_settings
from tests.conftest import unavailable

PASSWORD = "Grüße aus Köln 1!"  # non-ASCII: Dovecot hashes the UTF-8 bytes
WRONG = "Grüße aus Köln 2!"

# Made with `doveadm pw -s SCHEME -p PASSWORD` (Dovecot 2.3.19), as an import
# from PostfixAdmin/Modoboa or an older mailpanel would contain them.
IMPORTED = {
    "ARGON2ID": "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$P4vwMnltiDDTHfA4Qe0RYg"
    "$deoB2DwuUdgwvqt68ED1IvPn03KJkEIgYrVPKT79EAA",
    "ARGON2I": "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$62XJ8mCTr/ZnA9B0GuS5Eg"
    "$M1GGuAoT6OZOHQvXiVSa2ULbOaAtKl51+9pZpIanoGU",
    "BLF-CRYPT": "{BLF-CRYPT}$2y$05$Fb7zmkCcjddbFgkU4oApG."
    "zNb5ibrYCoya5KGBKuq1l./8N6xBAQi",
    "SHA512-CRYPT": "{SHA512-CRYPT}$6$.X6ak/xwEYy/N60e$2SKKX7fqmKLY7jX4QrOw/hd9SiM6Io"
    "28i5iBMjekK8SQSo27BG4XV24roMU80qgwzBjQAOln8d9w0qmf.O3IR.",
    "SHA256-CRYPT": "{SHA256-CRYPT}$5$2pZJz.zl2XtEe17T"
    "$javHTIO5EPfYgtueats4pAPWRm2cZ/fYH/8FYMFr1r6",
    "MD5-CRYPT": "{MD5-CRYPT}$1$DjoitNVn$KKWolv33fdc9LELq8BDo71",
    "SSHA512": "{SSHA512}+6Bnd86YA2gdMm0jtR7cxY2HIy8QEo/YRZEcQ9Q/KYTtLZ8+F9Ov0oTQ+k/p"
    "6WJ6Xgr7qnO+ywL2uafaO6YhEQH0mH0=",
    "SHA512": "{SHA512}uiSc869sRCl+q6FFyEQR9quhCYCBWV4C1g4Xtaco35Sqx+BVB+vFdh0opswEhil"
    "mdQJLN5ziFZ+fBDaf5wVqZQ==",
    "SSHA256": "{SSHA256}wsXjlFYK/mzKxnXTeKjpE84vqxrzecPJOUmBAWHER3IDCeQQ",
    "SHA256": "{SHA256}Ud00Q3QXzErJhKNEwKjWXBSkMvr1RzkOsuwW+PnVf6A=",
    "SSHA": "{SSHA}1Xj+Mk5C3ho4Fz7usYlmKc3napRD9Z3C",
    "SHA": "{SHA}NWGbmpvsQ+DsG6cxOPava3dxyVA=",
    "PLAIN": "{PLAIN}" + PASSWORD,
}
# The same hashes as other panels store them: bare crypt strings, {CRYPT}, hex.
IMPORTED_VARIANTS = {
    "bare $6$": (
        "SHA512-CRYPT",
        IMPORTED["SHA512-CRYPT"].removeprefix("{SHA512-CRYPT}"),
    ),
    "bare $5$": (
        "SHA256-CRYPT",
        IMPORTED["SHA256-CRYPT"].removeprefix("{SHA256-CRYPT}"),
    ),
    "bare $2y$": ("BLF-CRYPT", IMPORTED["BLF-CRYPT"].removeprefix("{BLF-CRYPT}")),
    "bare $1$": ("MD5-CRYPT", IMPORTED["MD5-CRYPT"].removeprefix("{MD5-CRYPT}")),
    "{CRYPT} $6$": ("SHA512-CRYPT", "{CRYPT}" + IMPORTED["SHA512-CRYPT"][14:]),
    "{CRYPT} $2y$": ("BLF-CRYPT", "{CRYPT}" + IMPORTED["BLF-CRYPT"][11:]),
    "{SHA512} hex": (
        "SHA512",
        "{SHA512}ba249cf3af6c44297eaba145c84411f6aba1098081595e02d60e17b5a728df94"
        "aac7e05507ebc5761d28a6cc0486296675024b379ce2159f9f04369fe7056a65",
    ),
}
ALL_IMPORTED = [
    *(pytest.param(scheme, stored, id=scheme) for scheme, stored in IMPORTED.items()),
    *(pytest.param(*case, id=name) for name, case in IMPORTED_VARIANTS.items()),
]
MALFORMED = [
    "",
    "secret",
    "{ARGON2ID}",
    "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
    "{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$62XJ8mCTr/ZnA9B0GuS5Eg$M1GGuAoT6OZ",
    "{BLF-CRYPT}$2y$12$tooshort",
    "{BLF-CRYPT}$2y$12$" + "é" * 53,
    "{SHA512-CRYPT}$6$",
    "{SHA512-CRYPT}$9$unknown$crypt",
    "{SSHA512}not base64!",
    "{SSHA512}c2hvcnQ=",
    "{SHA512}c2hvcnQ=",
    "{NO-SUCH-SCHEME}abc",
    # Salted body under the unsalted name and vice versa: Dovecot refuses both.
    "{SHA512}" + IMPORTED["SSHA512"].removeprefix("{SSHA512}"),
    "{SSHA512}" + IMPORTED["SHA512"].removeprefix("{SHA512}"),
    "$2y$",
    None,
]


COSTS = (
    "MAILPANEL_ARGON2_TIME_COST",
    "MAILPANEL_ARGON2_MEMORY_COST",
    "MAILPANEL_BCRYPT_ROUNDS",
)


@pytest.fixture(autouse=True)
def real_costs(settings):
    """mailpanel/settings.py's production costs, not tests/settings.py's."""
    for name in COSTS:
        setattr(settings, name, getattr(production_settings, name))


def test_the_production_costs_are_the_documented_ones():
    assert [getattr(production_settings, name) for name in COSTS] == [2, 19456, 12]


def require_doveadm() -> str:
    path = shutil.which("doveadm")
    if path is None:
        unavailable("doveadm is not installed (scripts/mailserver-install.sh)")
    return path


@pytest.fixture
def doveadm(tmp_path):
    """Run `doveadm pw` against a minimal config, independent of /etc/dovecot.

    The doveadm check runs inside the test, so a missing doveadm on CI is a
    test failure rather than a setup error or a skip.
    """
    config = tmp_path / "dovecot.conf"
    config.write_text("# doveadm pw needs no services or certificates\nssl = no\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [require_doveadm(), "-c", str(config), "pw", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


@pytest.mark.parametrize("scheme", SUPPORTED_HASH_SCHEMES)
def test_it_round_trips_each_creatable_scheme(scheme):
    stored = hash_password(PASSWORD, scheme=scheme)

    assert stored.startswith("{" + scheme + "}")
    assert PASSWORD not in stored
    assert hash_scheme(stored) == scheme
    assert verify_password(PASSWORD, stored) is True
    assert needs_rehash(stored, scheme=scheme) is False


@pytest.mark.parametrize("scheme", SUPPORTED_HASH_SCHEMES)
def test_it_refuses_a_wrong_password(scheme):
    stored = hash_password(PASSWORD, scheme=scheme)

    assert verify_password(WRONG, stored) is False
    assert verify_password("", stored) is False


@pytest.mark.parametrize("scheme", SUPPORTED_HASH_SCHEMES)
def test_it_salts_every_hash(scheme):
    assert hash_password(PASSWORD, scheme) != hash_password(PASSWORD, scheme)


def test_it_reads_the_default_scheme_from_settings_at_call_time(settings):
    settings.MAILPANEL_PASSWORD_SCHEME = "BLF-CRYPT"
    assert hash_password(PASSWORD).startswith("{BLF-CRYPT}$2y$")

    settings.MAILPANEL_PASSWORD_SCHEME = "ARGON2ID"
    assert hash_password(PASSWORD).startswith("{ARGON2ID}$argon2id$")


def test_it_defaults_to_argon2id_without_a_setting(settings):
    del settings.MAILPANEL_PASSWORD_SCHEME

    assert hash_scheme(hash_password(PASSWORD)) == "ARGON2ID"


def test_it_writes_argon2id_with_p1_and_the_configured_costs(settings):
    default = argon2.extract_parameters(hash_password(PASSWORD, "ARGON2ID")[10:])
    settings.MAILPANEL_ARGON2_TIME_COST = 3
    settings.MAILPANEL_ARGON2_MEMORY_COST = 8192
    custom = argon2.extract_parameters(hash_password(PASSWORD, "ARGON2ID")[10:])

    assert (default.memory_cost, default.time_cost, default.parallelism) == (
        19456,
        2,
        1,
    )
    assert (custom.memory_cost, custom.time_cost, custom.parallelism) == (8192, 3, 1)
    assert default.type is argon2.Type.ID


def test_it_writes_bcrypt_as_2y_with_the_configured_rounds(settings):
    assert hash_password(PASSWORD, "BLF-CRYPT").startswith("{BLF-CRYPT}$2y$12$")

    settings.MAILPANEL_BCRYPT_ROUNDS = 5
    assert hash_password(PASSWORD, "BLF-CRYPT").startswith("{BLF-CRYPT}$2y$05$")


@pytest.mark.parametrize(
    "scheme", ["PLAIN", "CLEARTEXT", "SHA512-CRYPT", "SSHA512", "argon2", ""]
)
def test_it_refuses_to_create_other_schemes(scheme):
    with pytest.raises(ValueError, match="ARGON2ID, BLF-CRYPT"):
        hash_password(PASSWORD, scheme=scheme)
    with pytest.raises(ValueError, match="ARGON2ID, BLF-CRYPT"):
        needs_rehash(IMPORTED["ARGON2ID"], scheme=scheme)


def test_it_refuses_a_plain_default_scheme_setting(settings):
    settings.MAILPANEL_PASSWORD_SCHEME = "PLAIN"

    with pytest.raises(ValueError, match="never PLAIN"):
        hash_password(PASSWORD)


def test_it_accepts_lower_case_scheme_names():
    assert hash_scheme(hash_password(PASSWORD, "blf-crypt")) == "BLF-CRYPT"


def test_it_refuses_passwords_with_nul():
    with pytest.raises(ValueError, match="NUL"):
        hash_password("abc\x00def", "ARGON2ID")


def test_it_hashes_long_passwords_for_bcrypt_like_dovecot():
    # libxcrypt (Dovecot) reads 72 bytes; bcrypt>=5 would raise instead.
    long = "x" * 72
    stored = hash_password(long + "tail", "BLF-CRYPT")

    assert verify_password(long + "tail", stored) is True
    assert verify_password(long + "other", stored) is True
    assert verify_password(long[:-1], stored) is False


@pytest.mark.parametrize("stored", MALFORMED, ids=repr)
def test_it_returns_false_for_malformed_stored_values(stored):
    assert verify_password(PASSWORD, stored) is False
    assert verify_password("", stored) is False


@pytest.mark.parametrize("stored", MALFORMED, ids=repr)
def test_it_asks_for_rehash_of_malformed_stored_values(stored):
    assert needs_rehash(stored, "ARGON2ID") is True
    assert needs_rehash(stored, "BLF-CRYPT") is True


@pytest.mark.parametrize(("scheme", "stored"), ALL_IMPORTED)
def test_it_verifies_imported_hashes(scheme, stored):
    assert hash_scheme(stored) == scheme
    assert verify_password(PASSWORD, stored) is True
    assert verify_password(WRONG, stored) is False


@pytest.mark.parametrize(("scheme", "stored"), ALL_IMPORTED)
def test_it_asks_for_rehash_of_legacy_and_unprefixed_hashes(scheme, stored):
    # Only doveadm's {ARGON2ID} (costs above mailpanel's) may stay as it is.
    assert needs_rehash(stored, "ARGON2ID") is (stored != IMPORTED["ARGON2ID"])
    assert needs_rehash(stored, "BLF-CRYPT") is True  # none is {BLF-CRYPT} cost 12


@pytest.mark.parametrize("stored", ["secret", "$9$x", "{CRYPT}$2x$05$abc", ""])
def test_it_raises_when_naming_an_unrecognisable_hash(stored):
    with pytest.raises(ValueError, match="recognise"):
        hash_scheme(stored)


def test_it_names_schemes_case_insensitively():
    assert hash_scheme(IMPORTED["SSHA512"].replace("SSHA512", "ssha512")) == "SSHA512"


def test_it_asks_for_rehash_of_plain_even_when_it_verifies():
    assert verify_password(PASSWORD, IMPORTED["PLAIN"]) is True
    assert needs_rehash(IMPORTED["PLAIN"]) is True


def test_it_asks_for_rehash_of_unprefixed_hash_in_the_current_scheme(settings):
    settings.MAILPANEL_BCRYPT_ROUNDS = 5
    body = hash_password(PASSWORD, "BLF-CRYPT").removeprefix("{BLF-CRYPT}")

    assert needs_rehash("{BLF-CRYPT}" + body, "BLF-CRYPT") is False
    assert needs_rehash(body, "BLF-CRYPT") is True
    assert needs_rehash("{CRYPT}" + body, "BLF-CRYPT") is True


def test_it_asks_for_rehash_when_the_scheme_setting_changes(settings):
    stored = hash_password(PASSWORD, "ARGON2ID")
    assert needs_rehash(stored) is False

    settings.MAILPANEL_PASSWORD_SCHEME = "BLF-CRYPT"
    assert needs_rehash(stored) is True


def test_it_asks_for_rehash_when_argon2_costs_rise(settings):
    stored = hash_password(PASSWORD, "ARGON2ID")

    settings.MAILPANEL_ARGON2_MEMORY_COST = 19456 * 2
    assert needs_rehash(stored, "ARGON2ID") is True
    settings.MAILPANEL_ARGON2_MEMORY_COST = 19456
    settings.MAILPANEL_ARGON2_TIME_COST = 3
    assert needs_rehash(stored, "ARGON2ID") is True


def test_it_asks_for_rehash_when_bcrypt_rounds_rise(settings):
    assert needs_rehash(IMPORTED["BLF-CRYPT"], "BLF-CRYPT") is True  # $2y$05$

    settings.MAILPANEL_BCRYPT_ROUNDS = 5
    assert needs_rehash(IMPORTED["BLF-CRYPT"], "BLF-CRYPT") is False


def test_it_keeps_hashes_with_higher_costs():
    # doveadm's default m=64 MiB, t=3 is above mailpanel's: never downgrade.
    assert needs_rehash(IMPORTED["ARGON2ID"], "ARGON2ID") is False


def test_it_asks_for_rehash_of_argon2_with_parallelism_above_one():
    # Dovecot itself only writes p=1; keep stored hashes in that form.
    hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=2)
    stored = "{ARGON2ID}" + hasher.hash(PASSWORD)

    assert verify_password(PASSWORD, stored) is True
    assert needs_rehash(stored, "ARGON2ID") is True


def test_it_refuses_argon2i_under_the_argon2id_prefix():
    hasher = argon2.PasswordHasher(type=argon2.Type.I, memory_cost=19456)
    stored = "{ARGON2ID}" + hasher.hash(PASSWORD)

    assert verify_password(PASSWORD, stored) is False
    assert needs_rehash(stored, "ARGON2ID") is True


@pytest.mark.parametrize("scheme", SUPPORTED_HASH_SCHEMES)
def test_it_makes_hashes_that_dovecot_verifies(doveadm, scheme):
    stored = hash_password(PASSWORD, scheme)

    good = doveadm("-t", stored, "-p", PASSWORD)
    bad = doveadm("-t", stored, "-p", WRONG)

    assert good.returncode == 0, good.stderr
    assert "(verified)" in good.stdout
    assert bad.returncode != 0
    assert "(verified)" not in bad.stdout


@pytest.mark.parametrize(
    "scheme", [*SUPPORTED_HASH_SCHEMES, "SHA512-CRYPT", "SHA256-CRYPT"]
)
def test_it_verifies_hashes_that_dovecot_makes(doveadm, scheme):
    made = doveadm("-s", scheme, "-p", PASSWORD)
    assert made.returncode == 0, made.stderr
    stored = made.stdout.strip()

    assert hash_scheme(stored) == scheme
    assert verify_password(PASSWORD, stored) is True
    assert verify_password(WRONG, stored) is False


def test_it_verifies_bcrypt_hashes_that_dovecot_makes_at_cost_12(doveadm):
    made = doveadm("-s", "BLF-CRYPT", "-r", "12", "-p", PASSWORD)
    assert made.returncode == 0, made.stderr
    stored = made.stdout.strip()

    assert stored.startswith("{BLF-CRYPT}$2y$12$")
    assert verify_password(PASSWORD, stored) is True
    assert needs_rehash(stored, "BLF-CRYPT") is False
