import pytest

from monitoring.checks import check_dns_resolver
from monitoring.resolver import make_resolver, parse_resolver


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_it_reads_ip_and_port(spec, expected):
    assert parse_resolver(spec) == expected


def test_it_refuses_a_name():
    with pytest.raises(ValueError, match="IP address"):
        parse_resolver("resolver.example")


def test_it_never_configures_from_the_system_when_given_a_resolver():
    resolver = make_resolver("127.0.0.1:5353")
    assert [str(n) for n in resolver.nameservers] == ["127.0.0.1"]
    assert resolver.port == 5353


def test_it_warns_about_a_public_resolver_at_start_up(settings):
    settings.MAILPANEL_DNS_RESOLVER = "9.9.9.9"
    [warning] = check_dns_resolver()
    assert warning.id == "monitoring.W001"


def test_it_reports_a_bad_resolver_setting(settings):
    settings.MAILPANEL_DNS_RESOLVER = "not-an-ip"
    [error] = check_dns_resolver()
    assert error.id == "monitoring.E001"


def test_it_accepts_a_local_resolver(settings):
    settings.MAILPANEL_DNS_RESOLVER = "127.0.0.1"
    assert check_dns_resolver() == []
