"""Installing and removing mailpanel's Sieve script in a mailbox's home.

This is the part that must run on the mail host, as a user that may write
the vmail tree: it takes plain values (a path, a script, a uid and gid) and
never touches the database, so a worker there can call it as it is.

The layout is Pigeonhole's default for a home directory: scripts in
``~/sieve/`` and the active one as the symlink ``~/.dovecot.sieve``.
mailpanel never replaces an active script that is not its own (a regular
file, or a link to another script): that would silently turn off the owner's
own filters.
"""

import os
import secrets
import tempfile
from pathlib import Path

SCRIPT_DIR = "sieve"
SCRIPT_NAME = "mailpanel.sieve"
ACTIVE_LINK = ".dovecot.sieve"
LINK_TARGET = f"{SCRIPT_DIR}/{SCRIPT_NAME}"


class SieveInstallError(RuntimeError):
    """The script could not be put in place; the message is for people."""


def _make_dirs(path: Path, uid: int, gid: int) -> None:
    """Create ``path`` and missing parents as Dovecot would: 0700, vmail-owned."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            # Dovecot's first delivery created it meanwhile; it owns it right.
            continue
        os.chown(directory, uid, gid)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_ours(link: Path) -> bool:
    return link.is_symlink() and os.readlink(link) == LINK_TARGET


def _check_active_link(link: Path) -> None:
    if (link.exists() or link.is_symlink()) and not _is_ours(link):
        raise SieveInstallError(
            f"{link} is a Sieve script that mailpanel did not write; it was left "
            "alone. Ask your administrator to move it away."
        )


def sieve_script_install(*, home: Path, script: str, uid: int, gid: int) -> None:
    """Write ``script`` and make it the active one, each step atomic.

    The script is written to a temporary file in the same directory and
    renamed over the old one, so LMTP never reads half a script; the active
    link is swapped the same way.
    """
    link = home / ACTIVE_LINK
    _check_active_link(link)
    script_dir = home / SCRIPT_DIR
    _make_dirs(script_dir, uid, gid)
    fd, tmp_name = tempfile.mkstemp(
        dir=script_dir, prefix=f".{SCRIPT_NAME}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(script)
            file.flush()
            os.fchmod(file.fileno(), 0o600)
            os.fchown(file.fileno(), uid, gid)
            os.fsync(file.fileno())
        os.replace(tmp_name, script_dir / SCRIPT_NAME)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(script_dir)
    if not _is_ours(link):
        tmp_link = home / f"{ACTIVE_LINK}.mailpanel-{secrets.token_hex(6)}"
        os.symlink(LINK_TARGET, tmp_link)
        os.lchown(tmp_link, uid, gid)
        os.replace(tmp_link, link)
        _fsync_dir(home)


def sieve_script_remove(*, home: Path) -> None:
    """Deactivate and delete mailpanel's script; anything else stays."""
    link = home / ACTIVE_LINK
    if _is_ours(link):
        link.unlink()
    script_dir = home / SCRIPT_DIR
    for name in (SCRIPT_NAME, SCRIPT_NAME.replace(".sieve", ".svbin")):
        (script_dir / name).unlink(missing_ok=True)
