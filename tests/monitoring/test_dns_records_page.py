"""The admin's DNS records page, its link from the domain, and the command."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from dkim.services import dkim_key_generate
from domains.models import Domain
from tests.dkim.conftest import TEST_KEY, publish
from tests.monitoring.conftest import HELO

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain(monitor_settings):
    monitor_settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    return Domain.objects.create(name="example.org")


def page(client, domain) -> str:
    url = reverse("admin:monitoring_domaindnsrecords_change", args=[domain.pk])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_each_record_with_what_dns_answers(admin_client, domain, dns):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    publish(dns, rsa_key)
    dns.add("example.org", "MX", "10 mx.elsewhere.test.")

    text = page(admin_client, domain)

    assert "DNS records of example.org" in text
    assert rsa_key.dns_record in text
    assert "MX points at mx.elsewhere.test instead" in text
    assert '<span class="dns-badge dns-matches">matches</span>' in text
    assert '<span class="dns-badge dns-missing">missing</span>' in text
    # The zone snippet, with the RSA record in strings of 255 characters.
    record = rsa_key.dns_record
    assert f'( "{record[:255]}"' in text.replace("&quot;", '"')
    assert "PRIVATE" not in text
    assert rsa_key.private_key_encrypted not in text


def test_it_offers_to_generate_keys_for_a_domain_without_any(admin_client, domain):
    text = page(admin_client, domain)
    generate = reverse("admin:dkim_dkimkey_generate")
    assert f"{generate}?domain={domain.pk}" in text


def test_it_escapes_what_dns_answers(admin_client, domain, dns):
    dns.add("_dmarc.example.org", "TXT", '"v=DMARC1; p=<script>"')
    text = page(admin_client, domain)
    assert "<script>" not in text
    assert "p=&lt;script&gt;" in text


def test_it_is_linked_from_the_domain(admin_client, domain):
    response = admin_client.get(
        reverse("admin:domains_domain_change", args=[domain.pk])
    )
    text = response.content.decode()
    records = reverse("admin:monitoring_domaindnsrecords_change", args=[domain.pk])
    keys = reverse("admin:dkim_dkimkey_changelist")
    assert f'href="{records}"' in text
    assert f'href="{keys}?domain__id__exact={domain.pk}"' in text


def test_it_lists_the_domains(admin_client, domain):
    response = admin_client.get(reverse("admin:monitoring_domaindnsrecords_changelist"))
    assert "example.org" in response.content.decode()


def test_it_prints_the_records_and_the_answers(domain, dns):
    dns.add("example.org", "MX", f"10 {HELO}.")
    out = io.StringIO()
    call_command("dnsrecords", "example.org", stdout=out)
    text = out.getvalue()
    assert f"example.org. 3600 IN MX    10 {HELO}.\n" in text
    assert "    DNS now: matches\n" in text
    assert "DNS now: missing: no TXT record at this name" in text
    assert "(ask the address's owner)" in text


def test_it_prints_a_zone_snippet_without_asking_dns_about_the_records(domain, dns):
    rsa_key, _ = dkim_key_generate(domain=domain)
    out = io.StringIO()
    call_command("dnsrecords", "example.org", "--zone", stdout=out)
    text = out.getvalue()
    assert text.startswith("; DNS records for example.org")
    assert f'{rsa_key.record_name}. 3600 IN TXT   ( "' in text
    assert ("_dmarc.example.org.", "TXT") not in dns.queries


def test_it_refuses_an_unknown_domain(db):
    with pytest.raises(CommandError, match="nowhere.example is not a hosted domain"):
        call_command("dnsrecords", "nowhere.example")
