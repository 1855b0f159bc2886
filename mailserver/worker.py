"""What makes a worker a mail host's worker (``MAILPANEL_MAIL_HOST=NAME``).

Such a worker always consumes the queue called NAME (whatever ``-Q`` says),
registers the host at start and then reports every
``MAILPANEL_MAIL_HOST_HEARTBEAT`` seconds, so the admin can show which hosts
are alive. Registration at start, or after missed heartbeats, also queues a
reload when the host does not run the current configuration: a host that
was down catches up at once, even if the reload queued meanwhile was lost.
"""

from __future__ import annotations

import logging

from celery import bootsteps
from celery.signals import celeryd_after_setup
from django.conf import settings

logger = logging.getLogger(__name__)


@celeryd_after_setup.connect
def consume_host_queue(sender: str, instance, **kwargs) -> None:
    name = settings.MAILPANEL_MAIL_HOST
    if name:
        instance.app.amqp.queues.select_add(name)


def heartbeat(name: str, starting: bool = False) -> None:
    """Register or touch the host; never lets a database error stop the worker."""
    from django.db import close_old_connections
    from django.db.utils import DatabaseError

    from mailserver.hosts import mailhost_register

    try:
        mailhost_register(name=name, starting=starting)
    except DatabaseError as exc:
        logger.warning("Mail host %s not registered: %s", name, exc)
    finally:
        close_old_connections()


class MailHostStep(bootsteps.StartStopStep):
    """Heartbeat on the worker's own timer (no thread of its own)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        name = settings.MAILPANEL_MAIL_HOST
        if not name:
            return
        heartbeat(name, starting=True)
        self.tref = worker.timer.call_repeatedly(
            settings.MAILPANEL_MAIL_HOST_HEARTBEAT, heartbeat, (name,)
        )

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
