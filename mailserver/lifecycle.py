"""A mailbox's life on disk: renames move its maildir, deletes archive it.

domains never imports this module: ``settings.MAILPANEL_MAILBOX_HOOKS`` names
it, and domains.models / domains.lookups import it late (docs/workers.md).
Renaming a domain moves each of its mailboxes the same way.
The hooks run inside the transaction that renames or deletes the mailbox;
they only write rows (a ``MaildirJob`` per mail host, an outbox message) and
the mail hosts' workers do the file work after commit.

A move must never lose or bounce mail:

- while any host's job is pending (or failed), ``recipient_access_rows``
  makes Postfix answer 4xx for the old and the new address, so senders
  retry later;
- the old address is kept as an alias of the new one, so mail already on
  its way, and senders that still use it, reach the renamed mailbox;
- mail Postfix had queued for the old address is requeued once the move is
  done, so it passes the alias again (postsuper -r).

The owner's out-of-office script lives in the mailbox's home on every host:
``vacation_changed`` queues its sync on each, and a finished move queues it
again on its host, so the script's addresses follow the rename.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from domains.maildir_paths import MailboxPathError, mailbox_relative_dir
from mailserver import maildirs
from mailserver.hosts import mailhost_queues, mailserver_config_changed
from mailserver.models import MaildirJob
from mailserver.outbox import outbox_enqueue, waiting_args

if TYPE_CHECKING:
    from domains.models import Domain

logger = logging.getLogger(__name__)

DEFER_ACTION = "DEFER 4.2.1 Mailbox is being moved, try again later"
JOB_TASK = "mailserver.tasks.maildir_job_task"
AUTH_FLUSH_TASK = "mailserver.tasks.dovecot_auth_flush_task"
VACATION_TASK = "mailserver.tasks.vacation_sync_task"


def _relative(local_part: str, domain_name: str) -> str | None:
    """DOMAIN/LOCALPART under the vmail root, as in the lookup rows; None for
    a name outside the alphabet.

    Such a row predates the check (migration 0006 stops until it is renamed
    or deleted). Dovecot never accepted its name, so it owns no maildir, and
    the path its name makes is someone else's ("alice/" is alice's home):
    there is nothing of its own to move or archive.
    """
    try:
        return mailbox_relative_dir(domain=domain_name, local_part=local_part)
    except MailboxPathError:
        logger.warning(
            "%r@%s is outside the local-part alphabet: no maildir work for it.",
            local_part,
            domain_name,
        )
        return None


def _jobs_for_hosts(**fields) -> list[MaildirJob]:
    jobs = []
    for host_id, queue in mailhost_queues():
        job = MaildirJob.objects.create(host_id=host_id, **fields)
        outbox_enqueue(task=JOB_TASK, args=[job.pk], queue=queue)
        jobs.append(job)
    return jobs


# --- hooks called by domains ----------------------------------------------------


@transaction.atomic
def mailbox_moved(*, mailbox, old_local_part: str, old_domain) -> None:
    """``mailbox`` was renamed or moved to another domain (already saved)."""
    from domains import lookups
    from domains.models import Alias

    old_address = f"{old_local_part}@{old_domain.name}"
    source = _relative(old_local_part, old_domain.name)
    target = _relative(mailbox.local_part, mailbox.domain.name)
    if source is None or target is None:
        # Nothing on disk, and no address worth keeping: it never received.
        return
    _jobs_for_hosts(
        kind=MaildirJob.Kind.MOVE,
        mailbox=mailbox,
        source=source,
        target=target,
        old_address=old_address,
        new_address=mailbox.address,
    )
    if not Alias.objects.filter(domain=old_domain, local_part=old_local_part).exists():
        Alias(
            domain=old_domain,
            local_part=old_local_part,
            destinations=mailbox.address,
            description=f"Kept when the mailbox was renamed to {mailbox.address}.",
        ).save()
    # The job rows exist now: rebuild both domains so the deferral is live
    # when this transaction commits.
    lookups.sync_domains({old_domain.pk, mailbox.domain_id})


@transaction.atomic
def domain_renamed(*, domain: Domain, old_name: str) -> None:
    """``domain`` was renamed from ``old_name`` (already saved).

    Each mailbox moves as a renamed mailbox does: a job per mail host, both
    addresses deferred until every host is done. The old name is kept as an
    alias domain of the new one (when anything was addressed at it), so every
    old address, of mailboxes and aliases alike, still arrives.
    """
    from domains import lookups
    from domains.models import DomainAlias

    mailboxes = list(domain.mailboxes.values_list("pk", "local_part"))
    for mailbox_id, local_part in mailboxes:
        source = _relative(local_part, old_name)
        target = _relative(local_part, domain.name)
        if source is None or target is None:
            continue
        _jobs_for_hosts(
            kind=MaildirJob.Kind.MOVE,
            mailbox_id=mailbox_id,
            source=source,
            target=target,
            old_address=f"{local_part}@{old_name}",
            new_address=f"{local_part}@{domain.name}",
        )
    in_use = mailboxes or domain.aliases.exists()
    if in_use and not DomainAlias.objects.filter(name=old_name).exists():
        DomainAlias(name=old_name, target=domain).save()
    # The job rows exist now: rebuild so the deferral is live at commit.
    lookups.sync_domains({domain.pk})


@transaction.atomic
def mailbox_deleted(*, mailbox) -> None:
    """``mailbox`` is about to be deleted: archive (or remove) its maildir."""
    source = _relative(mailbox.local_part, mailbox.domain.name)
    if source is None:
        return
    remove = settings.MAILPANEL_MAILDIR_ON_DELETE == "remove"
    _jobs_for_hosts(
        kind=MaildirJob.Kind.REMOVE if remove else MaildirJob.Kind.ARCHIVE,
        mailbox=None,
        source=source,
        old_address=mailbox.address,
    )


def password_changed(*, mailbox) -> None:
    """Flush Dovecot's auth cache for the mailbox on every mail host."""
    for _host_id, queue in mailhost_queues():
        outbox_enqueue(task=AUTH_FLUSH_TASK, args=[mailbox.address], queue=queue)


