"""Maildirs: listing them, describing them, putting mail back.

A Maildir message is one file that never changes after delivery. The
delivery agent writes it in ``tmp/`` and renames it into ``new/``, and rename
is atomic, so a message in ``new/`` or ``cur/`` is always complete; ``tmp/``
holds only deliveries in progress and is left out. Flag changes and the move
from ``new/`` to ``cur/`` are renames of the same file (same inode, same
unique name). How a run freezes the maildirs for restic is in mirror.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MESSAGE_DIRS = ("cur", "new")


@dataclass(frozen=True)
class MergeResult:
    restored: int
    already_there: int


def mailbox_homes(root: Path) -> Iterator[tuple[str, Path]]:
    """``(address, home)`` for every VMAIL_ROOT/DOMAIN/LOCALPART directory.

    Dot-names are skipped at both levels: the staging tree lives in the root,
    and neither domains nor local parts start with a dot.
    """
    if not root.is_dir():
        return
    for domain in sorted(os.scandir(root), key=lambda entry: entry.name):
        if domain.name.startswith(".") or not domain.is_dir(follow_symlinks=False):
            continue
        for home in sorted(os.scandir(domain.path), key=lambda entry: entry.name):
            if home.name.startswith(".") or not home.is_dir(follow_symlinks=False):
                continue
            yield f"{home.name}@{domain.name}", Path(home.path)


def maildir_of(home: Path) -> Path:
    """The Maildir of a home: ``~/Maildir`` as Dovecot is configured, or the
    home itself when it is a bare maildir."""
    return home / "Maildir" if (home / "Maildir").is_dir() else home


def folders(maildir: Path) -> Iterator[tuple[str, Path]]:
    """``(name, path)`` of INBOX ("") and every Maildir++ folder (".Name")."""
    yield "", maildir
    if not maildir.is_dir():
        return
    for entry in sorted(os.scandir(maildir), key=lambda entry: entry.name):
        if (
            entry.name.startswith(".")
            and entry.name not in (".", "..")
            and (entry.is_dir(follow_symlinks=False))
        ):
            yield entry.name, Path(entry.path)


def _message_entries(maildir: Path) -> Iterator[tuple[str, os.DirEntry]]:
    """``(path relative to the maildir, entry)`` of every message, in the
    order of their relative paths; strings, not Paths, for speed (a manifest
    walks every message of every mailbox)."""
    for name, folder in folders(maildir):
        for sub in MESSAGE_DIRS:
            prefix = f"{name}/{sub}/" if name else f"{sub}/"
            try:
                with os.scandir(folder / sub) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    yield prefix + entry.name, entry


def messages(maildir: Path) -> Iterator[Path]:
    for _, entry in _message_entries(maildir):
        yield Path(entry.path)


def unique_name(filename: str) -> str:
    """The part of a Maildir file name that flag changes leave alone."""
    return filename.split(":", 1)[0]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(
    home: Path, *, digest: Callable[[str], str] = file_sha256
) -> dict[str, object]:
    """Message count and one checksum over every message's path and content.

    ``digest`` gives a message's SHA-256 from its path: read from the file by
    default (the restore drill), or from the checksums a backup kept
    (checksums.py).
    """
    summary = hashlib.sha256()
    count = 0
    for relative, entry in _message_entries(maildir_of(home)):
        summary.update(f"{relative}\t{digest(entry.path)}\n".encode())
        count += 1
    return {"messages": count, "sha256": summary.hexdigest()}


def _chown(path: Path, uid: int | None, gid: int | None) -> None:
    if uid is not None and gid is not None and os.geteuid() == 0:
        os.chown(path, uid, gid, follow_symlinks=False)


def _ensure_folder(path: Path, uid: int | None, gid: int | None) -> None:
    for sub in ("", "cur", "new", "tmp"):
        directory = path / sub if sub else path
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True)
            _chown(directory, uid, gid)


def merge(
    source_home: Path,
    home: Path,
    *,
    into_folder: str = "",
    uid: int | None = None,
    gid: int | None = None,
) -> MergeResult:
    """Put the messages of a restored home back into a live one.

    A message whose unique name is already in the target folder (with any
    flags) is left alone, so restoring twice does not duplicate mail. Each
    message is copied into ``tmp/`` and renamed into place, as a delivery
    agent does, so Dovecot never sees half a message. Dovecot's index and
    uidlist files are not touched: it picks the new files up and gives them
    UIDs. With ``into_folder`` INBOX goes to the Maildir++ folder ``.NAME``
    and ``.Sent`` to ``.NAME.Sent``.
    """
    if not home.exists():
        # A mailbox that is gone comes back whole, indexes and all, so
        # clients keep their UIDs.
        shutil.copytree(source_home, home, symlinks=True)
        for dirpath, _, filenames in os.walk(home):
            _chown(Path(dirpath), uid, gid)
            for name in filenames:
                _chown(Path(dirpath) / name, uid, gid)
        count = sum(1 for _ in messages(maildir_of(home)))
        return MergeResult(restored=count, already_there=0)
    source_maildir = maildir_of(source_home)
    maildir = home / source_maildir.relative_to(source_home)
    restored = already = 0
    for folder_name, source_folder in folders(source_maildir):
        target_name = f".{into_folder}{folder_name}" if into_folder else folder_name
        target = maildir / target_name if target_name else maildir
        present: set[str] = set()
        for sub in MESSAGE_DIRS:
            if (target / sub).is_dir():
                present.update(unique_name(n) for n in os.listdir(target / sub))
        created = False
        for sub in MESSAGE_DIRS:
            directory = source_folder / sub
            if not directory.is_dir():
                continue
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                if not entry.is_file(follow_symlinks=False):
                    continue
                if unique_name(entry.name) in present:
                    already += 1
                    continue
                if not created:
                    _ensure_folder(target, uid, gid)
                    created = True
                staged = target / "tmp" / entry.name
                shutil.copy2(entry.path, staged)
                _chown(staged, uid, gid)
                os.rename(staged, target / sub / entry.name)
                restored += 1
    return MergeResult(restored=restored, already_there=already)
