"""Relay hosts and who sends through them.

Postfix reads the routes through the SQL views of migration 0002
(``mailpanel_sender_relays``, ``mailpanel_default_relay``), so a new route
applies at the next message without a reload. The passwords are not in those
views: each mail host's worker writes them into a root-only lookup table
(``relays.services.relay_credentials_write``), keyed by the relay's next hop,
the exact string the routes name (docs/relay-hosts.md says why).
"""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from domains import crypto
from domains.addresses import normalize_address, normalize_domain

# master.cf services rendered by mailserver.render: one per way of doing TLS.
STARTTLS_TRANSPORT = "relay-smtp"
IMPLICIT_TLS_TRANSPORT = "relay-smtps"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SINGLE_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A DNS name as SPF includes use them: underscores allowed (_spf.example.com).
_SPF_INCLUDE = re.compile(
    r"(?=.{4,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+"
    r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


class RelayHost(models.Model):
    """A provider's submission server that sends mail on this server's behalf.

    TLS is never optional: STARTTLS must succeed (usually port 587) or the
    connection is TLS from the start (usually port 465), and the certificate
    is verified. The password is stored encrypted (``domains.crypto``) and is
    never shown again once saved.
    """

    class Security(models.TextChoices):
        STARTTLS = "starttls", "STARTTLS (usually port 587)"
        IMPLICIT_TLS = "tls", "implicit TLS (usually port 465)"

    name = models.CharField(max_length=100, unique=True)
    host = models.CharField(
        max_length=253,
        help_text="The provider's SMTP server name, e.g. smtp.provider.example.",
    )
    port = models.PositiveIntegerField(
        default=587, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    security = models.CharField(
        max_length=10, choices=Security, default=Security.STARTTLS
    )
    username = models.CharField(max_length=255)
    password_encrypted = models.TextField(editable=False)
    password_changed_at = models.DateTimeField(null=True, editable=False)
    is_default = models.BooleanField(
        "default relay",
        default=False,
        help_text="All outbound mail goes through it, unless a domain or a sender "
        "address has a relay of its own.",
    )
    spf_include = models.CharField(
        "SPF include",
        max_length=253,
        blank=True,
        help_text="The domain the provider's SPF instructions name after include:, "
        "e.g. _spf.provider.example. The DNS records page adds it to the SPF "
        "record of every domain whose mail goes through this relay.",
    )
    # What Postfix's sender_dependent_default_transport_maps returns, kept in
    # step by save(); the credentials table is keyed by its next-hop part.
    transport = models.CharField(max_length=300, editable=False)
    last_test_at = models.DateTimeField("last tested", null=True, editable=False)
    last_test_ok = models.BooleanField("last test passed", null=True, editable=False)
    last_test_result = models.TextField(blank=True, editable=False)
    # A test asked for and not finished: queued, then started by a worker.
    # One started longer ago than a test can last lost its worker.
    test_queued_at = models.DateTimeField(null=True, editable=False)
    test_started_at = models.DateTimeField(null=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    # Never looked up, sorted or searched in the admin (domains.secrets).
    secret_fields = ("password_encrypted",)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(host=Lower("host")), name="relayhost_host_lowercase"
            ),
            # The credentials table is keyed by [host]:port: two accounts on one
            # server would share a key (docs/relay-hosts.md).
            models.UniqueConstraint(
                fields=["host", "port"],
                name="relayhost_nexthop_unique",
                violation_error_message="A relay with this host and port exists.",
            ),
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="relayhost_one_default",
                violation_error_message="Another relay is already the default.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.nexthop})"

    def save(self, *args, **kwargs) -> None:
        self.transport = f"{self.transport_name}:{self.nexthop}"
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "transport"}
        super().save(*args, **kwargs)

    @property
    def nexthop(self) -> str:
        """``[host]:port``: brackets, because a relay is never found by MX."""
        return f"[{self.host}]:{self.port}"

    @property
    def transport_name(self) -> str:
        if self.security == self.Security.IMPLICIT_TLS:
            return IMPLICIT_TLS_TRANSPORT
        return STARTTLS_TRANSPORT

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, raw_password: str) -> None:
        """Store ``raw_password`` encrypted; it is never kept in plain text."""
        if not raw_password or raw_password != raw_password.strip():
            raise ValidationError(
                {
                    "password": "The password may not be empty or start or end with "
                    "a space (the Postfix table format cannot hold that)."
                }
            )
        if _CONTROL.search(raw_password):
            raise ValidationError(
                {"password": "The password may not contain control characters."}
            )
        self.password_encrypted = crypto.encrypt(raw_password)
        self.password_changed_at = timezone.now()

    def get_password(self) -> str:
        """The plain password, for the worker that hands it to Postfix."""
        return crypto.decrypt(self.password_encrypted)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        host = (self.host or "").strip().rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if _SINGLE_LABEL.fullmatch(host.lower()):
                # A name from /etc/hosts or the local search domain.
                self.host = host.lower()
            else:
                try:
                    self.host = normalize_domain(host)
                except ValidationError as exc:
                    errors["host"] = exc.messages[0]
        else:
            if address.version == 6:
                errors["host"] = "Give the relay's host name, not an IPv6 address."
            else:
                # TLS is verified against this name: an address only works if
                # the certificate names it.
                self.host = str(address)
        include = (self.spf_include or "").strip().lower().rstrip(".")
        self.spf_include = include.removeprefix("include:")
        if self.spf_include and not _SPF_INCLUDE.fullmatch(self.spf_include):
            errors["spf_include"] = (
                "Give the domain after include: in the provider's SPF "
                "instructions, e.g. _spf.provider.example."
            )
        if (
            ":" in self.username
            or _CONTROL.search(self.username)
            or (self.username != self.username.strip())
        ):
            errors["username"] = (
                "The user name may not contain a colon, control characters or "
                "leading or trailing spaces."
            )
        if not self.password_encrypted:
            errors["password"] = "Enter the relay's password."  # noqa: S105
        if errors:
            raise ValidationError(errors)


class DomainRelay(models.Model):
    """All mail from a domain (and its alias domains) goes through a relay."""

    domain = models.OneToOneField(
        "domains.Domain", on_delete=models.CASCADE, related_name="relay_route"
    )
    relay = models.ForeignKey(
        RelayHost, on_delete=models.PROTECT, related_name="domain_routes"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain__name"]
        verbose_name = "domain relay"

    def __str__(self) -> str:
        return (
            f"@{self.domain_id and self.domain.name} → {self.relay_id and self.relay}"
        )


class SenderRelay(models.Model):
    """Mail from one sender address goes through a relay, overriding its
    domain's relay and the default."""

    address = models.CharField(max_length=254)
    relay = models.ForeignKey(
        RelayHost, on_delete=models.PROTECT, related_name="sender_routes"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]
        verbose_name = "sender relay"
        constraints = [
            models.UniqueConstraint(fields=["address"], name="senderrelay_key"),
        ]

    def __str__(self) -> str:
        return f"{self.address} → {self.relay_id and self.relay}"

    def clean(self) -> None:
        try:
            self.address = normalize_address(self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from None
