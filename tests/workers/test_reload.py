"""File-level settings reach every mail host through real workers."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings

from mailserver.hosts import mailserver_settings_save
from mailserver.models import MailHost, MailServerSettings, OutboxMessage
from tests.mailserver import data
from tests.mailserver.support import imap_wait_for, send, unique_subject
from tests.workers.conftest import database_url, start_worker, wait_until

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]


def _postconf(directory: str, name: str) -> str:
    result = subprocess.run(
        ["postconf", "-c", directory, "-h", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _save(**fields) -> int:
    obj = MailServerSettings.load()
    for name, value in fields.items():
        setattr(obj, name, value)
    with transaction.atomic():
        mailserver_settings_save(obj=obj)
    return obj.version


def test_it_registers_each_worker_as_a_mail_host(hosts, workers):
    for host in hosts.values():
        assert host.last_seen is not None
        assert host.is_alive()


def test_it_applies_a_change_on_every_host(hosts, workers):
    version = _save(message_size_limit=12345678)

    def applied():
        rows = MailHost.objects.filter(pk__in=[h.pk for h in hosts.values()])
        return all(h.applied_version == version for h in rows)

    assert wait_until(applied), workers.logs()
    for worker in (workers.a, workers.b):
        directory = worker.settings["MAILPANEL_POSTFIX_DIR"]
        assert _postconf(directory, "message_size_limit") == "12345678"


def test_it_never_reloads_for_what_postfix_reads_through_sql(hosts, workers):
    with override_settings(**workers.mailserver.settings), transaction.atomic():
        box = data.mailbox(data.domain("sql-only.test"), "someone")
        data.update(box, name="Some One", quota=1 << 20)
    assert not OutboxMessage.objects.filter(
        task="mailserver.tasks.mailhost_reload_task", created__gt=box.created
    ).exists()


def test_it_refuses_a_missing_certificate_and_keeps_serving_mail(
    hosts, workers, admin_client
):
    from django_celery_results.models import TaskResult

    server = workers.mailserver
    live = str(server.config.postfix_dir)
    cert_before = _postconf(live, "smtpd_tls_cert_file")
    with override_settings(**server.settings):
        box = data.mailbox(data.domain("refused.test"), "alice")
        sent = [unique_subject("before")]
        send(server.smtp_port, "x@sink.test", [box.address], sent[-1])
        version = _save(tls_cert="/nonexistent/mailpanel.crt")
        sent.append(unique_subject("during"))
        send(server.smtp_port, "x@sink.test", [box.address], sent[-1])

        def refused():
            host = MailHost.objects.get(name=workers.a.name)
            return host.error_version == version and host

        host = wait_until(refused)
        assert host, workers.logs()
        assert "/nonexistent/mailpanel.crt" in host.error
        assert host.state(version) == MailHost.State.FAILED
        sent.append(unique_subject("after"))
        send(server.smtp_port, "x@sink.test", [box.address], sent[-1])
        for subject in sent:
            imap_wait_for(server.imap_port, box.address, data.PASSWORD, subject)
    assert _postconf(live, "smtpd_tls_cert_file") == cert_before
    page = admin_client.get("/admin/mailserver/mailhost/").content.decode()
    assert "/nonexistent/mailpanel.crt" in page
    assert "Failed" in page
    assert TaskResult.objects.filter(
        task_name="mailserver.tasks.mailhost_reload_task", status="FAILURE"
    ).exists()


def test_it_reports_the_admins_change_as_pending(hosts, workers, admin_client):
    obj = MailServerSettings.load()
    response = admin_client.post(
        f"/admin/mailserver/mailserversettings/{obj.pk}/change/",
        {
            "hostname": "",
            "message_size_limit": "23456789",
            "tls_cert": "",
            "tls_key": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    text = " ".join(str(m) for m in response.context["messages"])
    assert "pending" in text
    version = MailServerSettings.load().version

    def applied():
        return MailHost.objects.filter(
            name=workers.a.name, applied_version=version
        ).exists()

    assert wait_until(applied), workers.logs()
    assert Path(workers.a.settings["MAILPANEL_POSTFIX_DIR"], "main.cf").exists()


def test_it_catches_up_at_start_after_its_queue_was_lost(
    mailserver, broker, workdir, transactional_db
):
    import redis

    name = f"host_d_{uuid.uuid4().hex[:6]}"
    here = workdir / name
    settings = dict(
        mailserver.settings,
        MAILPANEL_POSTFIX_DIR=str(here / "postfix"),
        MAILPANEL_DOVECOT_DIR=str(here / "dovecot"),
        MAILPANEL_POSTFIX_QUEUE_DIR=str(here / "queue"),
        MAILPANEL_POSTFIX_DATA_DIR=str(here / "data"),
        MAILPANEL_DOVECOT_BASE_DIR=str(here / "run"),
    )

    def start():
        return start_worker(
            name=name,
            broker=broker.url,
            workdir=workdir,
            settings=settings,
            database_url=database_url(),
        )

    def runs(version: int) -> bool:
        return MailHost.objects.filter(name=name, applied_version=version).exists()

    worker = start()
    try:
        first = MailServerSettings.load().version
        assert wait_until(lambda: runs(first)), worker.logs()
        worker.stop()

        # Saved while the host is down; its queue then loses the reload, as
        # a Redis restart without persistence would.
        version = _save(message_size_limit=23456789)
        queue = redis.Redis(port=broker.port)
        assert queue.llen(name) == 1
        queue.delete(name)

        worker = start()
        # At once, not at the next reconcile (which no test runs).
        assert wait_until(lambda: runs(version), timeout=120), worker.logs()
        directory = settings["MAILPANEL_POSTFIX_DIR"]
        assert _postconf(directory, "message_size_limit") == "23456789"
    finally:
        worker.stop()
