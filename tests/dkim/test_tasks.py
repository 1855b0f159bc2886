"""The hourly task: activate what DNS serves, retire, rotate when due."""

import json
from datetime import timedelta

from django.utils import timezone

from dkim.maintenance import dkim_keys_rotate_due
from dkim.models import DkimKey
from dkim.services import dkim_key_activate, dkim_key_generate
from dkim.tasks import dkim_keys_maintain_task
from tests.dkim.conftest import publish

State = DkimKey.State


def test_it_activates_and_retires_and_names_only_records(domain, dns):
    old_rsa, old_ed = dkim_key_generate(domain=domain)
    dkim_key_activate(key=old_rsa, force=True)
    DkimKey.objects.filter(pk=old_rsa.pk).update(
        state=State.RETIRING, retire_after=timezone.now() - timedelta(seconds=1)
    )
    publish(dns, old_ed)

    result = dkim_keys_maintain_task.apply().get()

    assert result == {
        "activated": [old_ed.record_name],
        "retired": [old_rsa.record_name],
        "rotated": [],
    }
    text = json.dumps(result)
    assert "PRIVATE" not in text
    assert old_ed.public_key not in text


def test_it_is_safe_to_run_twice(domain, dns):
    _, ed_key = dkim_key_generate(domain=domain)
    publish(dns, ed_key)
    dkim_keys_maintain_task.apply().get()
    result = dkim_keys_maintain_task.apply().get()
    assert result == {"activated": [], "retired": [], "rotated": []}


def test_it_rotates_keys_active_longer_than_the_setting(domain, other_domain, settings):
    settings.MAILPANEL_DKIM_ROTATE_DAYS = 365
    now = timezone.now()
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True, now=now - timedelta(days=366))
    dkim_key_activate(key=ed_key, force=True, now=now - timedelta(days=300))
    (young,) = dkim_key_generate(domain=other_domain, algorithms=["rsa"])
    dkim_key_activate(key=young, force=True, now=now - timedelta(days=10))

    rotated = dkim_keys_rotate_due(now=now)

    assert [(k.domain_id, k.algorithm, k.state) for k in rotated] == [
        (domain.pk, "rsa", State.PENDING)
    ]
    # The new key waits for DNS: no second one the next hour.
    assert dkim_keys_rotate_due(now=now) == []


def test_it_never_rotates_on_its_own_by_default(domain, settings):
    assert settings.MAILPANEL_DKIM_ROTATE_DAYS == 0
    rsa_key, _ = dkim_key_generate(domain=domain)
    dkim_key_activate(
        key=rsa_key, force=True, now=timezone.now() - timedelta(days=5000)
    )
    assert dkim_keys_rotate_due() == []
