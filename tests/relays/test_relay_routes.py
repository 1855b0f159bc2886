"""The relay routes Postfix asks for, through the documented queries.

Postfix's pgsql client replaces %s with the key and %d with its domain part;
this does the same, then asks both tables in the order main.cf lists them.
"""

import pytest
from django.db import connection

from domains.sql_interface import POSTFIX_RELAY_QUERIES
from relays.models import DomainRelay, SenderRelay
from tests.mailserver import data
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db


def route(sender: str) -> str | None:
    """What sender_dependent_default_transport_maps answers, or None (direct)."""
    domain = sender.rpartition("@")[2]
    for name in ("sender_relay", "default_relay"):
        query = POSTFIX_RELAY_QUERIES[name]
        if "%d" in query and ("@" not in sender or not domain):
            continue  # Postfix skips a query whose %d it cannot fill
        with connection.cursor() as cursor:
            cursor.execute(query.replace("%s", sender).replace("%d", domain))
            row = cursor.fetchone()
        if row:
            return row[0]
    return None


def test_it_routes_by_sender_then_domain_then_default():
    example = data.domain("example.test")
    data.domain_alias("alias.test", example)
    data.domain("other.test")
    domain_relay = make_relay(name="d", host="d.isp.example", username="u")
    sender_relay = make_relay(
        name="s", host="s.isp.example", port=465, username="u", security="tls"
    )
    DomainRelay.objects.create(domain=example, relay=domain_relay)
    SenderRelay.objects.create(address="boss@example.test", relay=sender_relay)

    assert route("boss@example.test") == "relay-smtps:[s.isp.example]:465"
    assert route("anyone@example.test") == "relay-smtp:[d.isp.example]:587"
    assert route("anyone@alias.test") == "relay-smtp:[d.isp.example]:587"
    assert route("anyone@other.test") is None  # direct
    assert route("<>") is None

    make_relay(name="default", host="x.isp.example", username="u", is_default=True)
    assert route("anyone@other.test") == "relay-smtp:[x.isp.example]:587"
    assert route("stranger@elsewhere.example") == "relay-smtp:[x.isp.example]:587"
    assert route("<>") == "relay-smtp:[x.isp.example]:587"  # bounces too
    assert route("anyone@example.test") == "relay-smtp:[d.isp.example]:587"


def test_it_follows_a_change_at_the_next_lookup():
    example = data.domain("example.test")
    first = make_relay(name="a", host="a.isp.example", username="u")
    second = make_relay(name="b", host="b.isp.example", username="u")
    route_row = DomainRelay.objects.create(domain=example, relay=first)
    assert route("x@example.test") == "relay-smtp:[a.isp.example]:587"
    route_row.relay = second
    route_row.save()
    assert route("x@example.test") == "relay-smtp:[b.isp.example]:587"
    second.port = 2525
    second.save()
    assert route("x@example.test") == "relay-smtp:[b.isp.example]:2525"
    data.update(example, active=False)
    assert route("x@example.test") is None
