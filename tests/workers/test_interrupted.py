"""A worker killed mid-run: its backup or relay test ends, without a later one.

Real workers on the session's Redis, on the default queue (the one backups
and relay tests use), killed with SIGKILL while the work is going; beat's
recover tasks, called here as plain functions, then fail the row and mail
the admins once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid

import pytest
from django.core import mail
from django.db import transaction

from backups.models import BackupRun, State
from backups.services import backup_enqueue, backup_init
from backups.tasks import backup_recover_task
from relays.models import RelayHost
from relays.services import relay_test_enqueue
from relays.tasks import relay_tests_recover_task
from tests.backups.conftest import Vmail, message
from tests.relays.conftest import TEST_KEY, make_relay
from tests.workers.conftest import (
    backup_settings,
    database_url,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.postgres

# restic, except that a backup never ends: the worker dies first.
SLOW_RESTIC = """#!/bin/sh
for arg in "$@"; do
  if [ "$arg" = backup ]; then exec sleep 600; fi
done
exec {restic} "$@"
"""


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = [("Admin", "admin@example.org")]
    settings.MAILPANEL_BACKUP_ALERT_EMAILS = []


def general_worker(broker, workdir, settings: dict):
    return start_worker(
        name=f"general_{uuid.uuid4().hex[:6]}",
        broker=broker.url,
        workdir=workdir,
        settings=settings,
        database_url=database_url(),
        mail_host=False,
    )


def test_it_fails_a_backup_whose_worker_was_killed(
    broker, workdir, tmp_path, transactional_db, settings
):
    backup = backup_settings(tmp_path)
    for name, value in backup.items():
        setattr(settings, name, value)
    assert backup_init()
    Vmail(tmp_path / "vmail").deliver("alice@example.org", message("hello"))
    slow = tmp_path / "slow-restic"
    slow.write_text(SLOW_RESTIC.format(restic=backup["MAILPANEL_BACKUP_RESTIC"]))
    slow.chmod(0o755)
    worker = general_worker(
        broker, workdir, dict(backup, MAILPANEL_BACKUP_RESTIC=str(slow))
    )
    tool_pid = None
    try:
        with transaction.atomic():
            run = backup_enqueue()
        assert wait_until(
            lambda: (
                BackupRun.objects.filter(pk=run.pk, state=State.RUNNING)
                .exclude(tool_pid=None)
                .exists()
            ),
            timeout=180,
        ), worker.logs()
        run.refresh_from_db()
        tool_pid = run.tool_pid
        assert run.pid == worker.process.pid
        assert backup_recover_task() == 0  # alive: left alone

        worker.process.kill()
        worker.process.wait(timeout=10)

        assert backup_recover_task() == 1
        assert backup_recover_task() == 0
        run.refresh_from_db()
        assert run.state == State.FAILED
        assert run.error.startswith("interrupted:")
        assert len(mail.outbox) == 1
        assert f"backup #{run.pk} failed" in mail.outbox[0].subject
    finally:
        worker.stop()
        if tool_pid:
            # restic runs in a process group of its own; it outlived the worker.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(tool_pid, signal.SIGKILL)


def test_it_ends_a_relay_test_whose_worker_was_killed(
    broker, workdir, transactional_db, settings
):
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    settings.MAILPANEL_RELAY_TEST_TIMEOUT = 300
    # Takes the connection (the kernel's backlog) and never says a word, so
    # the test waits for the greeting until the worker is killed.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    relay = make_relay(
        name="silent", host="127.0.0.1", port=silent.getsockname()[1], username="u"
    )
    worker = general_worker(
        broker,
        workdir,
        {
            "MAILPANEL_SECRET_ENCRYPTION_KEY": TEST_KEY,
            "MAILPANEL_RELAY_TEST_TIMEOUT": 300,
        },
    )
    try:
        with transaction.atomic():
            relay_test_enqueue(relay=relay)
        assert wait_until(
            lambda: (
                RelayHost.objects.filter(pk=relay.pk)
                .exclude(test_started_at=None)
                .exists()
            ),
            timeout=180,
        ), worker.logs()
        assert relay_tests_recover_task() == 0  # within what a test may take

        worker.process.kill()
        worker.process.wait(timeout=10)
        # The sweeper judges by the same setting: a short one stands for the
        # minutes a real test may take going by.
        settings.MAILPANEL_RELAY_TEST_TIMEOUT = 0.2

        assert wait_until(lambda: relay_tests_recover_task() == 1, timeout=10)
        assert relay_tests_recover_task() == 0
        relay.refresh_from_db()
        assert relay.last_test_ok is False
        assert relay.last_test_result.startswith("interrupted:")
        assert relay.test_started_at is None
        assert len(mail.outbox) == 1
    finally:
        worker.stop()
        silent.close()
