"""Backups, restores, drills, retention and checks: what the admin, the
management commands and the Celery tasks call.

A snapshot holds one staging tree and the configuration paths:

    STAGING/manifest.json          per-mailbox message counts and checksums
    STAGING/database/mailpanel.*   the database dump
    STAGING/vmail/DOMAIN/LOCAL/    each mailbox home, frozen (see mirror.py)
    /etc/postfix, /etc/dovecot, TLS and DKIM keys, as they are

restic (tool.py) stores it deduplicated, compressed and encrypted; this
module never writes an archive format of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backups import conf, database, maildir, runs
from backups import staging as staging_tree
from backups.models import BackupPolicy, BackupRun, RestoreDrill, State
from backups.runs import BACKUP_TASK, BackupError
from backups.tool import Progress, RepositoryExists, Restic, Snapshot, ToolError
from domains.maildir_paths import MailboxPathError, mailbox_dir_at, mailbox_dir_parts
from mailserver.outbox import outbox_enqueue, outbox_latest

# --- Backing up -------------------------------------------------------------------


def backup_init() -> bool:
    """Create the repository; False if it already exists.

    Never done implicitly by a run: a remote disk that failed to mount would
    otherwise get a fresh, empty repository and the runs would "succeed".
    """
    try:
        conf.restic().init()
    except RepositoryExists:
        return False
    return True


def backup_enqueue() -> BackupRun:
    """Queue a backup for the worker, sent once the transaction commits.

    The task is an outbox message written with the run: with the broker
    down the run stays queued (the admin says it waits for the broker) and
    the outbox flush sends it once the broker is back, instead of a publish
    failing after the commit and the run staying queued for ever.
    """
    with transaction.atomic():
        run = BackupRun.objects.create(kind=BackupRun.Kind.BACKUP)
        outbox_enqueue(task=BACKUP_TASK, args=[run.pk])
    return run


def backup_waits_for_broker(run: BackupRun) -> bool:
    """Whether the queued ``run`` is still in the outbox, not yet sent."""
    if run.state != State.QUEUED:
        return False
    message = outbox_latest(task=BACKUP_TASK, args=[run.pk])
    return message is not None and message.sent_at is None


def backup_run(
    *,
    run: BackupRun | None = None,
    on_progress: Callable[[BackupRun, Progress], None] | None = None,
) -> BackupRun:
    """Take one backup now; the returned row says how it went."""
    if run is None:
        run = BackupRun.objects.create(kind=BackupRun.Kind.BACKUP)

    def work(run: BackupRun) -> dict[str, Any]:
        tool = conf.restic()
        # Locks left by a restic that was killed; live ones stay.
        tool.unlock_if_locked()
        staging = conf.staging_dir()
        staging_tree.clear(staging)
        try:
            staged = staging_tree.stage(staging, run)
            manifest = staged.manifest

            def progress(report: Progress) -> None:
                runs.update_progress(
                    run,
                    progress_percent=report.percent,
                    files_done=report.files_done,
                    total_files=report.total_files,
                    bytes_done=report.bytes_done,
                    total_bytes=report.total_bytes,
                )
                if on_progress:
                    run.refresh_from_db()
                    on_progress(run, report)

            summary = tool.backup(
                [staging, *conf.config_paths()],
                tags=[conf.TAG],
                host=conf.host(),
                excludes=[str(path) for path in staging_tree.unsnapshotted(staging)],
                on_progress=progress,
                on_start=lambda pid: runs.update_progress(run, tool_pid=pid),
            )
        finally:
            staging_tree.clear(staging)
        # A remote repository is sized by prune runs, not by every backup:
        # restic stats reads the whole index and every snapshot's tree.
        repository_size = tool.local_size()
        return {
            "state": State.PARTIAL if summary.incomplete else State.SUCCEEDED,
            "error": "; ".join(summary.errors),
            "snapshot_id": summary.snapshot_id,
            "bytes_added": summary.data_added,
            "repository_size": repository_size,
            "progress_percent": 1.0,
            "details": {
                **manifest["totals"],
                "database_sha256": manifest["database"]["sha256"],
                "messages_hashed": staged.messages_hashed,
                "files_new": summary.files_new,
                "files_changed": summary.files_changed,
                "files_unmodified": summary.files_unmodified,
            },
        }

    return runs.execute(run, work)


def backup_prune(*, run: BackupRun | None = None) -> BackupRun:
    """Apply the policy's retention with restic's forget --prune."""
    run = run or BackupRun.objects.create(kind=BackupRun.Kind.PRUNE)
    policy = BackupPolicy.load()

    def work(run: BackupRun) -> dict[str, Any]:
        tool = conf.restic()
        tool.unlock_if_locked()
        removed = tool.forget(
            keep_daily=policy.keep_daily,
            keep_weekly=policy.keep_weekly,
            keep_monthly=policy.keep_monthly,
            tags=[conf.TAG],
        )
        size = tool.local_size()
        return {
            "repository_size": tool.stats().total_size if size is None else size,
            "details": {"removed": removed},
        }

    return runs.execute(run, work)


def backup_check(*, run: BackupRun | None = None) -> BackupRun:
    """restic's integrity check, reading back the policy's share of the data."""
    run = run or BackupRun.objects.create(kind=BackupRun.Kind.CHECK)
    policy = BackupPolicy.load()

    def work(run: BackupRun) -> dict[str, Any]:
        tool = conf.restic()
        tool.unlock_if_locked()
        percent = policy.check_read_percent
        tool.check(read_data_subset=f"{min(percent, 100)}%" if percent else "")
        return {"details": {"read_percent": percent}}

    return runs.execute(run, work)


# --- Restoring --------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    snapshot_id: str
    database_restored: bool
    mailboxes: int
    messages_restored: int
    messages_present: int
    config_files: int


def snapshot_resolve(
    reference: str, tool: Restic | None = None, *, snapshot_only: bool = False
) -> Snapshot:
    """A backup by run id, by restic snapshot id (or prefix) or "latest".

    Snapshot ids work without the database: after a disaster the table of
    runs is empty until the database itself is restored. A reference of
    digits only is a run id if such a run exists; otherwise, or with
    ``snapshot_only``, it is a snapshot id: restic's ids are hex, and about
    one short id in 43 has no letter at all.
    """
    tool = tool or conf.restic()
    snapshots = tool.snapshots(tags=[conf.TAG])
    wanted = reference.strip().lower()
    if wanted.isdigit() and not snapshot_only:
        run = BackupRun.objects.filter(pk=int(wanted)).first()
        if run is not None and not run.snapshot_id:
            raise BackupError(f"backup run {reference} has no snapshot to restore")
        if run is not None:
            wanted = run.snapshot_id
        elif not any(snap.id.startswith(wanted) for snap in snapshots):
            raise BackupError(f"backup run {reference} has no snapshot to restore")
    if wanted == "latest":
        if not snapshots:
            raise BackupError("the repository has no mailpanel backup yet")
        return snapshots[-1]
    matches = [snap for snap in snapshots if snap.id.startswith(wanted)]
    if len(matches) != 1:
        raise BackupError(f"no single snapshot {wanted!r} in the repository")
    return matches[0]


def _extract_manifest(
    tool: Restic, snapshot: Snapshot, scratch: Path
) -> tuple[Path, dict[str, Any]]:
    """Restore and read the manifest; returns (staging path, manifest)."""
    includes = [f"{path}/{staging_tree.MANIFEST}" for path in snapshot.paths]
    tool.restore(snapshot.id, target=scratch, includes=includes, verify=False)
    for path in snapshot.paths:
        candidate = scratch / path.lstrip("/") / staging_tree.MANIFEST
        if candidate.is_file():
            manifest = json.loads(candidate.read_text())
            if manifest.get("format") != staging_tree.MANIFEST_FORMAT:
                raise BackupError(f"unknown manifest format {manifest.get('format')}")
            return Path(path), manifest
    raise BackupError(f"snapshot {snapshot.short_id} has no mailpanel manifest")


def _under(scratch: Path, path: str | Path) -> Path:
    return scratch / str(path).lstrip("/")


def _restore_config(scratch: Path, manifest: dict[str, Any]) -> int:
    """Put back configuration files and keys that are missing; never overwrite.

    The live configuration is rendered from the database (``mailserver
    apply``); what cannot be rendered again is the keys.
    """
    count = 0
    for original in manifest.get("config_paths", []):
        restored = _under(scratch, original)
        if restored.is_file():
            pairs = [(restored, Path(original))]
        else:
            pairs = [
                (path, Path(original) / path.relative_to(restored))
                for path in sorted(restored.rglob("*"))
                if path.is_file() or path.is_symlink()
            ]
        for source, target in pairs:
            if target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
            count += 1
    return count


def _settle_restored_runs(snapshot: Snapshot, manifest: dict[str, Any]) -> None:
    """Finish the rows the restored dump caught mid-run.

    The dump is taken during its own run, so that row (and any other run then
    going) is RUNNING in it; left so, it would block the schedule or be
    reported as interrupted.
    """
    now = timezone.now()
    BackupRun.objects.filter(pk=manifest.get("run_id")).update(
        state=State.SUCCEEDED,
        finished=snapshot.time,
        # The short id, as restic's backup summary gave it to the run.
        snapshot_id=snapshot.short_id,
        progress_percent=1.0,
        error="",
    )
    BackupRun.objects.filter(state__in=[State.QUEUED, State.RUNNING]).update(
        state=State.FAILED,
        finished=now,
        alerted=now,
        error="interrupted: the database was restored from a backup taken then",
    )


def _check_folder_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or ".." in name:
        raise BackupError(
            f"{name!r} cannot be a folder name (no leading dot, no '/' or '..')"
        )


def _restorable(
    selected: dict[str, dict[str, Any]], report: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """The mailboxes whose path in the manifest is a mailbox's own directory.

    The manifest is read back from the repository, and the paths in it name
    what the restore writes in the live vmail tree: one that is not
    DOMAIN/LOCALPART of the hosted alphabet (a directory no mailbox could
    own, or an edited manifest) is reported and left out.
    """
    kept = {}
    for name, box in sorted(selected.items()):
        try:
            mailbox_dir_parts(str(box["path"]))
        except MailboxPathError as exc:
            report(f"{name}: skipped, {exc}")
            continue
        kept[name] = box
    return kept


def backup_restore(
    *,
    snapshot: str,
    everything: bool = False,
    domain: str = "",
    address: str = "",
    into_folder: str = "",
    report: Callable[[str], None] = lambda line: None,
) -> RestoreResult:
    """Restore everything, one domain's mail or one mailbox's mail.

    Mail is merged (see ``maildir.merge``): nothing in any other mailbox, and
    no message already present, is touched. ``everything`` also replaces the
    database with the dump and puts back missing configuration and keys.
    """
    if sum((everything, bool(domain), bool(address))) != 1:
        raise BackupError("choose exactly one of everything, a domain, a mailbox")
    if into_folder:
        _check_folder_name(into_folder)
    tool = conf.restic()
    found = snapshot_resolve(snapshot, tool)
    report(f"snapshot {found.short_id} of {found.time:%Y-%m-%d %H:%M} UTC")
    scratch = Path(
        tempfile.mkdtemp(prefix="mailpanel-restore-", dir=conf.scratch_dir())
    )
    try:
        staging, manifest = _extract_manifest(tool, found, scratch)
        mailboxes = manifest["mailboxes"]
        if address:
            wanted = address.strip().lower()
            selected = {k: v for k, v in mailboxes.items() if k == wanted}
            if not selected:
                raise BackupError(f"{address} is not in snapshot {found.short_id}")
        elif domain:
            wanted = domain.strip().lower().rstrip(".")
            selected = {
                k: v for k, v in mailboxes.items() if k.rpartition("@")[2] == wanted
            }
            if not selected:
                raise BackupError(
                    f"no mailbox of {domain} in snapshot {found.short_id}"
                )
        else:
            selected = dict(mailboxes)
        selected = _restorable(selected, report)
        if address and not selected:
            raise BackupError(
                f"{address} cannot be restored: its path in the snapshot is not "
                "DOMAIN/LOCALPART of a valid mailbox name"
            )
        if everything:
            includes: list[str] = []
        else:
            includes = [f"{staging}/vmail/{box['path']}" for box in selected.values()]
        report(f"extracting {len(selected)} mailbox(es) from the repository")
        tool.restore(found.id, target=scratch, includes=includes)
        database_restored = False
        if everything:
            dump = _under(scratch, staging) / manifest["database"]["file"]
            if staging_tree.sha256(dump) != manifest["database"]["sha256"]:
                raise BackupError("the database dump does not match its checksum")
            report("loading the database dump")
            database.load(dump)
            _settle_restored_runs(found, manifest)
            database_restored = True
        restored = present = 0
        root = conf.vmail_root()
        for name, box in sorted(selected.items()):
            result = maildir.merge(
                _under(scratch, staging) / "vmail" / box["path"],
                mailbox_dir_at(root=root, relative=box["path"]),
                into_folder=into_folder,
                uid=settings.MAILPANEL_VMAIL_UID,
                gid=settings.MAILPANEL_VMAIL_GID,
            )
            report(
                f"{name}: {result.restored} message(s) restored, "
                f"{result.already_there} already there"
            )
            restored += result.restored
            present += result.already_there
        config_files = _restore_config(scratch, manifest) if everything else 0
        if everything:
            report(f"{config_files} missing configuration file(s) put back")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RestoreResult(
        snapshot_id=found.id,
        database_restored=database_restored,
        mailboxes=len(selected),
        messages_restored=restored,
        messages_present=present,
        config_files=config_files,
    )


# --- Restore drill --------------------------------------------------------------


def _drill_database_name() -> str:
    name = settings.MAILPANEL_BACKUP_DRILL_DATABASE
    return name or f"{database._settings()['NAME']}_restore_drill"


def restore_drill(*, run: BackupRun | None = None) -> RestoreDrill:
    """Restore a backup (the newest by default) into scratch space and verify it.

    The dump must load into a scratch database, and every mailbox's message
    count and checksum must match the manifest written when it was taken.
    """
    if run is None:
        run = (
            BackupRun.objects.filter(
                kind=BackupRun.Kind.BACKUP,
                state__in=[State.SUCCEEDED, State.PARTIAL],
            )
            .exclude(snapshot_id="")
            .order_by("-finished")
            .first()
        )
    drill = RestoreDrill.objects.create(
        run=run,
        snapshot_id=run.snapshot_id if run else "",
        hostname=socket.gethostname(),
        pid=os.getpid(),
    )
    scratch: Path | None = None
    try:
        if run is None:
            raise BackupError("there is no successful backup to drill")
        tool = conf.restic()
        tool.unlock_if_locked()
        found = snapshot_resolve(run.snapshot_id, tool, snapshot_only=True)
        scratch = Path(
            tempfile.mkdtemp(prefix="mailpanel-drill-", dir=conf.scratch_dir())
        )
        staging, manifest = _extract_manifest(tool, found, scratch)
        tool.restore(found.id, target=scratch, includes=[str(staging)])
        tree = _under(scratch, staging)
        dump = tree / manifest["database"]["file"]
        if staging_tree.sha256(dump) != manifest["database"]["sha256"]:
            raise BackupError("the database dump does not match its checksum")
        migrations = database.verify(dump, scratch_name=_drill_database_name())
        if not migrations:
            raise BackupError("the restored database has no applied migrations")
        RestoreDrill.objects.filter(pk=drill.pk).update(database_ok=True)
        problems = []
        messages = 0
        for address, box in sorted(manifest["mailboxes"].items()):
            found_box = maildir.describe(tree / "vmail" / box["path"])
            messages += int(found_box["messages"])
            if found_box["messages"] != box["messages"]:
                problems.append(
                    f"{address}: {found_box['messages']} messages, "
                    f"manifest says {box['messages']}"
                )
            elif found_box["sha256"] != box["sha256"]:
                problems.append(f"{address}: checksum differs from the manifest")
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise BackupError("; ".join(problems[:3]) + more)
        RestoreDrill.objects.filter(pk=drill.pk).update(
            state=State.SUCCEEDED,
            finished=timezone.now(),
            mailboxes_checked=len(manifest["mailboxes"]),
            messages_checked=messages,
        )
    except (BackupError, ToolError, database.DatabaseError, OSError, KeyError) as exc:
        RestoreDrill.objects.filter(pk=drill.pk).update(
            state=State.FAILED,
            finished=timezone.now(),
            error=(str(exc) or type(exc).__name__)[:2000],
        )
        drill.refresh_from_db()
        runs.alert_drill(drill)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    drill.refresh_from_db()
    return drill
