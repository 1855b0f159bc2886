"""A key's change of state queues a configuration reload on every mail host."""

from dkim.services import dkim_key_activate, dkim_key_generate
from mailserver.hosts import RELOAD_TASK
from mailserver.models import MailHost, MailServerSettings, OutboxMessage


def test_it_queues_a_reload_on_every_host_when_a_key_is_activated(domain):
    hosts = [MailHost.objects.create(name=n) for n in ("mx1", "mx2")]
    version = MailServerSettings.load().version
    rsa_key, _ = dkim_key_generate(domain=domain)
    # A pending key signs nothing: no reload yet.
    assert not OutboxMessage.objects.filter(task=RELOAD_TASK).exists()

    dkim_key_activate(key=rsa_key, force=True)

    reloads = OutboxMessage.objects.filter(task=RELOAD_TASK)
    assert sorted((m.queue, m.args) for m in reloads) == [
        ("mx1", [hosts[0].pk]),
        ("mx2", [hosts[1].pk]),
    ]
    assert MailServerSettings.load().version == version + 1


def test_it_queues_nothing_with_the_hooks_switched_off(domain, settings):
    settings.MAILPANEL_MAILBOX_HOOKS = ""
    MailHost.objects.create(name="mx1")
    rsa_key, _ = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True)
    assert not OutboxMessage.objects.exists()
