from backups import services
from backups.models import BackupPolicy, BackupRun, State
from tests.backups.conftest import message, restic


def test_it_applies_the_retention_policy_with_the_tools_prune(backup_env):
    policy = BackupPolicy.load()
    policy.keep_daily, policy.keep_weekly, policy.keep_monthly = 1, 0, 0
    policy.save()
    for n in range(3):
        backup_env.vmail.deliver("alice@example.org", message(f"m{n}"))
        services.backup_run()

    run = services.backup_prune()

    assert run.kind == BackupRun.Kind.PRUNE
    assert run.state == State.SUCCEEDED, run.error
    assert len(run.details["removed"]) == 2
    assert restic(backup_env, "snapshots", "--json").stdout.count('"id"') == 1
    drill = services.restore_drill()
    assert drill.state == State.SUCCEEDED, drill.error
    assert drill.messages_checked == 3


def test_it_checks_the_repository(backup_env):
    backup_env.vmail.deliver("alice@example.org", message("one"))
    services.backup_run()

    run = services.backup_check()

    assert run.kind == BackupRun.Kind.CHECK
    assert run.state == State.SUCCEEDED, run.error


def test_it_fails_the_check_of_a_damaged_repository(backup_env):
    from django.core import mail

    backup_env.vmail.deliver("alice@example.org", message("one"))
    services.backup_run()
    pack = next(p for p in (backup_env.repository / "data").rglob("*") if p.is_file())
    pack.write_bytes(b"damaged")

    run = services.backup_check()

    assert run.state == State.FAILED
    assert run.error
    assert len(mail.outbox) == 1
