"""The staging tree a run hands to restic: dump, frozen maildirs, manifest.

The dump and the manifest are written for each run and removed after it;
the frozen maildirs (``vmail/``, see mirror.py) and the message checksums
(``checksums.json``, see checksums.py, never in a snapshot) are kept for the
next run, which changes only what the mail changed.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

from backups import conf, database, maildir, mirror, runs
from backups.checksums import ChecksumCache
from backups.models import BackupRun

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
MIRROR = "vmail"
CHECKSUMS = "checksums.json"


@dataclass(frozen=True)
class Staged:
    manifest: dict[str, Any]
    # Messages whose content the run read for the manifest (new or changed
    # since the last run); the others' checksums were kept.
    messages_hashed: int


sha256 = maildir.file_sha256


def unsnapshotted(staging: Path) -> list[Path]:
    """What restic must leave out: the host lock and the checksums, which
    describe this machine's files, not the backup."""
    return [runs.lock_path(), staging / CHECKSUMS]


def clear(staging: Path) -> None:
    """Remove the dump and the manifest (and anything else a run left),
    keeping the frozen maildirs, the checksums and the lock another run may
    hold."""
    if not staging.is_dir():
        return
    keep = [*unsnapshotted(staging), staging / MIRROR]
    for entry in staging.iterdir():
        if entry in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def stage(staging: Path, run: BackupRun) -> Staged:
    """Dump the database, freeze the maildirs, write the manifest."""
    dump = database.dump(staging / "database")
    root = conf.vmail_root()
    checksums = ChecksumCache.load(staging / CHECKSUMS)
    mailboxes: dict[str, dict[str, Any]] = {}
    for address, home in maildir.mailbox_homes(root):
        relative = home.relative_to(root).as_posix()
        frozen = staging / MIRROR / relative
        mirror.sync(home, frozen)
        mailboxes[address] = {
            "path": relative,
            **maildir.describe(frozen, digest=checksums.digest),
        }
    mirror.prune(staging / MIRROR, {box["path"] for box in mailboxes.values()})
    checksums.save(staging / CHECKSUMS)
    manifest = {
        "format": MANIFEST_FORMAT,
        "run_id": run.pk,
        "created": timezone.now().isoformat(),
        "hostname": socket.gethostname(),
        "staging": str(staging),
        "vmail_root": str(root),
        "database": {
            "vendor": database.vendor(),
            "file": dump.relative_to(staging).as_posix(),
            "size": dump.stat().st_size,
            "sha256": sha256(dump),
        },
        "config_paths": [str(path) for path in conf.config_paths()],
        "mailboxes": mailboxes,
        "totals": {
            "mailboxes": len(mailboxes),
            "messages": sum(box["messages"] for box in mailboxes.values()),
        },
    }
    path = staging / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    path.chmod(0o600)
    return Staged(manifest=manifest, messages_hashed=checksums.hashed)