def vacation_changed(*, mailbox) -> None:
    """The owner saved the out-of-office reply: sync its script on every host
    (where a sync of it is not already waiting).

    Called by ``accounts.services.vacation_set()`` inside its transaction;
    the outbox sends the tasks after commit.
    """
    _vacation_syncs_queue([mailbox.pk], mailhost_queues())


def dkim_keys_changed() -> None:
    """A DKIM key was activated, retired or deleted: every mail host renders
    its signing keys again and reloads (docs/dkim.md).

    Called by dkim.services inside its transaction: the configuration version
    is bumped and one reload per host goes through the outbox after commit,
    as for any other change of the rendered configuration.
    """
    mailserver_config_changed()


def lookups_rebuilt() -> None:
    """Addresses changed: re-sync every out-of-office reply that is on.

    A reply's script lists the addresses its owner receives mail at (Sieve's
    ``:addresses``), so an alias, alias domain or identity added or removed
    in the admin must reach it, not wait for the owner's next save. Which
    mailboxes gained or lost an address is not known here (an alias may point
    into another domain, and a deleted one is gone), while only the owners
    who are away have a reply on; so each of those is synced, on every mail
    host, unless its sync is already waiting in the outbox. Called by
    ``domains.lookups.sync_domains()`` inside the caller's transaction.
    """
    from accounts.models import Vacation

    mailbox_ids = list(
        Vacation.objects.filter(enabled=True).values_list("mailbox_id", flat=True)
    )
    if mailbox_ids:
        _vacation_syncs_queue(mailbox_ids, mailhost_queues())


def _vacation_syncs_queue(
    mailbox_ids: list[int], hosts: list[tuple[int | None, str]]
) -> None:
    """Queue a vacation sync per mailbox and host, unless one still waits.

    A sync still in the outbox reads the reply and the addresses as they are
    when it runs, so a second one would only repeat it.
    """
    waiting = waiting_args(task=VACATION_TASK)
    for host_id, queue in hosts:
        for mailbox_id in mailbox_ids:
            if (mailbox_id, host_id) not in waiting:
                outbox_enqueue(
                    task=VACATION_TASK, args=[mailbox_id, host_id], queue=queue
                )


def recipient_access_rows(domain) -> dict[str, str]:
    """Local parts of ``domain`` to defer (→ action) while a move is unfinished."""
    rows: dict[str, str] = {}
    unfinished = MaildirJob.objects.filter(kind=MaildirJob.Kind.MOVE).exclude(
        state=MaildirJob.State.DONE
    )
    suffix = f"@{domain.name}"
    for old, new in unfinished.values_list("old_address", "new_address"):
        for address in (old, new):
            if address.endswith(suffix):
                rows[address[: -len(suffix)]] = DEFER_ACTION
    return rows


# --- the work on the mail host ------------------------------------------------


def vmail_root() -> Path:
    return Path(settings.MAILPANEL_VMAIL_ROOT)


