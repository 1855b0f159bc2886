"""Redis stopped: the admin still saves, and nothing is lost once it is back.

Uses a redis-server of its own (never the machine's shared one) and a
worker of its own on it, so stopping it disturbs no other test.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from backups.models import BackupRun, State
from backups.services import backup_init
from mailserver.models import MailHost, MailServerSettings
from mailserver.outbox import outbox_flush, outbox_pending_count
from tests.backups.conftest import Vmail, message
from tests.workers.conftest import (
    RedisServer,
    backup_settings,
    database_url,
    start_worker,
    use_broker,
    wait_until,
)

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]


def test_it_saves_while_redis_is_down_and_applies_once_it_is_back(
    mailserver, workdir, transactional_db, admin_client
):
    from mailpanel.celery import app

    previous = app.conf.broker_url
    redis = RedisServer(workdir)
    redis.start()
    use_broker(redis.url)
    name = f"host_c_{uuid.uuid4().hex[:6]}"
    here = workdir / name
    settings = dict(
        mailserver.settings,
        MAILPANEL_POSTFIX_DIR=str(here / "postfix"),
        MAILPANEL_DOVECOT_DIR=str(here / "dovecot"),
        MAILPANEL_POSTFIX_QUEUE_DIR=str(here / "queue"),
        MAILPANEL_POSTFIX_DATA_DIR=str(here / "data"),
        MAILPANEL_DOVECOT_BASE_DIR=str(here / "run"),
        MAILPANEL_RSPAMD_DIR=str(here / "rspamd"),
        MAILPANEL_RSPAMD_STATE_DIR=str(here / "rspamd-state"),
        MAILPANEL_RSPAMD_LOG_FILE=str(here / "rspamd.log"),
    )
    worker = start_worker(
        name=name,
        broker=redis.url,
        workdir=workdir,
        settings=settings,
        database_url=database_url(),
    )
    try:
        # Registered and caught up with the current version.
        first = MailServerSettings.load().version
        assert wait_until(
            lambda: MailHost.objects.filter(name=name, applied_version=first).exists()
        ), worker.logs()

        redis.stop()
        response = admin_client.post(
            "/admin/mailserver/mailserversettings/1/change/",
            {"message_size_limit": "34567890"},
            follow=True,
        )
        assert response.status_code == 200
        assert "pending" in " ".join(str(m) for m in response.context["messages"])
        version = MailServerSettings.load().version
        assert version == first + 1
        assert outbox_pending_count() >= 1

        redis.start()
        # What beat's outbox_flush_task does every minute.
        assert wait_until(lambda: outbox_flush() and outbox_pending_count() == 0)
        assert wait_until(
            lambda: MailHost.objects.filter(
                name=name, applied_version=version
            ).exists(),
            timeout=120,
        ), worker.logs()
        main_cf = (here / "postfix" / "main.cf").read_text()
        assert "message_size_limit = 34567890" in main_cf
    finally:
        worker.stop()
        redis.stop()
        use_broker(previous)


def test_it_backs_up_now_while_redis_is_down_once_it_is_back(
    workdir, tmp_path, transactional_db, admin_client, settings
):
    from mailpanel.celery import app

    backup = backup_settings(tmp_path)
    for name, value in backup.items():
        setattr(settings, name, value)
    assert backup_init()
    Vmail(tmp_path / "vmail").deliver("alice@example.org", message("hello"))
    previous = app.conf.broker_url
    redis = RedisServer(workdir)
    redis.start()
    use_broker(redis.url)
    worker = start_worker(
        name=f"general_{uuid.uuid4().hex[:6]}",
        broker=redis.url,
        workdir=workdir,
        settings=backup,
        database_url=database_url(),
        mail_host=False,
    )
    try:
        redis.stop()
        response = admin_client.post(
            reverse("admin:backups_backuprun_back_up_now"), follow=True
        )
        assert response.status_code == 200
        run = BackupRun.objects.get()
        assert run.state == State.QUEUED
        assert "waiting for the broker" in response.text

        redis.start()
        # What beat's outbox_flush_task does every minute.
        assert wait_until(lambda: outbox_flush() and outbox_pending_count() == 0)
        finished = [State.SUCCEEDED, State.PARTIAL, State.FAILED]
        assert wait_until(
            lambda: BackupRun.objects.filter(pk=run.pk, state__in=finished).exists(),
            timeout=180,
        ), worker.logs()
        run.refresh_from_db()
        assert run.state == State.SUCCEEDED, run.error
        assert run.snapshot_id
    finally:
        worker.stop()
        redis.stop()
        use_broker(previous)
