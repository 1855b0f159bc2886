"""Installing the script in a home: atomic, vmail-owned, never clobbering."""

import os
import stat
from pathlib import Path

import pytest

from accounts.sieve_files import (
    SieveInstallError,
    sieve_script_install,
    sieve_script_remove,
)

SCRIPT = 'require "vacation";\nvacation "away";\n'


@pytest.fixture
def ids() -> tuple[int, int]:
    """vmail's uid/gid where chown works (as root), else our own."""
    return (5000, 5000) if os.geteuid() == 0 else (os.getuid(), os.getgid())


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "vmail" / "example.org" / "alice"


def install(home: Path, ids: tuple[int, int], script: str = SCRIPT) -> None:
    sieve_script_install(home=home, script=script, uid=ids[0], gid=ids[1])


def test_it_writes_the_script_and_activates_it(home, ids):
    install(home, ids)

    assert (home / "sieve" / "mailpanel.sieve").read_text() == SCRIPT
    assert os.readlink(home / ".dovecot.sieve") == "sieve/mailpanel.sieve"
    assert (home / ".dovecot.sieve").read_text() == SCRIPT


def test_it_gives_everything_to_vmail(home, ids):
    install(home, ids)

    for path in (home.parent, home, home / "sieve", home / "sieve/mailpanel.sieve"):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == ids, path
        assert stat.S_IMODE(info.st_mode) in (0o700, 0o600), path
    link = (home / ".dovecot.sieve").lstat()
    assert (link.st_uid, link.st_gid) == ids


def test_it_replaces_its_script_leaving_no_temporary_file(home, ids):
    install(home, ids)

    install(home, ids, script="# new\n")

    assert (home / "sieve/mailpanel.sieve").read_text() == "# new\n"
    assert sorted(p.name for p in home.iterdir()) == [".dovecot.sieve", "sieve"]
    assert [p.name for p in (home / "sieve").iterdir()] == ["mailpanel.sieve"]


def test_it_leaves_an_owners_own_script_alone(home, ids):
    home.mkdir(parents=True)
    (home / ".dovecot.sieve").write_text("# my filters\n")

    with pytest.raises(SieveInstallError, match="did not write"):
        install(home, ids)

    assert (home / ".dovecot.sieve").read_text() == "# my filters\n"
    assert not (home / "sieve").exists()


def test_it_leaves_a_link_to_another_script_alone(home, ids):
    (home / "sieve").mkdir(parents=True)
    (home / "sieve/roundcube.sieve").write_text("# filters\n")
    (home / ".dovecot.sieve").symlink_to("sieve/roundcube.sieve")

    with pytest.raises(SieveInstallError):
        install(home, ids)

    assert os.readlink(home / ".dovecot.sieve") == "sieve/roundcube.sieve"


def test_it_removes_its_script_and_link(home, ids):
    install(home, ids)
    (home / "sieve/mailpanel.svbin").write_bytes(b"compiled")

    sieve_script_remove(home=home)

    assert not (home / ".dovecot.sieve").is_symlink()
    assert list((home / "sieve").iterdir()) == []


def test_it_removes_nothing_else(home, ids):
    (home / "sieve").mkdir(parents=True)
    (home / "sieve/roundcube.sieve").write_text("# filters\n")
    (home / ".dovecot.sieve").symlink_to("sieve/roundcube.sieve")

    sieve_script_remove(home=home)

    assert os.readlink(home / ".dovecot.sieve") == "sieve/roundcube.sieve"
    assert (home / "sieve/roundcube.sieve").exists()


def test_it_removes_nothing_from_a_home_that_does_not_exist(home):
    sieve_script_remove(home=home)

    assert not home.exists()
