"""The one module that runs the backup tool, restic, as a subprocess.

Everything else in mailpanel calls these typed methods and never builds a
restic command line itself. restic's ``--json`` output is parsed here; its
failures become one exception per fault that mailpanel treats differently
(unreachable, wrong passphrase, locked, disk full, killed), each with one
readable line as its message.

The passphrase travels in the child's environment (RESTIC_PASSWORD), never on
the command line, where any local user could read it in ``ps``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

MAX_MESSAGE = 500
# "sftp:", "s3:", "rest:", "b2:", "rclone:"...: restic's remote backends.
_BACKEND = re.compile(r"^[a-z0-9]+:")
_OURS = frozenset(
    (
        "RESTIC_REPOSITORY",
        "RESTIC_REPOSITORY_FILE",
        "RESTIC_PASSWORD",
        "RESTIC_PASSWORD_FILE",
        "RESTIC_PASSWORD_COMMAND",
    )
)


class ToolError(Exception):
    """restic failed; ``str()`` is one line fit for the admin and the CLI."""

    reason = "failed"


class ToolMissing(ToolError):
    reason = "missing"


class RepositoryUnreachable(ToolError):
    reason = "unreachable"


class RepositoryExists(ToolError):
    reason = "exists"


class WrongPassphrase(ToolError):
    reason = "passphrase"


class RepositoryLocked(ToolError):
    reason = "locked"


class DiskFull(ToolError):
    reason = "disk-full"


class ToolKilled(ToolError):
    reason = "killed"


class ToolTimeout(ToolError):
    reason = "timeout"


@dataclass(frozen=True)
class Progress:
    """One ``status`` line of ``restic backup --json`` (about every second)."""

    percent: float
    files_done: int
    total_files: int
    bytes_done: int
    total_bytes: int


@dataclass(frozen=True)
class BackupSummary:
    """The ``summary`` line of ``restic backup --json``."""

    snapshot_id: str
    data_added: int
    files_new: int
    files_changed: int
    files_unmodified: int
    total_files_processed: int
    total_bytes_processed: int
    duration: float
    # Exit code 3: the snapshot exists but some files could not be read.
    incomplete: bool = False
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    paths: tuple[str, ...]
    hostname: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RepositoryStats:
    """``restic stats --mode raw-data``: what the repository stores, deduplicated."""

    total_size: int
    total_blob_count: int
    snapshots_count: int


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str


def _parse_time(value: str) -> datetime:
    # restic writes nanoseconds; Python keeps microseconds.
    head, _, rest = value.partition(".")
    if rest:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _readable(stderr: str) -> str:
    """The line of restic's stderr that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Fatal:"):
            return line.removeprefix("Fatal:").strip()[:MAX_MESSAGE]
    for line in lines:
        if line.startswith("{"):
            continue
        return line[:MAX_MESSAGE]
    return "no error message"


