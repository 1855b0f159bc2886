import pytest
from django.core.exceptions import ValidationError

from monitoring.models import DnsblZone

pytestmark = pytest.mark.django_db


def test_it_normalizes_the_zone_name():
    zone = DnsblZone(zone=" BL.Example.NET. ")
    zone.full_clean()
    assert zone.zone == "bl.example.net"


def test_it_refuses_answers_outside_127():
    zone = DnsblZone(zone="bl.example.net", return_codes={"10.0.0.2": {"label": "x"}})
    with pytest.raises(ValidationError, match="127.0.0.0/8"):
        zone.full_clean()


def test_it_refuses_bit_values_on_a_zone_that_is_not_a_bitmask():
    zone = DnsblZone(zone="bl.example.net", return_codes={"4": {"label": "grey"}})
    with pytest.raises(ValidationError, match="bitmask"):
        zone.full_clean()


def test_it_refuses_an_unknown_severity():
    zone = DnsblZone(
        zone="bl.example.net", return_codes={"127.0.0.2": {"severity": "bad"}}
    )
    with pytest.raises(ValidationError, match="severity"):
        zone.full_clean()


def test_it_builds_the_core_zone():
    zone = DnsblZone(zone="bl.example.net", kind="domain", weight=3).as_zone()
    assert (zone.name, zone.kind, zone.weight) == ("bl.example.net", "domain", 3)


def test_it_refuses_ip_test_entries_on_a_domain_list():
    zone = DnsblZone(zone="dbl.example.net", kind="domain")
    with pytest.raises(ValidationError, match="tested with domains"):
        zone.full_clean()
