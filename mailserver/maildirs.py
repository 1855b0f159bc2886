"""Moving, archiving and removing maildirs: plain file work, no database.

Each function is idempotent: run again after a crash (or on a host that
shares the storage with another one), it finishes what is left and finds
nothing to do when it is all done.

A delivery that was already under way when a move started may still write
into the old directory, recreating it (Dovecot creates a missing home). So a
move merges rather than trusts one rename: after the rename it waits a
little and moves any message that appeared in the old tree into the new one.
Maildir file names are unique, so merging never overwrites a message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from domains.maildir_paths import MailboxPathError, mailbox_dir_at

# Dovecot's own state files: rebuilt from the messages, never merged (a
# second copy would describe the other tree's messages).
DOVECOT_STATE_PREFIXES = ("dovecot.index", "dovecot-uidlist", "dovecot-keywords")


class MaildirError(RuntimeError):
    """A maildir could not be moved; the message is for people."""


def resolve(root: Path, relative: str) -> Path:
    """``root/DOMAIN/LOCALPART`` for a job's ``relative``, or MaildirError.

    Checked by the one helper that builds mailbox paths: only a mailbox's
    own directory, never the domain's, another mailbox's or anything
    outside the root, whatever the job row says.
    """
    try:
        return mailbox_dir_at(root=Path(root), relative=relative)
    except MailboxPathError as exc:
        raise MaildirError(f"{relative!r} is not a mailbox directory: {exc}") from None


def _merge(source: Path, target: Path) -> int:
    """Move every file of ``source`` into the same place under ``target``.

    Returns how many message files moved. Existing files in ``target`` win;
    Dovecot's index files of ``source`` are dropped.
    """
    moved = 0
    for directory, _dirs, files in os.walk(source):
        here = Path(directory)
        there = target / here.relative_to(source)
        if not there.exists():
            there.mkdir(parents=True)
            shutil.copystat(here, there)
            stat = here.stat()
            os.chown(there, stat.st_uid, stat.st_gid)
        for name in files:
            if name.startswith(DOVECOT_STATE_PREFIXES):
                continue
            destination = there / name
            if destination.exists():
                continue
            os.rename(here / name, destination)
            moved += 1
    shutil.rmtree(source, ignore_errors=True)
    return moved


def maildir_move(
    *, root: Path, source: str, target: str, settle_seconds: float = 0.0
) -> int:
    """Move ``root/source`` to ``root/target``; returns messages merged late.

    A plain rename when the target does not exist (one atomic step); a merge
    when it does (a delivery under the new name got there first).
    """
    old, new = resolve(root, source), resolve(root, target)
    merged = 0
    if old.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        if new.exists():
            merged += _merge(old, new)
        else:
            os.rename(old, new)
    if settle_seconds:
        time.sleep(settle_seconds)
    if old.exists():
        merged += _merge(old, new)
    _remove_empty_parent(old.parent, root)
    return merged


def maildir_archive(*, root: Path, source: str, archive: Path) -> Path | None:
    """Move ``root/source`` to ``archive/source-TIMESTAMP``; None if absent."""
    old = resolve(root, source)
    if not old.exists():
        return None
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    # ARCHIVE/DOMAIN/LOCALPART-STAMP: beside where the helper puts the home.
    place = resolve(archive, source)
    destination = place.with_name(f"{place.name}-{stamp}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(old, destination)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: the archive is on another file system
            raise
        shutil.move(old, destination)
    _remove_empty_parent(old.parent, root)
    return destination


def maildir_remove(*, root: Path, source: str) -> bool:
    old = resolve(root, source)
    if not old.exists():
        return False
    shutil.rmtree(old)
    _remove_empty_parent(old.parent, root)
    return True


def _remove_empty_parent(directory: Path, root: Path) -> None:
    # The DOMAIN directory of the last mailbox; the root itself always stays.
    if directory.resolve() != root.resolve():
        with contextlib.suppress(OSError):
            directory.rmdir()