def classify(returncode: int, stderr: str) -> ToolError:
    """Map a failed restic run to the exception for its fault."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return ToolKilled(f"the backup tool was killed ({name}) before it finished")
    text = stderr.lower()
    line = _readable(stderr)
    if "wrong password" in text or "no key found" in text:
        return WrongPassphrase(
            "wrong passphrase for the backup repository (MAILPANEL_BACKUP_PASSPHRASE)"
        )
    # Before the lock: a lock file that cannot be written on a full disk
    # says "unable to create lock", and no unlock would help.
    if "no space left on device" in text or "disk quota exceeded" in text:
        return DiskFull(f"no space left in the backup repository: {line}")
    if "already locked" in text or "unable to create lock" in text:
        return RepositoryLocked(f"repository locked by another process: {line}")
    if "config file already exists" in text:
        return RepositoryExists(line)
    if "is there a repository at the following location" in text or (
        "unable to open config file" in text
    ):
        return RepositoryUnreachable(f"repository unreachable: {line}")
    return ToolError(f"restic exited with status {returncode}: {line}")


class Restic:
    """A restic repository, reached with one passphrase.

    ``timeout`` bounds every call, so a remote that hangs instead of refusing
    cannot keep a run "running" for ever; a timed-out restic is killed with its
    process group and its lock is stale, which the next run removes.
    """

    def __init__(
        self,
        *,
        repository: str,
        passphrase: str,
        binary: str = "restic",
        timeout: float | None = None,
        cache_dir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = repository
        self.passphrase = passphrase
        self.binary = binary
        self.timeout = timeout
        self.cache_dir = cache_dir
        self.extra_env = dict(env or {})

    # --- running --------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        # The repository and passphrase are the ones given here, never an
        # inherited RESTIC_*_FILE or _COMMAND that would take precedence.
        env = {key: value for key, value in os.environ.items() if key not in _OURS}
        env.update(self.extra_env)
        env["RESTIC_REPOSITORY"] = self.repository
        env["RESTIC_PASSWORD"] = self.passphrase
        # Progress lines about once a second, also when stdout is no terminal.
        env.setdefault("RESTIC_PROGRESS_FPS", "1")
        if self.cache_dir:
            env["RESTIC_CACHE_DIR"] = self.cache_dir
        return env

    def _run(
        self,
        args: Sequence[str],
        *,
        on_json: Callable[[dict[str, Any]], None] | None = None,
        on_start: Callable[[int], None] | None = None,
        timeout: float | None = None,
        ok_codes: Sequence[int] = (0,),
    ) -> _Result:
        command = [self.binary, *args]
        timeout = timeout if timeout is not None else self.timeout
        # stderr goes to a file: a pipe that nobody reads while stdout streams
        # could fill up and stall restic.
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errfile:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errfile,
                    env=self._env(),
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    # Its own process group, so a timeout kills restic's
                    # children (ssh for sftp, rclone) as well.
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise ToolMissing(
                    f"the backup tool {self.binary!r} is not installed "
                    "(scripts/backups-install.sh installs it)"
                ) from None
            if on_start:
                on_start(process.pid)
            timed_out = threading.Event()

            def kill() -> None:
                timed_out.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

            timer = threading.Timer(timeout, kill) if timeout else None
            if timer:
                timer.daemon = True
                timer.start()
            out_lines: list[str] = []
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    out_lines.append(line)
                    if on_json and line.startswith("{"):
                        try:
                            message = json.loads(line)
                        except json.JSONDecodeError:
                            continue
                        on_json(message)
                returncode = process.wait()
            except BaseException:
                # A failing callback (or Ctrl-C) must not leave restic running.
                kill()
                process.wait()
                raise
            finally:
                if timer:
                    timer.cancel()
            errfile.seek(0)
            stderr = errfile.read()
        if timed_out.is_set():
            # What it was doing (restic retrying a write says so on stderr).
            last = [line.strip() for line in stderr.splitlines() if line.strip()]
            said = f"; it last said: {last[-1][:MAX_MESSAGE]}" if last else ""
            raise ToolTimeout(
                f"the backup tool did not finish within {timeout:g} s and was "
                f"stopped{said}"
            )
        result = _Result(returncode, "".join(out_lines), stderr)
        if returncode not in ok_codes:
            raise classify(returncode, stderr)
        return result

    # --- commands -----------------------------------------------------------------

    def version(self) -> str:
        return self._run(["version"]).stdout.strip()

    def init(self) -> None:
        """Create the repository; RepositoryExists if there already is one."""
        self._run(["init"])

    def backup(
        self,
        paths: Sequence[str | Path],
        *,
        tags: Sequence[str] = (),
        host: str | None = None,
        excludes: Sequence[str] = (),
        on_progress: Callable[[Progress], None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> BackupSummary:
        """Back up ``paths`` into one new snapshot.

        restic reads a file only if its size, mtime, ctime or inode differ
        from the last snapshot's. The maildirs' mirror (mirror.py) keeps the
        links of unchanged messages between runs, so their ctime holds still
        and none of the four needs to be ignored.
        """
        args = ["backup", "--json"]
        for tag in tags:
            args += ["--tag", tag]
        if host:
            args += ["--host", host]
        for pattern in excludes:
            args += ["--exclude", pattern]
        args += ["--", *(str(path) for path in paths)]
        summary: dict[str, Any] = {}
        errors: list[str] = []

        def handle(message: dict[str, Any]) -> None:
            kind = message.get("message_type")
            if kind == "status" and on_progress:
                on_progress(
                    Progress(
                        percent=float(message.get("percent_done", 0.0)),
                        files_done=int(message.get("files_done", 0)),
                        total_files=int(message.get("total_files", 0)),
                        bytes_done=int(message.get("bytes_done", 0)),
                        total_bytes=int(message.get("total_bytes", 0)),
                    )
                )
            elif kind == "summary":
                summary.update(message)
            elif kind == "error":
                errors.append(str(message.get("error", message))[:MAX_MESSAGE])

        result = self._run(args, on_json=handle, on_start=on_start, ok_codes=(0, 3))
        if not summary.get("snapshot_id"):
            raise ToolError(
                "the backup tool finished without a snapshot: "
                + _readable(result.stderr)
            )
        return BackupSummary(
            snapshot_id=summary["snapshot_id"],
            data_added=int(summary.get("data_added", 0)),
            files_new=int(summary.get("files_new", 0)),
            files_changed=int(summary.get("files_changed", 0)),
            files_unmodified=int(summary.get("files_unmodified", 0)),
            total_files_processed=int(summary.get("total_files_processed", 0)),
            total_bytes_processed=int(summary.get("total_bytes_processed", 0)),
            duration=float(summary.get("total_duration", 0.0)),
            incomplete=result.returncode == 3,
            errors=tuple(errors),
        )

    def snapshots(self, *, tags: Sequence[str] = ()) -> list[Snapshot]:
        """The snapshots, oldest first."""
        args = ["snapshots", "--json"]
        for tag in tags:
            args += ["--tag", tag]
        data = json.loads(self._run(args).stdout or "[]") or []
        return [
            Snapshot(
                id=item["id"],
                short_id=item.get("short_id", item["id"][:8]),
                time=_parse_time(item["time"]),
                paths=tuple(item.get("paths", ())),
                hostname=item.get("hostname", ""),
                tags=tuple(item.get("tags") or ()),
            )
            for item in data
        ]

    def stats(self) -> RepositoryStats:
        data = json.loads(self._run(["stats", "--json", "--mode", "raw-data"]).stdout)
        return RepositoryStats(
            total_size=int(data.get("total_size", 0)),
            total_blob_count=int(data.get("total_blob_count", 0)),
            snapshots_count=int(data.get("snapshots_count", 0)),
        )

    def restore(
        self,
        snapshot_id: str,
        *,
        target: str | Path,
        includes: Sequence[str] = (),
        verify: bool = True,
    ) -> None:
        """Extract ``snapshot_id`` (or only ``includes``) below ``target``.

        Paths keep their absolute form under ``target``; ``--verify`` reads the
        restored files back and compares them with the repository's hashes.
        """
        args = ["restore", snapshot_id, "--target", str(target)]
        for pattern in includes:
            args += ["--include", pattern]
        if verify:
            args.append("--verify")
        self._run(args)

    def forget(
        self,
        *,
        keep_daily: int,
        keep_weekly: int,
        keep_monthly: int,
        tags: Sequence[str] = (),
        prune: bool = True,
    ) -> list[str]:
        """Apply the retention policy; returns the ids of the snapshots removed."""
        args = [
            "forget",
            "--json",
            "--keep-daily",
            str(keep_daily),
            "--keep-weekly",
            str(keep_weekly),
            "--keep-monthly",
            str(keep_monthly),
            # Not by paths as well: a configuration path that appears or goes
            # away would start a new group that the old one's retention never
            # touches again.
            "--group-by",
            "host",
        ]
        for tag in tags:
            args += ["--tag", tag]
        if prune:
            args.append("--prune")
        stdout = self._run(args).stdout
        removed: list[str] = []
        for line in stdout.splitlines():
            # The JSON line; prune's text report follows, "[0:00] 100.00%" too.
            if not line.startswith(("[{", "[]")):
                continue
            for group in json.loads(line):
                removed += [item["id"] for item in group.get("remove") or ()]
        return removed

    def check(self, *, read_data_subset: str = "") -> str:
        """Verify the repository's structure and, optionally, part of the data."""
        args = ["check"]
        if read_data_subset:
            args += ["--read-data-subset", read_data_subset]
        return self._run(args).stdout

    def unlock(self) -> None:
        """Remove stale locks only: those of dead processes on this host or
        ones not refreshed for 30 minutes. A live run's lock stays."""
        self._run(["unlock"])

    def local_path(self) -> Path | None:
        """The repository's directory if restic's local backend serves it
        (a path, or ``local:PATH``); None for sftp:, s3:, rest: and the like."""
        location = self.repository.removeprefix("local:")
        if location == self.repository and _BACKEND.match(location):
            return None
        return Path(location)

    def unlock_if_locked(self) -> bool:
        """``unlock`` unless the repository certainly holds no lock; True if
        it ran.

        A local repository's ``locks/`` directory shows every lock: empty, no
        lock can be stale and ``unlock`` (which, like every restic call,
        opens the repository: a key derivation of about 0.5 s) is skipped.
        Anything there, or a remote repository, where listing the locks
        costs as much as removing them, and the stale ones are removed first,
        as every run always did, before the command that would meet them.
        A missing directory is left to that command to report
        ("repository unreachable").
        """
        path = self.local_path()
        if path is not None:
            try:
                names = os.listdir(path / "locks")
            except FileNotFoundError:
                return False
            # "-tmp-": a lock still being written, by a live restic.
            if all("-tmp-" in name for name in names):
                return False
        self.unlock()
        return True

    def local_size(self) -> int | None:
        """The bytes a local repository's files take (packs, index,
        snapshots, keys), found without opening it; None for a remote one.

        ``restic stats`` would open the repository and read its whole index
        and every snapshot's tree, a second or more per run.
        """
        path = self.local_path()
        if path is None:
            return None
        total = 0
        for top, _dirs, names in os.walk(path):
            for name in names:
                # Lock files come and go while other hosts' runs start and end.
                with contextlib.suppress(FileNotFoundError):
                    total += os.lstat(os.path.join(top, name)).st_size
        return total
