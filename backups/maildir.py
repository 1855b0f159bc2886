"""Maildirs: freezing them for a backup, describing them, putting mail back.

Why a backup taken during delivery is consistent: a Maildir message is one
file that never changes after delivery. The delivery agent writes it in
``tmp/`` and renames it into ``new/``, and rename is atomic, so a message in
``new/`` or ``cur/`` is always complete; ``tmp/`` holds only deliveries in
progress and is left out. Flag changes and the move from ``new/`` to ``cur/``
are renames of the same file (same inode).

Before restic reads anything, the run hard-links every message of every
mailbox into a staging tree (``freeze``). That takes about a second for
10,000 messages and fixes the set of messages: a message expunged while
restic reads is still there through its link, one delivered meanwhile is in
the next backup, and the manifest written from the frozen tree describes
exactly what the snapshot holds. A message renamed between listing a folder
and linking it is found again under its new name (``_link_moved``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
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


def messages(maildir: Path) -> Iterator[Path]:
    for _, folder in folders(maildir):
        for sub in MESSAGE_DIRS:
            directory = folder / sub
            if directory.is_dir():
                for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                    if entry.is_file(follow_symlinks=False):
                        yield Path(entry.path)


def unique_name(filename: str) -> str:
    """The part of a Maildir file name that flag changes leave alone."""
    return filename.split(":", 1)[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(home: Path) -> dict[str, object]:
    """Message count and one checksum over every message's path and content."""
    maildir = maildir_of(home)
    digest = hashlib.sha256()
    count = 0
    for path in messages(maildir):
        relative = path.relative_to(maildir).as_posix()
        digest.update(f"{relative}\t{_sha256(path)}\n".encode())
        count += 1
    return {"messages": count, "sha256": digest.hexdigest()}


def _copy_dir_meta(source: Path, target: Path) -> None:
    stat = source.stat()
    os.chmod(target, stat.st_mode & 0o7777)
    if os.geteuid() == 0:
        os.chown(target, stat.st_uid, stat.st_gid)


def _key(directory: Path, stat: os.stat_result) -> tuple[str, int, int]:
    # Per folder: Dovecot copies a message to another folder as a hard link
    # (maildir_copy_with_hardlinks), and both copies must be kept.
    folder = directory.parent if directory.name in MESSAGE_DIRS else directory
    return (str(folder), stat.st_dev, stat.st_ino)


def _link_moved(directory: Path, name: str, target_dir: Path, seen: set) -> None:
    """Link a message that was renamed after the folder was listed."""
    wanted = unique_name(name)
    for sub in (directory, directory.parent / "cur", directory.parent / "new"):
        if not sub.is_dir():
            continue
        for entry in os.scandir(sub):
            if unique_name(entry.name) != wanted:
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
                if _key(sub, stat) in seen:
                    return
                (target_dir.parent / sub.name).mkdir(exist_ok=True)
                os.link(entry.path, target_dir.parent / sub.name / entry.name)
                seen.add(_key(sub, stat))
            except (FileNotFoundError, FileExistsError):
                continue
            return


def freeze(home: Path, target: Path) -> None:
    """Mirror ``home`` into ``target`` with hard links (copies across devices).

    ``tmp/`` directories are recreated empty: what is in them is not mail yet.
    """
    seen: set[tuple[str, int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(home):
        source_dir = Path(dirpath)
        target_dir = target / source_dir.relative_to(home)
        target_dir.mkdir(parents=True, exist_ok=True)
        _copy_dir_meta(source_dir, target_dir)
        if source_dir.name == "tmp":
            dirnames[:] = []
            continue
        for name in filenames:
            source = source_dir / name
            try:
                stat = source.stat(follow_symlinks=False)
                if _key(source_dir, stat) in seen:
                    continue
                if source.is_symlink():
                    os.symlink(os.readlink(source), target_dir / name)
                    continue
                try:
                    os.link(source, target_dir / name)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM):
                        raise
                    shutil.copy2(source, target_dir / name)
                seen.add(_key(source_dir, stat))
            except FileNotFoundError:
                if source_dir.name in MESSAGE_DIRS:
                    _link_moved(source_dir, name, target_dir, seen)


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
