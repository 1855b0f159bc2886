"""What a mail host's worker does with a saved out-of-office reply.

``accounts.services.vacation_sync()`` is the plain function; the tests call
it with a vmail root of their own. ``mailserver.tasks.vacation_sync_task``
is its thin Celery wrapper; calling the task object runs its body here, in
this process (no broker, no eager mode), as the worker would.
"""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Vacation
from accounts.services import vacation_sync
from accounts.sieve_files import SieveInstallError
from domains.maildir_paths import MailboxPathError
from domains.models import Alias
from mailserver import lifecycle
from mailserver.models import MaildirJob, MailHost, OutboxMessage
from mailserver.tasks import vacation_sync_task
from tests.accounts.conftest import ADDRESS
from tests.domains.utils import saved

pytestmark = pytest.mark.django_db


def reply(mailbox, **fields) -> Vacation:
    today = timezone.localdate()
    defaults = {
        "enabled": True,
        "subject": "Away",
        "message": "Back on the 20th.",
        "start": today,
        "end": today + timedelta(days=7),
    }
    return Vacation.objects.create(mailbox=mailbox, **{**defaults, **fields})


@pytest.fixture
def root(tmp_path, settings):
    """A vmail tree passed explicitly; settings' root points elsewhere."""
    settings.MAILPANEL_VMAIL_ROOT = str(tmp_path / "not-this-one")
    if os.geteuid() != 0:
        settings.MAILPANEL_VMAIL_UID = os.getuid()
        settings.MAILPANEL_VMAIL_GID = os.getgid()
    path = tmp_path / "vmail"
    path.mkdir()
    return path


def active(home) -> str:
    return (home / ".dovecot.sieve").read_text()


# --- the plain function ------------------------------------------------------


def test_it_installs_the_reply_as_the_active_script_under_the_given_root(
    mailbox, root, tmp_path
):
    vacation = reply(mailbox)

    assert vacation_sync(mailbox=mailbox, vmail_root=root) == "installed"

    script = active(root / "example.org" / "alice")
    assert ':subject "Away"' in script
    assert "Back on the 20th." in script
    assert f'"le" "date" "{vacation.end.isoformat()}"' in script
    assert not (tmp_path / "not-this-one").exists()


def test_it_answers_for_the_mailboxs_aliases(mailbox, root):
    reply(mailbox)
    saved(Alias(domain=mailbox.domain, local_part="sales", destinations=ADDRESS))

    vacation_sync(mailbox=mailbox, vmail_root=root)

    script = active(root / "example.org" / "alice")
    assert ':addresses ["alice@example.org", "sales@example.org"]' in script


@pytest.mark.parametrize("row", ["switched off", "none"])
def test_it_removes_the_script_when_there_is_no_reply(mailbox, root, row):
    home = root / "example.org" / "alice"
    reply(mailbox)
    vacation_sync(mailbox=mailbox, vmail_root=root)
    if row == "none":
        Vacation.objects.all().delete()
    else:
        Vacation.objects.update(enabled=False)

    assert vacation_sync(mailbox=mailbox, vmail_root=root) == "removed"

    assert not (home / ".dovecot.sieve").is_symlink()
    assert not (home / "sieve" / "mailpanel.sieve").exists()


def test_it_writes_the_current_state_however_often_it_runs(mailbox, root):
    home = root / "example.org" / "alice"
    reply(mailbox, subject="First")
    Vacation.objects.update(subject="Second")

    vacation_sync(mailbox=mailbox, vmail_root=root)
    first = active(home)
    vacation_sync(mailbox=mailbox, vmail_root=root)

    assert active(home) == first
    assert ':subject "Second"' in first
    Vacation.objects.update(enabled=False)
    vacation_sync(mailbox=mailbox, vmail_root=root)
    vacation_sync(mailbox=mailbox, vmail_root=root)
    assert not (home / ".dovecot.sieve").is_symlink()


def test_it_leaves_an_owners_own_filters_alone_and_says_why(mailbox, root):
    home = root / "example.org" / "alice"
    home.mkdir(parents=True)
    (home / ".dovecot.sieve").write_text("# my filters\n")
    reply(mailbox)

    with pytest.raises(SieveInstallError, match="did not write"):
        vacation_sync(mailbox=mailbox, vmail_root=root)

    assert active(home) == "# my filters\n"


