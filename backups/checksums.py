"""Per-message checksums kept between runs: the manifest of an unchanged
mail store is written without reading a message.

A Maildir message never changes after delivery: its file keeps its inode,
size and mtime for life, and reading or flagging it renames it within its
folder, which keeps the inode and the unique name (the part before ``:2,``).
So a checksum computed once stays the message's checksum for as long as
device, inode, unique name, size and mtime (to the nanosecond) are those it
was computed with; anything else is read and hashed again. Only the entries
a run used are saved: a message expunged since drops out.

ctime is not part of the key: every rename (each flag change) changes it, so
it would re-read every message a user has read. What the key cannot see is
content rewritten in place with the size and mtime put back, which no
delivery agent or IMAP server does. restic, which compares ctime as well,
still reads such a file into the snapshot, and the restore drill, which
hashes the restored messages and trusts no cache, reports that the manifest
does not match.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from backups.maildir import file_sha256, unique_name

FORMAT = 1


class ChecksumCache:
    """``digest(path)`` for ``maildir.describe``: the kept checksum when the
    file is the one it was computed from, else its content's."""

    def __init__(self, entries: dict[str, list] | None = None) -> None:
        self._old = entries or {}
        self._used: dict[str, list] = {}
        # Messages whose content this run read, and those it did not need to.
        self.hashed = 0
        self.reused = 0

    @classmethod
    def load(cls, path: Path) -> ChecksumCache:
        """The checksums saved by the last run; none if the file is missing or
        unreadable (everything is hashed again, nothing is wrong)."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return cls()
        entries = data.get("entries")
        return cls(entries if isinstance(entries, dict) else {})

    def digest(self, path: str) -> str:
        info = os.lstat(path)
        key = f"{info.st_dev}:{info.st_ino}:{unique_name(os.path.basename(path))}"
        known = (info.st_size, info.st_mtime_ns)
        cached = self._used.get(key) or self._old.get(key)
        if (
            isinstance(cached, list)
            and len(cached) == 3
            and tuple(cached[:2]) == known
            and isinstance(cached[2], str)
        ):
            self.reused += 1
            checksum = cached[2]
        else:
            self.hashed += 1
            checksum = file_sha256(path)
        self._used[key] = [*known, checksum]
        return checksum

    def save(self, path: Path) -> None:
        """Keep the entries this run used, written whole or not at all."""
        partial = path.with_name(f".{path.name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"format": FORMAT, "entries": self._used}, handle)
        os.replace(partial, path)
