"""Admins get one mail per change of state, never the same alert twice."""

import pytest
from django.core import mail
from django.utils import timezone

from monitoring.config import MonitorConfig
from monitoring.findings import Finding, Severity
from monitoring.models import CheckResult, CheckState
from monitoring.services import LISTS, _state_move, monitoring_run
from tests.monitoring.conftest import HELO, SERVER_IPV4, list_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(dns):
    return MonitorConfig(
        resolver=dns.address, dns_timeout=0.5, ipv4=SERVER_IPV4, helo=HELO
    )


def run(config):
    return monitoring_run(kind=LISTS, config=config)


def test_it_mails_a_listing_once(superuser, working_zones, dns, config):
    run(config)
    assert mail.outbox == []
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.2", txt="SBL12345")
    run(config)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["root@example.org"]
    assert "listed" in message.subject
    assert "203.0.113.25 is listed on zen.spamhaus.org (SBL)" in message.body
    assert "What to do:" in message.body
    run(config)
    assert len(mail.outbox) == 1


def test_it_mails_a_first_run_that_finds_a_listing(
    superuser, working_zones, dns, config
):
    list_entry(dns, "bl.spamcop.net", SERVER_IPV4, "127.0.0.2")
    run(config)
    assert len(mail.outbox) == 1


def test_it_mails_a_delisting_once(superuser, working_zones, dns, config):
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.2")
    run(config)
    dns.records.clear()
    working_zones()
    run(config)
    run(config)
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("[mailpanel] delisted:")


def test_it_mails_a_broken_check_and_its_recovery(
    superuser, working_zones, dns, config
):
    run(config)
    dns.behave("psbl.surriel.com", "refused")
    run(config)
    run(config)
    dns.behaviours.clear()
    run(config)
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "[mailpanel] check broken",
        "[mailpanel] recovered",
    ]


def test_it_keeps_the_history_of_every_run(superuser, working_zones, dns, config):
    run(config)
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.2")
    run(config)
    state = CheckState.objects.get(key=f"dnsbl:{SERVER_IPV4} on zen.spamhaus.org")
    assert list(state.history().values_list("severity", flat=True)) == [
        "critical",
        "ok",
    ]
    assert CheckResult.objects.filter(key=state.key).count() == 2


def test_it_keeps_the_txt_reason_and_removal_link(
    superuser, working_zones, dns, config
):
    list_entry(
        dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.2",
        txt="Listed, see https://check.spamhaus.org/sbl/query/SBL1",
    )  # fmt: skip
    run(config)
    state = CheckState.objects.get(key=f"dnsbl:{SERVER_IPV4} on zen.spamhaus.org")
    assert state.details["txt"] == [
        "Listed, see https://check.spamhaus.org/sbl/query/SBL1"
    ]
    assert state.details["removal_url"] == "https://check.spamhaus.org/sbl/query/SBL1"
    assert "Removal: https://check.spamhaus.org/sbl/query/SBL1" in state.advice


def test_it_explains_a_pbl_listing_with_the_relay_host_fix(
    superuser, working_zones, dns, config
):
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.10")
    run(config)
    state = CheckState.objects.get(key=f"dnsbl:{SERVER_IPV4} on zen.spamhaus.org")
    assert state.severity == Severity.CRITICAL
    assert "in a range its ISP marks as residential or dynamic" in state.summary
    assert state.advice.startswith("Send through a relay host, or get a static")


def test_it_does_not_alert_on_pbl_when_mail_goes_through_a_relay(
    superuser, working_zones, dns, config
):
    from dataclasses import replace

    dns.add("smtp.relay.test", "A", "198.51.100.9")
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.10")
    run(replace(config, relay_host="[smtp.relay.test]:587"))
    state = CheckState.objects.get(key=f"dnsbl:{SERVER_IPV4} on zen.spamhaus.org")
    assert state.severity == Severity.INFO
    assert mail.outbox == []
    # The relay's own address is checked instead.
    assert CheckState.objects.filter(key="dnsbl:198.51.100.9 on zen.spamhaus.org")


def test_it_lets_only_one_of_two_overlapping_runs_alert(db):
    now = timezone.now()
    ok = Finding("dnsbl", "x on z", Severity.OK, "clean")
    listed = Finding("dnsbl", "x on z", Severity.CRITICAL, "listed")
    _state_move(None, ok, now)
    stale = CheckState.objects.get()
    assert _state_move(stale, listed, now) is True
    # The second run read the state before the first one moved it.
    assert _state_move(stale, listed, now) is False
