import json

from django.core import mail

from backups import services
from backups.models import BackupRun, State
from tests.backups.conftest import message, restic


def test_it_backs_up_database_mail_configuration_and_keys(backup_env):
    vmail = backup_env.vmail
    vmail.deliver("alice@example.org", message("one"))
    vmail.deliver("alice@example.org", message("two"), sub="cur")
    vmail.deliver("alice@example.org", message("sent"), folder="Sent", sub="cur")
    vmail.deliver("bob@example.net", message("three"))

    run = services.backup_run()

    assert run.state == State.SUCCEEDED, run.error
    assert run.snapshot_id
    assert run.bytes_added > 0
    assert run.repository_size > 0
    assert run.started <= run.finished
    assert run.details["mailboxes"] == 2
    assert run.details["messages"] == 4
    assert run.progress_percent == 1.0
    listing = restic(backup_env, "ls", "--json", run.snapshot_id).stdout
    paths = {json.loads(line).get("path") for line in listing.splitlines()[1:]}
    staging = backup_env.vmail.root / ".mailpanel-backup"
    assert f"{staging}/manifest.json" in paths
    assert f"{staging}/database/mailpanel.pgdump" in paths
    assert f"{backup_env.config}/main.cf" in paths
    assert str(backup_env.tls_key) in paths
    assert f"{staging}/vmail/example.org/alice/Maildir/.Sent/cur" in paths
    assert not mail.outbox


def test_it_keeps_the_frozen_maildirs_but_not_the_dump(backup_env):
    delivered = backup_env.vmail.deliver("alice@example.org", message("one"))

    services.backup_run()

    staging = backup_env.vmail.root / ".mailpanel-backup"
    assert sorted(p.name for p in staging.iterdir()) == [
        "checksums.json",
        "lock",
        "vmail",
    ]
    frozen = staging / "vmail" / "example.org" / "alice" / "Maildir" / "new"
    assert [p.stat().st_ino for p in frozen.iterdir()] == [delivered.stat().st_ino]


def test_it_adds_little_when_nothing_changed(backup_env):
    for n in range(50):
        backup_env.vmail.deliver("alice@example.org", message(f"m{n}", 40000))
    first = services.backup_run()

    second = services.backup_run()

    assert second.state == State.SUCCEEDED, second.error
    assert second.snapshot_id != first.snapshot_id
    assert second.details["files_unmodified"] >= 50
    # What is added again is the database dump, not the mail.
    assert second.bytes_added < first.bytes_added / 4


def test_it_records_progress_while_the_tool_runs(backup_env):
    for n in range(20):
        backup_env.vmail.deliver("alice@example.org", message(f"m{n}", 20000))
    seen = []

    def progress(run, report):
        seen.append((run.state, run.tool_pid, report.total_files))

    run = services.backup_run(on_progress=progress)

    assert run.state == State.SUCCEEDED, run.error
    assert seen
    assert all(state == State.RUNNING and pid for state, pid, _ in seen)


def test_it_does_a_queued_run_only_once(backup_env):
    from backups.tasks import backup_run_task

    run = BackupRun.objects.create()

    assert backup_run_task(run.pk) == run.pk
    first = BackupRun.objects.get(pk=run.pk)
    assert backup_run_task(run.pk) == run.pk

    assert BackupRun.objects.get(pk=run.pk).finished == first.finished
    assert BackupRun.objects.count() == 1
