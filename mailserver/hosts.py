"""Mail hosts: registering them, and applying file-level settings on each.

A settings change bumps ``MailServerSettings.version`` and queues a reload
on every registered host's own queue. The reload always renders the newest
settings, so it is idempotent and an old queued one does no harm; the host's
row says which version it runs, or why it could not. A failed validation
leaves the running configuration in place (``mailserver_apply``).
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mailserver.models import MailHost, MailServerSettings
from mailserver.outbox import outbox_enqueue
from mailserver.render import MailServerConfig, RenderError
from mailserver.services import MailServerError, mailserver_apply

logger = logging.getLogger(__name__)

RELOAD_TASK = "mailserver.tasks.mailhost_reload_task"


def effective_config() -> MailServerConfig:
    """settings.py's configuration with the admin's MailServerSettings on top."""
    return MailServerSettings.load().apply_to(MailServerConfig.from_settings())


def mailhost_register(*, name: str, starting: bool = False) -> MailHost:
    """Create or touch the host a worker serves; a host that comes back
    catches up at once.

    Called by the worker at start (``starting``) and on every heartbeat. A
    host behind the current version gets a reload queued when it is new,
    when its worker starts, or when it is back after missed heartbeats: the
    reload queued while it was away may be gone with the broker's data (a
    Redis restart without persistence). A start also retries a version the
    host refused, which may have been fixed on it meanwhile; late heartbeats
    do not (a worker busy with a long task misses some, and a refused
    version would be retried after every one). The heartbeats of a host that
    stayed up queue nothing; ``mailhosts_reconcile()`` covers anything else.
    """
    now = timezone.now()
    with transaction.atomic():
        host, created = MailHost.objects.get_or_create(
            name=name, defaults={"last_seen": now}
        )
        back = not created and not host.is_alive()
        if not created:
            MailHost.objects.filter(pk=host.pk).update(last_seen=now)
    if created:
        logger.info("Mail host %s registered", name)
    version = MailServerSettings.load().version
    state = host.state(version)
    if (
        created
        or (starting and state != MailHost.State.APPLIED)
        or (back and state == MailHost.State.PENDING)
    ):
        logger.info(
            "Mail host %s runs %s of %s: reload", name, host.applied_version, version
        )
        mailhost_reload_enqueue(host=host)
    if created and apps.is_installed("relays"):
        # Its own copy of the relay passwords (docs/relay-hosts.md).
        from relays.services import CREDENTIALS_TASK

        with transaction.atomic():
            outbox_enqueue(task=CREDENTIALS_TASK, args=[], queue=host.queue)
    return host


def mailhost_reload_enqueue(*, host: MailHost) -> None:
    with transaction.atomic():
        outbox_enqueue(task=RELOAD_TASK, args=[host.pk], queue=host.queue)


@transaction.atomic
def mailserver_settings_save(*, obj: MailServerSettings) -> int:
    """Save the file-level settings and queue a reload on every mail host.

    Returns how many hosts were asked. Nothing is applied here: the web
    request only writes rows, the hosts' workers do the rest after commit.
    """
    obj.full_clean()
    obj.pk = 1
    obj.save()
    MailServerSettings.objects.filter(pk=1).update(version=F("version") + 1)
    obj.refresh_from_db(fields=["version"])
    hosts = list(MailHost.objects.all())
    for host in hosts:
        outbox_enqueue(task=RELOAD_TASK, args=[host.pk], queue=host.queue)
    return len(hosts)


def mailserver_config_changed() -> int:
    """For other apps (relay hosts, ...) whose data is rendered into files."""
    return mailserver_settings_save(obj=MailServerSettings.load())


def mailhost_reload(*, host: MailHost) -> bool:
    """Render, validate, swap in and reload; record the outcome on ``host``.

    Returns False when the configuration was refused; the running one stays.
    """
    version = MailServerSettings.load().version
    now = timezone.now()
    try:
        mailserver_apply(effective_config())
    except (MailServerError, RenderError, OSError) as exc:
        logger.error("Mail host %s refused version %s: %s", host, version, exc)
        MailHost.objects.filter(pk=host.pk).update(
            error=str(exc)[:2000], error_version=version, error_at=now, last_seen=now
        )
        return False
    # Guarded: a slower, older reload must not overwrite a newer outcome.
    MailHost.objects.filter(pk=host.pk).exclude(applied_version__gt=version).update(
        applied_version=version,
        applied_at=now,
        error="",
        error_version=None,
        error_at=None,
        last_seen=now,
    )
    return True


def mailhosts_reconcile() -> int:
    """Queue a reload on every host behind the current version (and not
    already refused it): catches fan-outs missed while a host was away."""
    version = MailServerSettings.load().version
    behind = (
        MailHost.objects.exclude(applied_version__gte=version)
        .exclude(error_version=version)
        .order_by("pk")
    )
    count = 0
    for host in behind:
        mailhost_reload_enqueue(host=host)
        count += 1
    return count


def mailhost_queues() -> list[tuple[int | None, str]]:
    """(host id, queue) for each registered host, or the default queue alone.

    With no host registered (the quick start) the one local worker does the
    mail-host work on the default queue.
    """
    hosts = [(pk, name) for pk, name in MailHost.objects.values_list("pk", "name")]
    return hosts or [(None, "")]
