import pytest

from monitoring.dnsbl import IP, Zone, build_query_name
from monitoring.resolver import make_resolver
from tests.monitoring.dns_server import DnsTestServer

SERVER_IPV4 = "203.0.113.25"
SERVER_IPV6 = "2001:db8::25"
HELO = "mail.example.org"


@pytest.fixture(scope="session")
def dns_server():
    server = DnsTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server) -> DnsTestServer:
    """The loopback DNS server, emptied for each test."""
    dns_server.reset()
    yield dns_server
    dns_server.reset()


@pytest.fixture
def resolver(dns):
    return make_resolver(dns.address, timeout=0.5)


def list_entry(
    dns: DnsTestServer, zone: str, subject: str, *codes: str, txt: str = ""
) -> None:
    """Make ``zone`` list ``subject`` with ``codes`` (and a TXT reason)."""
    name = build_query_name(subject, zone).to_text()
    dns.add(name, "A", *codes)
    if txt:
        dns.add(name, "TXT", f'"{txt}"')


def working_zone(dns: DnsTestServer, zone: Zone) -> Zone:
    """Publish the RFC 5782 test entry so the zone passes its self-test."""
    code = "127.0.1.2" if zone.name.startswith("dbl.") else "127.0.0.2"
    if zone.bitmask:
        code = "127.0.0.254"
    list_entry(dns, zone.name, zone.test_listed, code)
    return zone


@pytest.fixture
def zen() -> Zone:
    return Zone(
        "zen.test",
        kind=IP,
        weight=10,
        return_codes={
            "127.0.0.2": {"label": "SBL", "meaning": "spam source."},
            "127.0.0.10": {
                "label": "PBL",
                "meaning": "residential range.",
                "advice": "Use a relay host.",
                "direct_only": True,
            },
        },
        error_codes={
            "127.255.255.252": {"meaning": "typo", "advice": "Check the zone name."},
            "127.255.255.254": {
                "meaning": "public resolver",
                "advice": "Use your own recursive resolver.",
            },
            "127.255.255.255": {"meaning": "volume", "advice": "Use your own."},
        },
    )


@pytest.fixture
def monitor_settings(settings, dns, tmp_path):
    """Settings pointing every check at the loopback DNS server and nowhere else."""
    settings.MAILPANEL_DNS_RESOLVER = dns.address
    settings.MAILPANEL_DNS_TIMEOUT = 0.5
    settings.MAILPANEL_OUTBOUND_IPV4 = SERVER_IPV4
    settings.MAILPANEL_OUTBOUND_IPV6 = ""
    settings.MAILPANEL_HELO_NAME = HELO
    settings.MAILPANEL_PORT25_TARGETS = []
    settings.MAILPANEL_SUBMISSION_TARGETS = []
    settings.MAILPANEL_POSTFIX_DIR = str(tmp_path)
    return settings


@pytest.fixture
def working_zones(db, dns):
    """Every active zone in the database passes its self-test on the test server."""
    from monitoring.models import DnsblZone

    def publish():
        for zone in DnsblZone.objects.filter(active=True):
            working_zone(dns, zone.as_zone())

    publish()
    return publish


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        "root", "root@example.org", "x-not-used-x"
    )
