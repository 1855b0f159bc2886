"""snapshot_resolve(): run ids, snapshot ids and the short ids made of digits."""

from datetime import UTC, datetime

import pytest

from backups import services
from backups.models import BackupRun, State
from backups.runs import BackupError
from backups.tool import Snapshot

pytestmark = pytest.mark.django_db

DIGITS_ONLY = "48687773" + "ab" * 28  # restic ids are hex: some short ids lack letters


def snapshot(full_id: str) -> Snapshot:
    return Snapshot(
        id=full_id,
        short_id=full_id[:8],
        time=datetime(2026, 11, 1, tzinfo=UTC),
        paths=(),
        hostname="mail",
        tags=("mailpanel",),
    )


class Repository:
    def __init__(self, *ids: str) -> None:
        self.ids = ids

    def snapshots(self, tags):
        return [snapshot(full_id) for full_id in self.ids]


def test_a_snapshot_id_of_digits_only_is_not_taken_for_a_run_id():
    repository = Repository("0f" * 32, DIGITS_ONLY)

    found = services.snapshot_resolve("48687773", repository, snapshot_only=True)

    assert found.id == DIGITS_ONLY


def test_digits_are_a_run_id_when_that_run_exists():
    run = BackupRun.objects.create(state=State.SUCCEEDED, snapshot_id="0f0f0f0f")
    repository = Repository("0f" * 32, DIGITS_ONLY)

    assert services.snapshot_resolve(str(run.pk), repository).id == "0f" * 32


def test_digits_without_such_a_run_fall_back_to_a_snapshot_id():
    repository = Repository("0f" * 32, DIGITS_ONLY)

    assert services.snapshot_resolve("48687773", repository).id == DIGITS_ONLY


def test_digits_that_are_neither_say_so():
    with pytest.raises(BackupError, match="backup run 999999 has no snapshot"):
        services.snapshot_resolve("999999", Repository("0f" * 32))
