"""The DKIM check compares DNS with the keys in the database, not with files."""

import asyncio

import pytest

from dkim.models import DkimKey
from dkim.services import dkim_key_generate
from domains.models import Domain
from monitoring.config import MonitorConfig
from monitoring.dkim_dns import PublishedKey, dkim_check, published_keys_by_domain
from monitoring.findings import Severity
from monitoring.services import DAILY, monitoring_run
from tests.dkim.conftest import TEST_KEY
from tests.monitoring.conftest import HELO, SERVER_IPV4

P = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxyz"


def key(state=DkimKey.State.ACTIVE, selector="s1", algorithm="rsa", p=P):
    return PublishedKey(selector, algorithm, state, f"v=DKIM1; k={algorithm}; p={p}")


def check(resolver, *keys):
    return asyncio.run(dkim_check(resolver, "example.org", keys=keys))


def test_it_accepts_the_exact_record(dns, resolver):
    dns.add("s1._domainkey.example.org", "TXT", f'"v=DKIM1; k=rsa; p={P}"')
    (finding,) = check(resolver, key())
    assert finding.severity is Severity.OK
    assert finding.subject == "s1._domainkey.example.org"


def test_it_accepts_the_record_split_into_strings(dns, resolver):
    dns.add(
        "s1._domainkey.example.org", "TXT", f'"v=DKIM1; k=rsa; p={P[:20]}" "{P[20:]}"'
    )
    assert check(resolver, key())[0].severity is Severity.OK


def test_it_reports_a_missing_record_of_an_active_key_as_critical(dns, resolver):
    dns.add("example.org", "A", SERVER_IPV4)
    (finding,) = check(resolver, key())
    assert finding.severity is Severity.CRITICAL
    assert "missing" in finding.summary
    assert finding.advice == (
        f"Publish the TXT record “v=DKIM1; k=rsa; p={P}” at s1._domainkey.example.org."
    )


def test_it_reports_a_missing_record_of_a_pending_key_as_a_warning(dns, resolver):
    dns.add("example.org", "A", SERVER_IPV4)
    (finding,) = check(resolver, key(state=DkimKey.State.PENDING))
    assert finding.severity is Severity.WARNING
    assert "cannot start signing" in finding.summary


def test_it_reports_a_truncated_record(dns, resolver):
    dns.add("s1._domainkey.example.org", "TXT", f'"v=DKIM1; k=rsa; p={P[:30]}"')
    (finding,) = check(resolver, key())
    assert finding.severity is Severity.CRITICAL
    assert f"truncated: 30 of the key's {len(P)} characters" in finding.summary
    assert f"p={P}”" in finding.advice


def test_it_reports_another_key(dns, resolver):
    dns.add("s1._domainkey.example.org", "TXT", '"v=DKIM1; k=rsa; p=MIIBother"')
    (finding,) = check(resolver, key())
    assert finding.severity is Severity.CRITICAL
    assert "another key is published" in finding.summary


def test_it_reports_an_ed25519_key_published_without_its_algorithm(dns, resolver):
    dns.add("s1._domainkey.example.org", "TXT", '"v=DKIM1; p=abc="')
    (finding,) = check(resolver, key(algorithm="ed25519", p="abc="))
    assert finding.severity is Severity.CRITICAL
    assert "should be k=ed25519" in finding.summary


def test_it_cannot_check_when_the_resolver_fails(dns, resolver):
    dns.behave("example.org", "servfail")
    (finding,) = check(resolver, key())
    assert finding.severity is Severity.UNKNOWN


def test_it_only_informs_about_a_domain_without_keys(dns, resolver):
    (finding,) = check(resolver)
    assert finding.severity is Severity.INFO
    assert finding.subject == "example.org"
    assert "manage.py dkim generate example.org" in finding.advice


@pytest.mark.django_db
def test_it_checks_every_published_key_of_the_database(settings, monitor_settings, dns):
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    domain = Domain.objects.create(name="example.org")
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    DkimKey.objects.filter(pk=rsa_key.pk).update(state=DkimKey.State.ACTIVE)
    retired = dkim_key_generate(domain=Domain.objects.create(name="example.net"))
    DkimKey.objects.filter(pk__in=[k.pk for k in retired]).update(
        state=DkimKey.State.RETIRED
    )
    dns.add(rsa_key.record_name, "TXT", f'"{rsa_key.dns_record[:200]}"')

    assert set(published_keys_by_domain()) == {"example.org"}
    report = monitoring_run(kind=DAILY, save=False)

    dkim = {f.subject: f for f in report.findings if f.check == "dkim"}
    assert set(dkim) == {rsa_key.record_name, ed_key.record_name, "example.net"}
    assert dkim[rsa_key.record_name].severity is Severity.CRITICAL
    assert "truncated" in dkim[rsa_key.record_name].summary
    assert rsa_key.dns_record in dkim[rsa_key.record_name].advice
    assert dkim[ed_key.record_name].severity is Severity.WARNING
    assert dkim["example.net"].severity is Severity.INFO


def test_it_builds_the_config_by_hand_without_keys():
    config = MonitorConfig(ipv4=SERVER_IPV4, helo=HELO)
    assert config.dkim_keys == {}
