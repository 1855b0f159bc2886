"""The staging tree a run hands to restic: dump, frozen maildirs, manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path
from typing import Any

from django.utils import timezone

from backups import conf, database, maildir, runs
from backups.models import BackupRun

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clear(staging: Path) -> None:
    """Empty the staging tree, keeping the lock file another run may hold."""
    if not staging.is_dir():
        return
    for entry in staging.iterdir():
        if entry == runs.lock_path():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def stage(staging: Path, run: BackupRun) -> dict[str, Any]:
    """Dump the database, freeze the maildirs, write the manifest."""
    dump = database.dump(staging / "database")
    root = conf.vmail_root()
    mailboxes: dict[str, dict[str, Any]] = {}
    for address, home in maildir.mailbox_homes(root):
        relative = home.relative_to(root).as_posix()
        frozen = staging / "vmail" / relative
        maildir.freeze(home, frozen)
        mailboxes[address] = {"path": relative, **maildir.describe(frozen)}
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
    return manifest
