"""SPF presence, uniqueness, lookup count and coverage, over real DNS."""

import asyncio

from monitoring.deliverability import spf_domain_check
from monitoring.findings import Severity

IP = "203.0.113.25"


def spf(resolver, domain="example.org", senders=(IP,)):
    return asyncio.run(spf_domain_check(resolver, domain, senders=list(senders)))


def test_it_passes_a_record_that_covers_the_sending_address(dns, resolver):
    dns.add("example.org", "TXT", '"v=spf1 ip4:203.0.113.0/24 -all"')
    finding = spf(resolver)
    assert finding.severity is Severity.OK
    assert finding.details["lookups"] == 0


def test_it_follows_includes_and_mx(dns, resolver):
    dns.add("example.org", "TXT", '"v=spf1 include:_spf.provider.test -all"')
    dns.add("_spf.provider.test", "TXT", '"v=spf1 mx ~all"')
    dns.add("provider.test", "A", "192.0.2.1")
    dns.add("_spf.provider.test", "MX", "10 mx.provider.test.")
    dns.add("mx.provider.test", "A", IP)
    finding = spf(resolver)
    assert finding.severity is Severity.OK
    assert finding.details["lookups"] == 2


def test_it_reports_a_missing_record_with_one_to_publish(dns, resolver):
    dns.add("example.org", "TXT", '"google-site-verification=x"')
    finding = spf(resolver)
    assert finding.severity is Severity.CRITICAL
    assert "has no SPF record" in finding.summary
    assert "v=spf1 ip4:203.0.113.25 mx -all" in finding.advice


def test_it_reports_two_records(dns, resolver):
    dns.add("example.org", "TXT", '"v=spf1 mx -all"', '"v=spf1 a -all"')
    finding = spf(resolver)
    assert finding.severity is Severity.CRITICAL
    assert "2 SPF records" in finding.summary


def test_it_reports_more_than_ten_lookups(dns, resolver):
    # Over 255 characters: published as several strings, as DNS requires.
    includes = "".join(f'" include:s{i}.example.org"' for i in range(11))
    dns.add("example.org", "TXT", f'"v=spf1"{includes}" -all"')
    for i in range(11):
        dns.add(f"s{i}.example.org", "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    finding = spf(resolver)
    assert finding.severity is Severity.CRITICAL
    assert "11 DNS lookups" in finding.summary


def test_it_reports_an_address_the_record_does_not_cover(dns, resolver):
    dns.add("example.org", "TXT", '"v=spf1 ip4:198.51.100.0/24 ~all"')
    finding = spf(resolver, senders=(IP, "2001:db8::25"))
    assert finding.severity is Severity.CRITICAL
    assert "does not allow 203.0.113.25, 2001:db8::25" in finding.summary
    assert "ip4:203.0.113.25 ip6:2001:db8::25" in finding.advice


def test_it_follows_redirect(dns, resolver):
    dns.add("example.org", "TXT", '"v=spf1 redirect=_spf.example.org"')
    dns.add("_spf.example.org", "TXT", '"v=spf1 ip4:203.0.113.25 -all"')
    assert spf(resolver).severity is Severity.OK


def test_it_cannot_check_when_the_lookup_fails(dns, resolver):
    dns.behave("example.org", "servfail")
    assert spf(resolver).severity is Severity.UNKNOWN


def test_it_joins_long_records_split_into_strings(dns, resolver):
    dns.add("example.org", "TXT", '"v=spf1 ip4:203.0.113.25" " -all"')
    assert spf(resolver).severity is Severity.OK
