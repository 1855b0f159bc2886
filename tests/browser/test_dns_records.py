"""The DNS records page in a real browser, against the loopback test DNS."""

import pytest
from django.contrib.auth import get_user_model

from dkim.services import dkim_key_activate, dkim_key_generate
from domains.models import Domain
from tests.dkim.conftest import TEST_KEY, publish
from tests.domains.utils import saved
from tests.monitoring.dns_server import DnsTestServer

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN_PASSWORD = "Admin-Lantern-Orbit-42"
HELO = "mail.example.org"


@pytest.fixture
def dns(settings):
    server = DnsTestServer().start()
    settings.MAILPANEL_DNS_RESOLVER = server.address
    settings.MAILPANEL_DNS_TIMEOUT = 0.5
    settings.MAILPANEL_OUTBOUND_IPV4 = "203.0.113.25"
    settings.MAILPANEL_OUTBOUND_IPV6 = "2001:db8::25"
    settings.MAILPANEL_HELO_NAME = HELO
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    yield server
    server.stop()


def test_it_shows_the_records_and_what_dns_answers(expect, wide_page, dns, shoot):
    domain = saved(Domain(name="example.org"))
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True)
    dns.add("example.org", "MX", f"10 {HELO}.")
    dns.add("example.org", "TXT", '"v=spf1 ip4:203.0.113.25 ip6:2001:db8::25 -all"')
    publish(dns, rsa_key)
    dns.add("_dmarc.example.org", "TXT", '"v=DMARC1; p=none; rua=mailto:d@example.org"')
    dns.add("_submission._tcp.example.org", "SRV", f"0 1 587 {HELO}.")
    dns.add("25.113.0.203.in-addr.arpa", "PTR", f"{HELO}.")
    get_user_model().objects.create_superuser(
        "admin", "admin@example.org", ADMIN_PASSWORD
    )
    page = wide_page
    page.goto("/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"/admin/domains/domain/{domain.pk}/change/")
    page.locator(".object-tools").get_by_role("link", name="DNS records").click()

    expect(
        page.get_by_role("heading", name="DNS records of example.org")
    ).to_be_visible()
    table = page.locator("#dns-records")
    expect(table.get_by_text(ed_key.record_name)).to_be_visible()
    expect(table.locator(".dns-matches").first).to_be_visible()
    expect(table.get_by_text("p=none only monitors")).to_be_visible()
    expect(page.locator("#dns-zone")).to_contain_text(rsa_key.dns_record[:255])
    page.locator("#toggle-nav-sidebar").click()
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "admin-dns-records")
