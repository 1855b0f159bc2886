from backups import tasks
from backups.models import BackupPolicy, BackupRun, RestoreDrill, State
from tests.backups.conftest import message


def test_it_runs_the_scheduled_work_when_due(backup_env):
    backup_env.vmail.deliver("alice@example.org", message("one"))
    policy = BackupPolicy.load()
    policy.daily_at = policy.daily_at.replace(hour=0, minute=0)
    policy.save()

    backup_id = tasks.backup_run_task()
    assert tasks.backup_run_task() is None  # today's is taken
    check_id = tasks.backup_check_task()
    prune_id = tasks.backup_prune_task()
    drill_id = tasks.restore_drill_task()

    assert BackupRun.objects.get(pk=backup_id).state == State.SUCCEEDED
    assert BackupRun.objects.get(pk=check_id).kind == BackupRun.Kind.CHECK
    assert BackupRun.objects.get(pk=prune_id).state == State.SUCCEEDED
    assert RestoreDrill.objects.get(pk=drill_id).state == State.SUCCEEDED
    assert tasks.backup_check_task() is None
    assert tasks.restore_drill_task() is None


def test_it_does_nothing_when_the_policy_is_disabled(db):
    policy = BackupPolicy.load()
    policy.enabled = False
    policy.save()

    assert tasks.backup_run_task() is None
    assert tasks.backup_prune_task() is None
    assert tasks.backup_check_task() is None
    assert tasks.restore_drill_task() is None
    assert not BackupRun.objects.exists()


def test_it_ignores_a_run_deleted_before_the_worker_got_to_it(db):
    assert tasks.backup_run_task(123456) is None
