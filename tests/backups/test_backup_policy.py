from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import IntegrityError

from backups.models import BackupPolicy

NOON = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def policy(db, settings) -> BackupPolicy:
    settings.TIME_ZONE = "UTC"
    return BackupPolicy.load()


def test_it_keeps_a_single_row(policy):
    again = BackupPolicy.load()
    again.keep_daily = 3
    again.save()

    assert BackupPolicy.objects.count() == 1
    assert BackupPolicy.objects.get().keep_daily == 3


def test_it_refuses_a_second_row_in_the_database(policy):
    with pytest.raises(IntegrityError):
        BackupPolicy.objects.bulk_create([BackupPolicy(pk=2)])


def test_it_is_due_after_the_daily_time_once(policy):
    policy.daily_at = time(3, 0)

    assert policy.backup_due(now=NOON, last_started=None)
    assert policy.backup_due(now=NOON, last_started=NOON - timedelta(days=1))
    assert not policy.backup_due(now=NOON, last_started=NOON.replace(hour=3, minute=5))
    assert not policy.backup_due(now=NOON.replace(hour=2), last_started=None)


def test_it_is_never_due_when_disabled(policy):
    policy.enabled = False

    assert not policy.backup_due(now=NOON, last_started=None)
    assert not policy.every_due(days=1, now=NOON, last_started=None)


def test_it_spaces_checks_by_days(policy):
    assert policy.every_due(days=7, now=NOON, last_started=NOON - timedelta(days=7))
    assert not policy.every_due(days=7, now=NOON, last_started=NOON - timedelta(days=6))
    assert not policy.every_due(days=0, now=NOON, last_started=None)
