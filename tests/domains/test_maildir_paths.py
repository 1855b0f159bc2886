"""Paths of mailbox homes: built in one place, always VMAIL_ROOT/DOMAIN/LOCALPART.

The property tests draw local parts and domain names from a seeded random
generator over the alphabet and characters that mean something to a file
system or a shell, and check that nothing accepted lands anywhere but in its
own directory, and that the database's check agrees with the model's.
"""

import os
import random
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from domains.addresses import (
    LOCAL_PART_CHARS,
    is_hosted_local_part,
    normalize_domain,
    normalize_hosted_local_part,
)
from domains.maildir_paths import (
    MailboxPathError,
    mailbox_dir,
    mailbox_dir_at,
    mailbox_relative_dir,
)
from domains.models import Alias, Domain, Mailbox

SEED = 22
HOSTILE_CHARS = [
    "/",
    "\\",
    ".",
    "..",
    "../",
    "\x00",
    "\n",
    "\r",
    " ",
    "~",
    "%",
    "'",
    '"',
    "+",
    "@",
    "*",
    "?",
    "[",
    "$",
    ":",
    "\u017f",  # ſ, whose upper case is S
    "\u212a",  # the Kelvin sign, whose lower case is k
    "\u0130",  # İ, two characters in lower case
    "\u2024",  # one dot leader
    "\uff0f",  # fullwidth solidus
    "\ud800",  # a lone surrogate
]


def candidates(count: int, seed: int = SEED) -> list[str]:
    """Local-part-like strings: half from the alphabet, half with hostile bits."""
    rng = random.Random(seed)
    friendly = list(LOCAL_PART_CHARS + LOCAL_PART_CHARS.upper()) + ["."]
    drawn = []
    for index in range(count):
        pool = friendly if index % 2 else friendly + HOSTILE_CHARS * 3
        length = rng.choice([0, 1, 2, 3, 8, 20, 63, 64, 65, 70])
        drawn.append("".join(rng.choice(pool) for _ in range(length)))
    return drawn


def assert_own_directory(root: Path, domain: str, local_part: str) -> None:
    home = mailbox_dir(root=root, domain=domain, local_part=local_part)
    assert home.parent == root / domain
    assert home.parent.parent == root
    assert home.name == local_part
    assert os.path.normpath(home) == str(home)
    assert home.resolve().parent.parent == root.resolve()


def test_every_accepted_local_part_maps_into_its_own_directory(tmp_path):
    accepted = 0
    for candidate in candidates(4000):
        try:
            local_part = normalize_hosted_local_part(candidate)
        except ValidationError:
            continue
        accepted += 1
        assert is_hosted_local_part(local_part)
        assert_own_directory(tmp_path, "example.org", local_part)
    assert accepted > 1000  # the property was tested, not vacuously true


def test_every_accepted_domain_name_maps_into_its_own_directory(tmp_path):
    rng = random.Random(SEED)
    accepted = 0
    for candidate in candidates(3000, seed=SEED + 1):
        try:
            domain = normalize_domain(candidate + rng.choice([".org", ".test", ""]))
        except ValidationError:
            continue
        accepted += 1
        assert_own_directory(tmp_path, domain, "alice")
    assert accepted > 300


def test_the_path_helper_refuses_whatever_is_not_a_hosted_local_part(tmp_path):
    # Its own check, not only the model's: a row saved before the check
    # existed, or a job's stored path, goes through it as well.
    for candidate in candidates(4000):
        if is_hosted_local_part(candidate):
            assert_own_directory(tmp_path, "example.org", candidate)
        else:
            with pytest.raises(MailboxPathError):
                mailbox_dir(root=tmp_path, domain="example.org", local_part=candidate)


@pytest.mark.django_db
def test_the_database_check_agrees_with_the_model(db):
    domain = Domain.objects.create(name="example.org")
    checks = {
        model: next(
            c for c in model._meta.constraints if c.name.endswith("local_part_hosted")
        )
        for model in (Mailbox, Alias)
    }
    for candidate in candidates(300):
        if any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in candidate):
            # Never reaches a database: PostgreSQL has no NUL in text, and a
            # lone surrogate is no UTF-8 (the driver refuses both).
            continue
        # Tested as stored: the model lower-cases before it saves.
        for model, check in checks.items():
            row = model(domain=domain, local_part=candidate)
            expected = is_hosted_local_part(candidate) or (
                model is Alias and candidate == ""
            )
            try:
                check.validate(model, row)
            except ValidationError:
                assert not expected, (model.__name__, candidate)
            else:
                assert expected, (model.__name__, candidate)


@pytest.mark.parametrize(
    ("domain", "local_part"),
    [
        ("example.org", "alice/"),
        ("example.org", "/"),
        ("example.org", "/var/vmail/victim.test/ceo"),
        ("example.org", "../victim.test/ceo"),
        ("example.org", ".."),
        ("example.org", "."),
        ("example.org", ""),
        ("../etc", "alice"),
        ("/etc", "alice"),
        ("", "alice"),
        ("example.org/alice", "x"),
        ("Example.org", "alice"),
    ],
)
def test_it_refuses_parts_that_would_leave_their_directory(
    tmp_path, domain, local_part
):
    with pytest.raises(MailboxPathError):
        mailbox_dir(root=tmp_path, domain=domain, local_part=local_part)
    with pytest.raises(MailboxPathError):
        mailbox_relative_dir(domain=domain, local_part=local_part)


@pytest.mark.parametrize(
    "relative",
    [
        "example.org/alice/",
        "example.org//",
        "example.org//var/vmail/victim.test/ceo",
        "example.org/../victim.test/ceo",
        "example.org",
        "example.org/alice/Maildir",
        "/example.org/alice",
        "",
    ],
)
def test_it_refuses_a_stored_path_that_is_not_domain_slash_local_part(
    tmp_path, relative
):
    with pytest.raises(MailboxPathError):
        mailbox_dir_at(root=tmp_path, relative=relative)


def test_it_reads_a_stored_path_back(tmp_path):
    relative = mailbox_relative_dir(domain="example.org", local_part="a.b")
    assert relative == "example.org/a.b"
    assert mailbox_dir_at(root=tmp_path, relative=relative) == (
        tmp_path / "example.org" / "a.b"
    )


def test_it_refuses_a_home_behind_a_link_out_of_the_root(tmp_path):
    root = tmp_path / "vmail"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "example.org").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(MailboxPathError):
        mailbox_dir(root=root, domain="example.org", local_part="alice")
