import json

import pytest
from django.core.management import CommandError, call_command

from tests.monitoring.conftest import HELO, SERVER_IPV4, list_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(monitor_settings, working_zones, dns):
    dns.add("25.113.0.203.in-addr.arpa", "PTR", f"{HELO}.")
    dns.add(HELO, "A", SERVER_IPV4)
    return dns


def test_it_prints_a_green_report_and_exits_zero(healthy, capsys):
    call_command("mailhealth")
    out = capsys.readouterr().out
    assert out.startswith("Mail health: ")
    assert "(green)" in out.splitlines()[0]


def test_it_exits_non_zero_with_the_finding_and_fix_when_red(healthy, capsys):
    list_entry(healthy, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.10")
    with pytest.raises(CommandError) as exc:
        call_command("mailhealth", "--checks", "lists")
    assert exc.value.returncode == 1
    out = capsys.readouterr().out
    assert "[RED ] dnsbl: The outbound address 203.0.113.25 is listed" in out
    assert "Fix: Send through a relay host" in out


def test_it_prints_json(healthy, capsys):
    list_entry(healthy, "bl.spamcop.net", SERVER_IPV4, "127.0.0.2")
    with pytest.raises(CommandError):
        call_command("mailhealth", "--json", "--checks", "lists")
    report = json.loads(capsys.readouterr().out)
    assert report["colour"] == "red"
    first = report["findings"][0]
    assert first["subject"] == "203.0.113.25 on bl.spamcop.net"
    assert first["advice"]


def test_it_asks_the_resolver_given_on_the_command_line(
    monitor_settings, working_zones, dns, capsys
):
    monitor_settings.MAILPANEL_DNS_RESOLVER = "127.0.0.1:9"  # nobody there
    call_command("mailhealth", "--checks", "lists", "--resolver", dns.address)
    assert dns.queries


def test_it_reports_zones_it_cannot_check_as_amber(
    monitor_settings, working_zones, dns, capsys
):
    dns.nxdomain_everything = True
    call_command("mailhealth", "--checks", "lists", "--dry-run")
    out = capsys.readouterr().out
    assert "(amber)" in out.splitlines()[0]
    assert "zen.spamhaus.org cannot be checked" in out
    assert "clean" not in out.lower()


def test_it_refuses_a_resolver_that_is_not_an_address(monitor_settings):
    with pytest.raises(CommandError, match="IP address"):
        call_command("mailhealth", "--resolver", "dns.google")
