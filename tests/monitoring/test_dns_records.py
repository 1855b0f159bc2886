"""MX, DMARC, MTA-STS and TLS-RPT checks over real DNS (DKIM: test_dkim_dns)."""

import asyncio

from monitoring.deliverability import _info_record, dmarc_check, mx_check
from monitoring.findings import Severity

HELO = "mail.example.org"


def run(coro):
    return asyncio.run(coro)


def test_it_accepts_an_mx_that_names_this_server(dns, resolver):
    dns.add("example.org", "MX", f"10 {HELO}.")
    finding = run(mx_check(resolver, "example.org", helo=HELO, addresses=[]))
    assert finding.severity is Severity.OK


def test_it_accepts_an_mx_that_resolves_to_this_server(dns, resolver):
    dns.add("example.org", "MX", "10 mx.example.org.")
    dns.add("mx.example.org", "A", "203.0.113.25")
    finding = run(
        mx_check(resolver, "example.org", helo=HELO, addresses=["203.0.113.25"])
    )
    assert finding.severity is Severity.OK


def test_it_warns_about_an_mx_pointing_elsewhere(dns, resolver):
    dns.add("example.org", "MX", "10 mx.elsewhere.test.")
    dns.add("mx.elsewhere.test", "A", "198.51.100.1")
    finding = run(
        mx_check(resolver, "example.org", helo=HELO, addresses=["203.0.113.25"])
    )
    assert finding.severity is Severity.WARNING
    assert "does not point at this server" in finding.summary


def test_it_reports_a_missing_mx(dns, resolver):
    dns.add("example.org", "A", "203.0.113.25")
    finding = run(mx_check(resolver, "example.org", helo=HELO, addresses=[]))
    assert finding.severity is Severity.CRITICAL
    assert f"MX 10 {HELO}." in finding.advice


def test_it_reports_a_missing_dmarc_record(dns, resolver):
    dns.add("example.org", "A", "203.0.113.25")
    finding = run(dmarc_check(resolver, "example.org"))
    assert finding.severity is Severity.WARNING
    assert "v=DMARC1; p=none" in finding.advice


def test_it_accepts_a_dmarc_policy(dns, resolver):
    dns.add("_dmarc.example.org", "TXT", '"v=DMARC1; p=quarantine"')
    assert run(dmarc_check(resolver, "example.org")).severity is Severity.OK


def test_it_reports_mta_sts_as_information(dns, resolver):
    dns.add("example.org", "A", "203.0.113.25")
    finding = run(
        _info_record(
            resolver,
            "example.org",
            check="mta-sts",
            name="_mta-sts.example.org",
            prefix="v=stsv1",
            what="an MTA-STS policy",
            purpose="enforce TLS",
        )  # fmt: skip
    )
    assert finding.severity is Severity.INFO