@pytest.mark.parametrize(
    "hostile", ["alice/", "{root}/example.org/alice", "../example.org/alice"]
)
@pytest.mark.parametrize("bobs_reply", ["on", "off"])
def test_it_never_writes_or_removes_another_mailboxs_script(
    mailbox, other_mailbox, root, hostile, bobs_reply
):
    # bob's local part as a row from before the check could hold it: once
    # "alice/" or an absolute path inside the root wrote or deleted alice's
    # script (issue 22).
    home = root / "example.org" / "alice"
    reply(mailbox, subject="Alice away")
    vacation_sync(mailbox=mailbox, vmail_root=root)
    reply(other_mailbox, subject="Bob away", enabled=bobs_reply == "on")
    other_mailbox.local_part = hostile.format(root=root)

    with pytest.raises(MailboxPathError):
        vacation_sync(mailbox=other_mailbox, vmail_root=root)

    assert ':subject "Alice away"' in active(home)
    assert sorted(p.name for p in root.iterdir()) == ["example.org"]
    assert sorted(p.name for p in (root / "example.org").iterdir()) == ["alice"]


# --- the worker's task ---------------------------------------------------------


def test_the_task_syncs_into_the_workers_vmail_root(mailbox, vmail_root):
    reply(mailbox)

    assert vacation_sync_task(mailbox.pk, None) == "installed"

    assert ':subject "Away"' in active(vmail_root / "example.org" / "alice")


def test_the_task_does_nothing_for_a_deleted_mailbox(mailbox, vmail_root):
    pk = mailbox.pk
    mailbox.delete()

    assert vacation_sync_task(pk, None) is None
    assert list(vmail_root.iterdir()) == []


def test_a_failed_write_fails_the_task(mailbox, vmail_root):
    """Raised, so "Celery Results" in the admin lists it as FAILURE, with why."""
    home = vmail_root / "example.org" / "alice"
    home.mkdir(parents=True)
    (home / ".dovecot.sieve").write_text("# my filters\n")
    reply(mailbox)

    with pytest.raises(SieveInstallError, match="did not write"):
        vacation_sync_task(mailbox.pk, None)


# --- renamed mailboxes -----------------------------------------------------------


@pytest.fixture
def mx1(settings, tmp_path) -> MailHost:
    settings.MAILPANEL_MAILDIR_SETTLE_SECONDS = 0
    settings.MAILPANEL_POSTFIX_DIR = str(tmp_path / "no-postfix")
    return MailHost.objects.create(name="mx1")


def vacation_messages() -> list[tuple[str, list]]:
    return [
        (m.queue, m.args)
        for m in OutboxMessage.objects.filter(task=lifecycle.VACATION_TASK).order_by(
            "pk"
        )
    ]


def test_after_a_rename_the_script_is_rendered_again_with_the_new_addresses(
    mailbox, vmail_root, mx1
):
    reply(mailbox)
    vacation_sync(mailbox=mailbox, vmail_root=vmail_root)
    assert '"alice@example.org"' in active(vmail_root / "example.org" / "alice")

    mailbox.local_part = "alicia"
    saved(mailbox)
    job = MaildirJob.objects.get(host=mx1)
    # Queued before the move ran (a save in the portal meanwhile): it waits,
    # and never creates the new home ahead of the move.
    assert vacation_sync_task(mailbox.pk, mx1.pk) == "waiting for the move"
    assert not (vmail_root / "example.org" / "alicia").exists()

    lifecycle.maildir_job_run(job=job)

    assert vacation_messages() == [("mx1", [mailbox.pk, mx1.pk])]
    queue, args = vacation_messages()[0]
    assert vacation_sync_task(*args) == "installed"
    script = active(vmail_root / "example.org" / "alicia")
    # The old address is now an alias of the renamed mailbox.
    assert ':addresses ["alice@example.org", "alicia@example.org"]' in script


def test_a_move_queues_no_sync_for_a_mailbox_without_a_reply(mailbox, vmail_root, mx1):
    mailbox.local_part = "alicia"
    saved(mailbox)

    lifecycle.maildir_job_run(job=MaildirJob.objects.get(host=mx1))

    assert vacation_messages() == []