def archive_root() -> Path:
    configured = settings.MAILPANEL_MAILDIR_ARCHIVE
    return Path(configured) if configured else vmail_root() / ".archive"


def maildir_job_run(*, job: MaildirJob) -> MaildirJob:
    """Do one job on this host and record the outcome; safe to run twice."""
    if job.state == MaildirJob.State.DONE:
        return job
    try:
        if job.kind == MaildirJob.Kind.MOVE:
            merged = maildirs.maildir_move(
                root=vmail_root(),
                source=job.source,
                target=job.target,
                settle_seconds=settings.MAILPANEL_MAILDIR_SETTLE_SECONDS,
            )
            if merged:
                logger.info("%s: %s late message(s) merged", job, merged)
        elif job.kind == MaildirJob.Kind.ARCHIVE:
            maildirs.maildir_archive(
                root=vmail_root(), source=job.source, archive=archive_root()
            )
        else:
            maildirs.maildir_remove(root=vmail_root(), source=job.source)
    except (maildirs.MaildirError, OSError) as exc:
        MaildirJob.objects.filter(pk=job.pk).update(
            state=MaildirJob.State.FAILED, error=str(exc)[:2000]
        )
        job.refresh_from_db()
        raise
    MaildirJob.objects.filter(pk=job.pk).update(
        state=MaildirJob.State.DONE, error="", finished=timezone.now()
    )
    job.refresh_from_db()
    if job.kind == MaildirJob.Kind.MOVE:
        _move_finished(job)
        _vacation_resync(job)
    return job


def move_unfinished(*, mailbox_id: int, host_id: int | None) -> bool:
    """Whether a move of the mailbox's maildir on this host is still to do.

    The vacation sync waits for it: writing into the new home first would
    turn the move's one rename into a merge. The move queues the sync again
    when it is done.
    """
    return (
        MaildirJob.objects.filter(
            kind=MaildirJob.Kind.MOVE, mailbox_id=mailbox_id, host_id=host_id
        )
        .exclude(state=MaildirJob.State.DONE)
        .exists()
    )


def _vacation_resync(job: MaildirJob) -> None:
    """Render the moved mailbox's out-of-office script again, on this host.

    The script moved with the home, but its ``:addresses`` still name the
    old addresses; and a sync that waited for this move (``move_unfinished``)
    has yet to run. Queued whenever the mailbox has a Vacation row, on or off
    (one query per move); mailboxes that never had one need nothing.
    """
    from accounts.models import Vacation

    if job.mailbox_id is None:
        return
    if not Vacation.objects.filter(mailbox_id=job.mailbox_id).exists():
        return
    queue = job.host.queue if job.host_id else ""
    with transaction.atomic():
        _vacation_syncs_queue([job.mailbox_id], [(job.host_id, queue)])


def _move_finished(job: MaildirJob) -> None:
    """Lift the deferral once every host is done, then requeue held mail."""
    from domains import lookups
    from domains.models import Domain

    still = MaildirJob.objects.filter(
        kind=MaildirJob.Kind.MOVE,
        old_address=job.old_address,
        new_address=job.new_address,
    ).exclude(state=MaildirJob.State.DONE)
    if not still.exists():
        names = {job.old_address.split("@")[1], job.new_address.split("@")[1]}
        with transaction.atomic():
            lookups.sync_domains(
                Domain.objects.filter(name__in=names).values_list("pk", flat=True)
            )
    postfix_requeue(address=job.old_address)


def postfix_requeue(*, address: str) -> int:
    """Send queued mail for ``address`` through cleanup again, then flush.

    Postfix resolves virtual aliases when it accepts a message, so mail
    queued for the old address before the rename keeps that recipient; run
    through cleanup again it follows the alias to the renamed mailbox.
    """
    config_dir = settings.MAILPANEL_POSTFIX_DIR
    try:
        listing = subprocess.run(
            ["postqueue", "-c", config_dir, "-j"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("postqueue -j: %s", exc)
        return 0
    queue_ids = []
    for line in listing.stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        recipients = [r.get("address", "").lower() for r in entry.get("recipients", [])]
        if address.lower() in recipients:
            queue_ids.append(entry["queue_id"])
    for queue_id in queue_ids:
        subprocess.run(
            ["postsuper", "-c", config_dir, "-r", queue_id],
            capture_output=True,
            timeout=60,
            check=False,
        )
    if queue_ids:
        subprocess.run(
            ["postqueue", "-c", config_dir, "-f"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    return len(queue_ids)
