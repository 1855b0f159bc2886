"""What the workers need to remember: mail hosts, settings, pending work.

Postfix and Dovecot read most of mailpanel through SQL and see a change at
their next lookup. A few settings live in their configuration files instead
(``MailServerSettings``); those need a re-render and reload on every mail
host, and each ``MailHost`` records which version it runs. Work that must
reach a worker goes through ``OutboxMessage`` so a broker outage delays it
and never loses it; maildir work is tracked by ``MaildirJob``.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from domains.models import Domain

# Queue names are host names; keep them to what a Redis key and a shell
# argument take without quoting.
host_name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "Letters, digits, dots, dashes, underscores."
)


class MailServerSettings(models.Model):
    """The file-level settings an admin may edit: one row, pk 1.

    Empty fields fall back to settings.py (``MAILPANEL_HOSTNAME``, ...).
    ``version`` counts saves so that each host can say which one it runs.
    """

    hostname = models.CharField(
        max_length=253, blank=True, help_text="Empty: MAILPANEL_HOSTNAME or the FQDN."
    )
    message_size_limit = models.PositiveBigIntegerField(
        "message size limit (bytes)",
        null=True,
        blank=True,
        help_text="Empty: MAILPANEL_MESSAGE_SIZE_LIMIT.",
    )
    tls_cert = models.CharField(
        "TLS certificate path",
        max_length=500,
        blank=True,
        help_text="Empty: MAILPANEL_TLS_CERT. Must exist on every mail host.",
    )
    tls_key = models.CharField(
        "TLS key path",
        max_length=500,
        blank=True,
        help_text="Empty: MAILPANEL_TLS_KEY.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "mail server settings"
        verbose_name_plural = "mail server settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pk=1), name="mailserversettings_singleton"
            )
        ]

    def __str__(self) -> str:
        return f"Mail server settings (version {self.version})"

    @classmethod
    def load(cls) -> MailServerSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def apply_to(self, config):
        """``config`` (a render.MailServerConfig) with these values on top."""
        changes: dict[str, object] = {}
        if self.hostname:
            changes["hostname"] = self.hostname
        if self.message_size_limit is not None:
            changes["message_size_limit"] = self.message_size_limit
        if self.tls_cert:
            # A configured path is never replaced by a self-signed pair.
            changes.update(tls_cert=self.tls_cert, tls_self_signed=False)
        if self.tls_key:
            changes.update(tls_key=self.tls_key, tls_self_signed=False)
        return dataclasses.replace(config, **changes)


class MailHost(models.Model):
    """A machine running Postfix and Dovecot, and a worker on its own queue.

    Registered by that worker (mailserver.worker); the queue is the name.
    """

    class State(models.TextChoices):
        APPLIED = "applied"
        PENDING = "pending"
        FAILED = "failed"

    name = models.CharField(
        max_length=100, unique=True, validators=[host_name_validator]
    )
    last_seen = models.DateTimeField(null=True, blank=True)
    applied_version = models.PositiveIntegerField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_version = models.PositiveIntegerField(null=True, blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        return self.name

    def state(self, version: int) -> State:
        """Whether this host runs ``version`` of the settings."""
        if self.applied_version is not None and self.applied_version >= version:
            return self.State.APPLIED
        if self.error and self.error_version == version:
            return self.State.FAILED
        return self.State.PENDING

    def is_alive(self) -> bool:
        # Three missed heartbeats: the worker (or the machine) is down.
        limit = timedelta(seconds=3 * settings.MAILPANEL_MAIL_HOST_HEARTBEAT)
        return self.last_seen is not None and timezone.now() - self.last_seen < limit


class OutboxMessage(models.Model):
    """A task to hand to the broker, written in the transaction that needs it.

    Sent right after commit; if the broker is down the row waits and the
    periodic flush (or the next enqueue) sends it. A task may so arrive
    twice, which every task tolerates.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    queue = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created"]
        indexes = [
            models.Index(
                fields=["created"],
                condition=models.Q(sent_at=None),
                name="outbox_unsent",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} → {self.queue or 'default'}"


class MaildirJob(models.Model):
    """Moving, archiving or removing one maildir on one mail host.

    While a move is not done, mail for both addresses is deferred (4xx) by
    rows that mailserver.lifecycle adds to the recipient access table.
    """

    class Kind(models.TextChoices):
        MOVE = "move"
        ARCHIVE = "archive"
        REMOVE = "remove"

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # None: no mail host is registered, the default queue's worker does it.
    host = models.ForeignKey(
        MailHost, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    mailbox = models.ForeignKey(
        "domains.Mailbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # DOMAIN/LOCALPART, relative to the vmail root, as in the lookup rows.
    source = models.CharField(max_length=320)
    target = models.CharField(max_length=320, blank=True)
    old_address = models.CharField(max_length=254)
    new_address = models.CharField(max_length=254, blank=True)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING
    )
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        arrow = f" → {self.target}" if self.target else ""
        return f"{self.kind} {self.source}{arrow}"


class MailboxUsage(models.Model):
    """A mailbox's use of its quota, as Dovecot last reported it."""

    mailbox = models.OneToOneField(
        "domains.Mailbox",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="usage",
    )
    bytes_used = models.PositiveBigIntegerField(default=0)
    messages = models.PositiveIntegerField(default=0)
    # 0: no limit.
    bytes_limit = models.PositiveBigIntegerField(default=0)
    updated = models.DateTimeField()
    # Set when the owner was warned; cleared once usage drops below the mark.
    warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "mailbox usage"

    def __str__(self) -> str:
        return f"{self.mailbox_id}: {self.bytes_used} bytes"

    @property
    def percent(self) -> int | None:
        if not self.bytes_limit:
            return None
        return int(self.bytes_used * 100 // self.bytes_limit)


class DomainUsage(Domain):
    """A domain seen from its mailboxes' usage: only for the admin's list."""

    class Meta:
        proxy = True
        verbose_name = "domain usage"
        verbose_name_plural = "domain usage"
