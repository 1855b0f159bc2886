"""Fixtures for the backup tests: a real restic repository in a temporary
directory, real maildirs and the real PostgreSQL test database.

In CI (``CI=true``) a missing restic fails the tests instead of skipping them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unavailable

PASSPHRASE = "correct horse battery staple"


@dataclass
class Vmail:
    """A vmail root with Dovecot's layout: ROOT/DOMAIN/LOCAL/Maildir."""

    root: Path
    counter: int = 0

    def home(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.root / domain / local

    def maildir(self, address: str) -> Path:
        return self.home(address) / "Maildir"

    def deliver(
        self, address: str, body: bytes | str, *, folder: str = "", sub: str = "new"
    ) -> Path:
        """Deliver as an MDA does: write in tmp/, rename into new/ (or cur/)."""
        self.counter += 1
        base = self.maildir(address)
        if folder:
            base = base / f".{folder}"
        for name in ("cur", "new", "tmp"):
            (base / name).mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.M{self.counter}P{os.getpid()}.test"
        if sub == "cur":
            name += ":2,S"
        tmp = base / "tmp" / name
        tmp.write_bytes(body.encode() if isinstance(body, str) else body)
        target = base / sub / name
        os.rename(tmp, target)
        return target

    def messages(self, address: str, folder: str = "") -> dict[str, bytes]:
        base = self.maildir(address)
        if folder:
            base = base / f".{folder}"
        found = {}
        for sub in ("cur", "new"):
            if (base / sub).is_dir():
                for path in (base / sub).iterdir():
                    found[path.name.split(":")[0]] = path.read_bytes()
        return found


@dataclass
class BackupEnv:
    vmail: Vmail
    repository: Path
    config: Path
    tls_key: Path
    scratch: Path


def message(subject: str, size: int = 0) -> str:
    filler = ("x" * 76 + "\n") * (size // 77)
    return f"From: a@example.net\nSubject: {subject}\n\n{subject}\n{filler}"


@pytest.fixture
def restic_binary() -> str:
    path = shutil.which("restic")
    if path is None:
        unavailable("restic is not installed (scripts/backups-install.sh)")
    return path


@pytest.fixture
def backup_env(settings, tmp_path, restic_binary, db) -> Iterator[BackupEnv]:
    """Settings pointing at temporary directories and a fresh repository."""
    if shutil.which("pg_dump") is None:
        unavailable("pg_dump is not installed (Debian: postgresql-client)")
    vmail = Vmail(tmp_path / "vmail")
    vmail.root.mkdir()
    config = tmp_path / "etc" / "postfix"
    config.mkdir(parents=True)
    (config / "main.cf").write_text("myhostname = mail.example.org\n")
    tls = tmp_path / "tls"
    tls.mkdir()
    tls_key = tls / "mailserver.key"
    tls_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a real key\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = BackupEnv(
        vmail=vmail,
        repository=tmp_path / "repo",
        config=config,
        tls_key=tls_key,
        scratch=scratch,
    )
    settings.MAILPANEL_VMAIL_ROOT = str(vmail.root)
    settings.MAILPANEL_VMAIL_UID = os.getuid()
    settings.MAILPANEL_VMAIL_GID = os.getgid()
    settings.MAILPANEL_BACKUP_REPOSITORY = str(env.repository)
    settings.MAILPANEL_BACKUP_PASSPHRASE = PASSPHRASE
    settings.MAILPANEL_BACKUP_RESTIC = restic_binary
    settings.MAILPANEL_BACKUP_CONFIG_PATHS = [str(config), str(tls)]
    settings.MAILPANEL_BACKUP_STAGING_DIR = ""
    settings.MAILPANEL_BACKUP_SCRATCH_DIR = str(scratch)
    settings.MAILPANEL_BACKUP_CACHE_DIR = str(tmp_path / "cache")
    settings.MAILPANEL_BACKUP_HOST = "mailpanel-test"
    settings.MAILPANEL_BACKUP_TIMEOUT = 300
    settings.MAILPANEL_BACKUP_DRILL_DATABASE = ""
    settings.MAILPANEL_BACKUP_ALERT_EMAILS = []
    settings.ADMINS = [("Admin", "admin@example.org")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    from backups import services

    assert services.backup_init() is True
    yield env


def restic(env: BackupEnv, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run restic directly, as an administrator would, to look at the repository."""
    return subprocess.run(
        ["restic", *args],
        env={
            **os.environ,
            "RESTIC_REPOSITORY": str(env.repository),
            "RESTIC_PASSWORD": PASSPHRASE,
            "RESTIC_CACHE_DIR": str(env.repository.parent / "cache"),
        },
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


class Opens:
    """Which of some files any process opens, through any of their links, as
    the kernel reports it (inotify watches on the files' inodes)."""

    IN_ACCESS = 0x001
    IN_OPEN = 0x020
    _EVENT = struct.Struct("iIII")

    def __init__(self, paths: list[Path]) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            unavailable(f"inotify: {os.strerror(ctypes.get_errno())}")
        self._watches: dict[int, Path] = {}
        for path in paths:
            watch = libc.inotify_add_watch(
                self._fd, os.fsencode(path), self.IN_OPEN | self.IN_ACCESS
            )
            if watch < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
            self._watches[watch] = path

    def opened(self) -> set[Path]:
        """The watched files opened or read since the last call."""
        found: set[Path] = set()
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return found
            offset = 0
            while offset < len(data):
                watch, mask, _cookie, length = self._EVENT.unpack_from(data, offset)
                offset += self._EVENT.size + length
                if watch in self._watches and mask & (self.IN_OPEN | self.IN_ACCESS):
                    found.add(self._watches[watch])

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture
def watch_opens() -> Iterator[Callable[[list[Path]], Opens]]:
    watchers: list[Opens] = []

    def watch(paths: list[Path]) -> Opens:
        watchers.append(Opens(paths))
        return watchers[-1]

    yield watch
    for watcher in watchers:
        watcher.close()
