"""pending → active once DNS serves the record (or forced) → retiring → retired."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dkim.models import DkimKey
from dkim.services import (
    DkimError,
    dkim_key_activate,
    dkim_key_generate,
    dkim_key_rotate,
    dkim_keys_activate_published,
    dkim_keys_retire_expired,
)
from tests.dkim.conftest import publish

State = DkimKey.State


def states(*keys):
    return [DkimKey.objects.get(pk=k.pk).state for k in keys]


def test_it_activates_a_key_once_dns_serves_its_record(domain, dns):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    publish(dns, rsa_key)

    key = dkim_key_activate(key=rsa_key)

    assert key.state == State.ACTIVE
    assert key.activated is not None
    assert states(ed_key) == [State.PENDING]


def test_it_refuses_to_activate_before_dns_serves_the_record(domain, dns):
    rsa_key, _ = dkim_key_generate(domain=domain)
    dns.add("example.org", "A", "203.0.113.25")
    with pytest.raises(DkimError) as raised:
        dkim_key_activate(key=rsa_key)
    message = str(raised.value)
    assert f"DNS does not serve the record of {rsa_key.record_name} yet" in message
    assert "missing" in message
    assert rsa_key.dns_record in message
    assert states(rsa_key) == [State.PENDING]


def test_it_refuses_a_truncated_record(domain, dns):
    rsa_key, _ = dkim_key_generate(domain=domain)
    publish(dns, rsa_key, rsa_key.dns_record[:255])
    with pytest.raises(DkimError, match="truncated"):
        dkim_key_activate(key=rsa_key)
    assert states(rsa_key) == [State.PENDING]


def test_it_activates_without_dns_when_forced(domain, dns):
    rsa_key, _ = dkim_key_generate(domain=domain)
    dns.behave("example.org", "drop")  # not even asked
    assert dkim_key_activate(key=rsa_key, force=True).state == State.ACTIVE
    assert dns.queries == []


def test_it_activates_every_pending_key_that_dns_serves(domain, other_domain, dns):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    other_rsa, other_ed = dkim_key_generate(domain=other_domain)
    publish(dns, rsa_key)
    publish(dns, ed_key)
    publish(dns, other_ed, other_ed.dns_record.replace("p=", "p=AAAA"))

    activated = dkim_keys_activate_published()

    assert {k.pk for k in activated} == {rsa_key.pk, ed_key.pk}
    assert states(other_rsa, other_ed) == [State.PENDING, State.PENDING]


def test_it_keeps_the_old_key_published_for_the_overlap(domain, settings):
    settings.MAILPANEL_DKIM_OVERLAP_DAYS = 3
    old, _ = dkim_key_generate(domain=domain)
    dkim_key_activate(key=old, force=True)
    (new,) = dkim_key_rotate(domain=domain, algorithms=["rsa"])
    now = timezone.now()

    dkim_key_activate(key=new, force=True, now=now)

    old.refresh_from_db()
    assert old.state == State.RETIRING
    assert old.retire_after == now + timedelta(days=3)
    assert old.is_published
    assert states(new) == [State.ACTIVE]
    # Still there, and signing nothing, until the overlap is over.
    assert dkim_keys_retire_expired(now=now + timedelta(days=2, hours=23)) == []
    old.refresh_from_db()
    assert old.private_pem()

    retired = dkim_keys_retire_expired(now=now + timedelta(days=3))

    assert [k.pk for k in retired] == [old.pk]
    old.refresh_from_db()
    assert old.state == State.RETIRED
    assert old.retired == now + timedelta(days=3)
    assert old.private_key_encrypted == ""  # erased
    assert not old.is_published


def test_it_does_nothing_when_the_key_is_already_active(domain):
    rsa_key, _ = dkim_key_generate(domain=domain)
    first = dkim_key_activate(key=rsa_key, force=True)
    again = dkim_key_activate(key=rsa_key, force=True)
    assert again.activated == first.activated


def test_it_never_brings_back_a_replaced_key(domain):
    old, _ = dkim_key_generate(domain=domain)
    dkim_key_activate(key=old, force=True)
    (new,) = dkim_key_rotate(domain=domain, algorithms=["rsa"])
    dkim_key_activate(key=new, force=True)
    with pytest.raises(DkimError, match="is retiring; only a pending key"):
        dkim_key_activate(key=old, force=True)


def test_it_keeps_one_active_key_per_algorithm(domain):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True)
    dkim_key_activate(key=ed_key, force=True)
    (new_rsa,) = dkim_key_rotate(domain=domain, algorithms=["rsa"])
    dkim_key_activate(key=new_rsa, force=True)
    active = DkimKey.objects.filter(state=State.ACTIVE)
    assert sorted(active.values_list("algorithm", "pk")) == [
        ("ed25519", ed_key.pk),
        ("rsa", new_rsa.pk),
    ]


def test_it_asks_the_lookup_monitoring_registered(domain, monkeypatch):
    from dkim import publication
    from monitoring.dkim_dns import dkim_keys_served

    assert publication._lookup is dkim_keys_served
    monkeypatch.setattr(publication, "_lookup", None)
    rsa_key, _ = dkim_key_generate(domain=domain)
    with pytest.raises(DkimError, match="No DNS lookup is registered"):
        dkim_key_activate(key=rsa_key)
    assert states(rsa_key) == [State.PENDING]
