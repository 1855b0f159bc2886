"""Forward-confirmed reverse DNS of the sending address."""

import asyncio

import dns.reversename as dns_reversename

from monitoring.deliverability import ptr_check
from monitoring.findings import Severity

IP = "203.0.113.25"
HELO = "mail.example.org"
PTR = "25.113.0.203.in-addr.arpa"


def ptr(resolver, address=IP):
    return asyncio.run(ptr_check(resolver, address, helo=HELO))


def test_it_accepts_a_forward_confirmed_ptr(dns, resolver):
    dns.add(PTR, "PTR", f"{HELO}.")
    dns.add(HELO, "A", IP)
    assert ptr(resolver).severity is Severity.OK


def test_it_reports_a_missing_ptr(dns, resolver):
    finding = ptr(resolver)
    assert finding.severity is Severity.CRITICAL
    assert "no PTR" in finding.summary


def test_it_reports_a_ptr_that_is_not_the_helo_name(dns, resolver):
    dns.add(PTR, "PTR", "host-203-0-113-25.isp.test.")
    finding = ptr(resolver)
    assert finding.severity is Severity.CRITICAL
    assert "host-203-0-113-25.isp.test" in finding.summary


def test_it_reports_a_helo_name_that_does_not_resolve_back(dns, resolver):
    dns.add(PTR, "PTR", f"{HELO}.")
    dns.add(HELO, "A", "198.51.100.7")
    finding = ptr(resolver)
    assert finding.severity is Severity.CRITICAL
    assert "forward-confirmed" in finding.summary


def test_it_checks_ipv6_senders(dns, resolver):
    name = dns_reversename.from_address("2001:db8::25").to_text()
    dns.add(name, "PTR", f"{HELO}.")
    dns.add(HELO, "AAAA", "2001:db8::25")
    assert ptr(resolver, "2001:db8::25").severity is Severity.OK
