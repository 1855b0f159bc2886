"""The Celery tasks, called as plain functions."""

import pytest

from monitoring import tasks
from monitoring.models import CheckRun
from tests.monitoring.conftest import HELO, SERVER_IPV4

pytestmark = pytest.mark.django_db


def test_it_runs_the_list_checks(monitor_settings, working_zones):
    assert tasks.dnsbl_check_task() == "ok"
    assert CheckRun.objects.get().kind == "lists"


def test_it_runs_the_daily_checks_and_prunes_history(monitor_settings, dns):
    dns.add("25.113.0.203.in-addr.arpa", "PTR", f"{HELO}.")
    dns.add(HELO, "A", SERVER_IPV4)
    monitor_settings.MAILPANEL_MONITORING_HISTORY_DAYS = 0
    # Information only: no port 25 targets and no main.cf in the test settings.
    assert tasks.deliverability_check_task() == "info"
    assert not CheckRun.objects.exists()  # pruned: 0 days of history


def test_it_queues_the_list_check_with_jitter(settings, monkeypatch):
    settings.MAILPANEL_DNSBL_JITTER = 600
    calls = []
    monkeypatch.setattr(
        tasks.dnsbl_check_task, "apply_async", lambda **kw: calls.append(kw)
    )
    delays = {tasks.dnsbl_schedule_task() for _ in range(20)}
    assert all(0 <= d <= 600 for d in delays)
    assert len(delays) > 1
    assert calls[0]["expires"] == 3600
