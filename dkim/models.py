"""DKIM keys: one row per key, its private part encrypted at rest.

A key lives through four states (docs/dkim.md):

- *pending*: generated or imported; its record should be published, nothing
  signs with it yet;
- *active*: the mail hosts sign with it (``services.signing_keys()``); at most
  one per domain and algorithm, so a domain signs with one RSA and one Ed25519
  key side by side;
- *retiring*: a newer key of its algorithm took over; the record stays
  published until ``retire_after`` so that mail signed before the switch still
  verifies;
- *retired*: unpublished; the private part is erased.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from dkim import keys
from domains import crypto
from domains.models import Domain

# One DNS label of host-name characters (RFC 6376, 3.1, sub-domain): what every
# DNS interface accepts and rspamd's selector maps can hold. Any case: DNS
# ignores it, and clean() stores the selector in lower case.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def validate_selector(value: str) -> None:
    if not _LABEL.fullmatch(value or ""):
        raise ValidationError(
            "A selector is one DNS label: letters, digits and hyphens, at most 63, "
            "not starting or ending with a hyphen (e.g. mail2024).",
            code="selector",
        )


class DkimKey(models.Model):
    """A domain's DKIM key, published at ``SELECTOR._domainkey.DOMAIN``."""

    class Algorithm(models.TextChoices):
        # rspamd's and the DNS record's names (k=rsa, k=ed25519).
        RSA = keys.RSA, "RSA"
        ED25519 = keys.ED25519, "Ed25519"

    class State(models.TextChoices):
        PENDING = "pending", "pending (waiting for DNS)"
        ACTIVE = "active", "active (signs)"
        RETIRING = "retiring", "retiring (still published)"
        RETIRED = "retired", "retired"

    # The states whose record belongs in DNS.
    PUBLISHED = (State.PENDING, State.ACTIVE, State.RETIRING)

    domain = models.ForeignKey(
        Domain, on_delete=models.CASCADE, related_name="dkim_keys"
    )
    selector = models.CharField(max_length=63, validators=[validate_selector])
    algorithm = models.CharField(max_length=10, choices=Algorithm)
    bits = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    imported = models.BooleanField(default=False, editable=False)
    # Fernet token of the PKCS#8 PEM (domains.crypto); never shown anywhere.
    private_key_encrypted = models.TextField(editable=False)
    public_key = models.TextField("public key (p=)", editable=False)
    created = models.DateTimeField(auto_now_add=True)
    activated = models.DateTimeField(null=True, blank=True, editable=False)
    retire_after = models.DateTimeField(
        "published until",
        null=True,
        blank=True,
        editable=False,
        help_text="A retiring key's record stays in DNS until then.",
    )
    retired = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["domain__name", "algorithm", "-created"]
        verbose_name = "DKIM key"
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "selector"],
                name="dkimkey_selector_unique",
                violation_error_message="This domain already has a key with this "
                "selector.",
            ),
            # Two active keys of one algorithm would make the signer pick one
            # at random; the old one retires in the same transaction.
            models.UniqueConstraint(
                fields=["domain", "algorithm"],
                condition=Q(state="active"),
                name="dkimkey_one_active_per_algorithm",
                violation_error_message="This domain already has an active key of "
                "this algorithm.",
            ),
            models.CheckConstraint(
                condition=Q(selector=Lower("selector")),
                name="dkimkey_selector_lowercase",
            ),
            models.CheckConstraint(
                condition=Q(algorithm="ed25519") | Q(bits__gte=1024),
                name="dkimkey_rsa_1024_bits_at_least",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_name} ({self.get_algorithm_display()}, {self.state})"

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name}"

    @property
    def dns_record(self) -> str:
        return keys.dns_record(algorithm=self.algorithm, public=self.public_key)

    @property
    def is_published(self) -> bool:
        return self.state in self.PUBLISHED

    def clean(self) -> None:
        self.selector = (self.selector or "").strip().lower()

    def set_key(self, material: keys.KeyMaterial) -> None:
        """Store ``material``: the private part encrypted, the public in clear."""
        self.algorithm = material.algorithm
        self.bits = material.bits
        self.public_key = material.public
        self.private_key_encrypted = crypto.encrypt(material.private_pem)

    def private_pem(self) -> str:
        """The PKCS#8 PEM, for the mail hosts' signer only."""
        if not self.private_key_encrypted:
            raise crypto.SecretError(f"the private part of {self.record_name} is gone")
        return crypto.decrypt(self.private_key_encrypted, what="DKIM key")
