"""The frozen maildirs restic reads: a hard-link mirror kept between runs.

Why freeze at all: before restic reads anything, the run links every message
of every mailbox into the staging tree. That fixes the set of messages: one
expunged while restic reads stays readable through its link, one delivered
meanwhile is in the next backup, and the manifest written from the mirror
describes exactly what the snapshot holds. Reading the live maildirs instead
would miss a message that moves from ``new/`` to a ``cur/`` restic has
already listed.

Why the mirror is kept: rebuilt for every run, it linked every message again,
and each new link changes the message's ctime and link count, which restic
records. Every directory's tree was stored anew (4.6 MiB per 10,000 messages)
and restic had to be told to ignore ctime. Kept and brought up to date
(``sync``), the mirror changes only where the mail changed: an unchanged
message keeps its link, so its ctime, link count and place stay as the last
snapshot recorded them; restic compares that metadata and reads nothing, and
the trees of unchanged directories are the ones already stored.

Why it is still a consistent snapshot: after ``sync`` the mirror holds
exactly the messages listed in this run, each a link to the delivered file.
A link made in an earlier run is the same inode as the live name; a Maildir
message never changes after delivery, so what restic reads through it is
what the mailbox holds. A message renamed between listing its folder and
linking it is found again under its new name (``_link_moved``). Nothing but
the run, under the host lock, writes in the mirror.

The cost: an expunged message's space is freed at the next run, when its
last link (the mirror's) goes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from backups.maildir import MESSAGE_DIRS, unique_name

# Per folder: Dovecot copies a message to another folder as a hard link
# (maildir_copy_with_hardlinks), and both copies must be kept; within one
# folder an inode is one message, even if it was listed in new/ and in cur/.
_Key = tuple[str, int]


class _Placed:
    """Where this run put each message of a folder in the mirror."""

    def __init__(self) -> None:
        self._path: dict[_Key, str] = {}
        self._key: dict[str, _Key] = {}

    def get(self, key: _Key) -> str | None:
        return self._path.get(key)

    def add(self, key: _Key, path: str) -> None:
        self._path[key] = path
        self._key[path] = key

    def forget(self, path: str) -> None:
        key = self._key.pop(path, None)
        if key is not None:
            del self._path[key]


def sync(home: Path, target: Path) -> None:
    """Make ``target`` a mirror of the mailbox home ``home`` (links, or copies
    across file systems), changing only what differs from the last run.

    ``tmp/`` directories are mirrored empty: what is in them is not mail yet.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _sync_dir(home, target, _Placed())


def prune(mirror: Path, homes: set[str]) -> None:
    """Remove the mirrored homes (``DOMAIN/LOCAL``) that are not in ``homes``:
    mailboxes deleted or moved since the last run."""
    if not mirror.is_dir():
        return
    for domain in os.scandir(mirror):
        if not domain.is_dir(follow_symlinks=False):
            _remove(domain)
            continue
        for home in os.scandir(domain.path):
            if f"{domain.name}/{home.name}" not in homes:
                _remove(home)
        if not os.listdir(domain.path):
            os.rmdir(domain.path)


def _order(entry: os.DirEntry) -> tuple[int, str]:
    # Messages only move from new/ to cur/: listed first, new/ either still
    # has a message being read (and _link_moved finds it in cur/ if it went
    # before it was linked) or cur/, listed after, already has it.
    return ({"new": 0, "cur": 1}.get(entry.name, 2), entry.name)


def _folder(directory: Path) -> str:
    return str(directory.parent if directory.name in MESSAGE_DIRS else directory)


def _remove(entry: os.DirEntry) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)


def _mirror_dir(source: Path, target: Path) -> bool:
    """Create ``target`` with the mode and owner of ``source``; True when both
    are on one file system (the mirror links, else it copies).

    Mode and owner are set only when they differ: each change would give the
    directory a new ctime, and restic would store its tree again.
    """
    target.mkdir(exist_ok=True)
    have = target.stat()
    try:
        want = source.stat()
    except FileNotFoundError:
        return True
    if stat.S_IMODE(have.st_mode) != stat.S_IMODE(want.st_mode):
        os.chmod(target, stat.S_IMODE(want.st_mode))
    if os.geteuid() == 0 and (have.st_uid, have.st_gid) != (want.st_uid, want.st_gid):
        os.chown(target, want.st_uid, want.st_gid)
    return have.st_dev == want.st_dev


