"""Redis stopped: the admin still saves, and nothing is lost once it is back.

Uses a redis-server of its own (never the machine's shared one) and a
worker of its own on it, so stopping it disturbs no other test.
"""

from __future__ import annotations

import uuid

import pytest

from mailserver.models import MailHost, MailServerSettings
from mailserver.outbox import outbox_flush, outbox_pending_count
from tests.workers.conftest import (
    RedisServer,
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
