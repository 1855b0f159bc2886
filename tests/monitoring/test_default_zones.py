"""The zones the data migration ships."""

import pytest

from monitoring.models import DnsblZone

pytestmark = pytest.mark.django_db


def test_it_ships_the_current_ip_and_domain_lists():
    zones = dict(DnsblZone.objects.values_list("zone", "kind"))
    assert zones == {
        "zen.spamhaus.org": "ip",
        "bl.spamcop.net": "ip",
        "b.barracudacentral.org": "ip",
        "psbl.surriel.com": "ip",
        "bl.mailspike.net": "ip",
        "dnsbl-1.uceprotect.net": "ip",
        "dbl.spamhaus.org": "domain",
        "multi.uribl.com": "domain",
        "multi.surbl.org": "domain",
    }


def test_it_ships_no_defunct_zone():
    # Not vacuous: the shipped zones are there to be looked through.
    assert DnsblZone.objects.count() >= 9
    assert not DnsblZone.objects.filter(zone__contains="sorbs").exists()
    assert not DnsblZone.objects.filter(zone__contains="nixspam").exists()


def test_it_explains_the_pbl_codes_with_a_relay_host_fix():
    zen = DnsblZone.objects.get(zone="zen.spamhaus.org")
    for code in ("127.0.0.10", "127.0.0.11"):
        assert "residential or dynamic" in zen.return_codes[code]["meaning"]
        assert "relay host" in zen.return_codes[code]["advice"]
    assert set(zen.error_codes) == {
        "127.255.255.252",
        "127.255.255.254",
        "127.255.255.255",
    }
    assert (
        "public resolvers are refused" in zen.error_codes["127.255.255.254"]["advice"]
    )


def test_it_self_tests_domain_lists_with_their_test_entries():
    assert DnsblZone.objects.get(zone="dbl.spamhaus.org").test_listed == "dbltest.com"
    uribl = DnsblZone.objects.get(zone="multi.uribl.com")
    assert uribl.bitmask
    assert "127.0.0.1" in uribl.error_codes


def test_every_shipped_zone_passes_its_own_validation():
    for zone in DnsblZone.objects.all():
        zone.full_clean()