def _unchanged(live: os.DirEntry, kept: os.DirEntry, linked: bool) -> bool:
    """Whether the mirror's ``kept`` is still the live ``live``."""
    if live.is_symlink() or kept.is_symlink():
        try:
            return (
                live.is_symlink()
                and kept.is_symlink()
                and os.readlink(live.path) == os.readlink(kept.path)
            )
        except FileNotFoundError:
            return False
    if linked:
        # The same inode is the same file, whatever happened to its names.
        return live.inode() == kept.inode()
    try:
        a = live.stat(follow_symlinks=False)
        b = kept.stat(follow_symlinks=False)
    except FileNotFoundError:
        return False
    # A copy keeps the size and mtime it was made with (copy2).
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


def _place(source: str, target: str | Path) -> None:
    """Link ``source`` at ``target``, replacing what is there; a copy where
    the file systems or the kernel (protected_hardlinks) refuse a link."""
    if os.path.islink(source):
        link = os.readlink(source)
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(link, target)
        return
    try:
        os.link(source, target)
        return
    except FileExistsError:
        if os.lstat(target).st_ino == os.lstat(source).st_ino:
            return
        os.unlink(target)
        os.link(source, target)
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM):
            raise
    shutil.copy2(source, target, follow_symlinks=False)


def _sync_dir(source: Path, target: Path, placed: _Placed) -> None:
    linked = _mirror_dir(source, target)
    with os.scandir(target) as entries:
        kept = {entry.name: entry for entry in entries}
    if source.name == "tmp":
        for entry in kept.values():
            _remove(entry)
        return
    try:
        with os.scandir(source) as entries:
            live = sorted(entries, key=_order)
    except FileNotFoundError:
        # A folder deleted while the run walks the mailbox.
        live = []
    names = {entry.name: entry for entry in live}
    for name, entry in list(kept.items()):
        other = names.get(name)
        if other is None or other.is_dir(follow_symlinks=False) != entry.is_dir(
            follow_symlinks=False
        ):
            _remove(entry)
            # _link_moved may have put it here earlier in this run; renamed
            # again since, it is found under its newer name.
            placed.forget(entry.path)
            del kept[name]
    subdirs = []
    folder = _folder(source)
    for entry in live:
        if entry.is_dir(follow_symlinks=False):
            subdirs.append(entry)
            continue
        key = (folder, entry.inode())
        # Strings, not Paths: this loop runs for every file of every mailbox.
        path = os.path.join(target, entry.name)
        old = kept.get(entry.name)
        where = placed.get(key)
        if where is not None:
            # Listed in new/ already and renamed into cur/ since: one
            # message, kept where it was put.
            if old is not None and old.path != where:
                _remove(old)
            continue
        if old is not None and _unchanged(entry, old, linked):
            placed.add(key, path)
            continue
        try:
            _place(entry.path, path)
            placed.add(key, path)
        except FileNotFoundError:
            if old is not None:
                _remove(old)
            if source.name in MESSAGE_DIRS:
                _link_moved(source, entry.name, target, placed)
    for entry in subdirs:
        _sync_dir(Path(entry.path), target / entry.name, placed)


def _link_moved(directory: Path, name: str, target: Path, placed: _Placed) -> None:
    """Link a message that was renamed after its folder was listed."""
    wanted = unique_name(name)
    for sub in (directory, directory.parent / "cur", directory.parent / "new"):
        try:
            with os.scandir(sub) as entries:
                found = [e for e in entries if unique_name(e.name) == wanted]
        except FileNotFoundError:
            continue
        for entry in found:
            key = (_folder(sub), entry.inode())
            if placed.get(key) is not None:
                return
            destination = target.parent / sub.name / entry.name
            destination.parent.mkdir(exist_ok=True)
            try:
                _place(entry.path, destination)
            except FileNotFoundError:
                continue
            placed.add(key, str(destination))
            return
