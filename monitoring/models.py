"""DNSBL zones, check runs with their results (the history), current states.

``CheckState`` holds one row per check and subject with the latest verdict; the
alert mail is sent by whoever moves it to a new level (a guarded update), so
the same alert never goes out twice even when two runs overlap.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from domains.models import Domain
from monitoring.dnsbl import DOMAIN, IP, Zone, subject_kind
from monitoring.findings import Severity

CODE_KEYS = {"label", "meaning", "advice", "severity", "direct_only"}


class DnsblZone(models.Model):
    """A DNS blocklist to ask, with what each of its answers means."""

    class Kind(models.TextChoices):
        IP = IP, "IP addresses"
        DOMAIN = DOMAIN, "Domains"

    zone = models.CharField(max_length=253, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IP)
    description = models.CharField(max_length=255, blank=True)
    weight = models.PositiveSmallIntegerField(
        default=5,
        help_text="0 to 10. A listing is critical from 5 up, a warning from 1 and "
        "information at 0, unless its return code says otherwise.",
    )
    return_codes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Answer (or bit value for bitmask lists) → {"label", "meaning", '
        '"advice", "severity"}.',
    )
    error_codes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Answers that mean the query was refused → {"meaning", "advice"}.',
    )
    bitmask = models.BooleanField(
        default=False, help_text="The last octet of an answer is a set of bits."
    )
    ipv6 = models.BooleanField("lists IPv6", default=True)
    test_listed = models.CharField(
        max_length=253,
        default="127.0.0.2",
        help_text="An entry that is always listed (RFC 5782 self-test).",
    )
    test_unlisted = models.CharField(
        max_length=253,
        default="127.0.0.1",
        help_text="An entry that is never listed.",
    )
    lookup_url = models.CharField(
        max_length=255,
        blank=True,
        help_text="Lookup/removal page; {subject} is replaced by the address or "
        "domain. Used when the TXT record has no link.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "-weight", "zone"]
        verbose_name = "DNSBL zone"
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__lte=10), name="dnsblzone_weight_max_10"
            ),
        ]

    def __str__(self) -> str:
        return self.zone

    def clean(self) -> None:
        self.zone = self.zone.strip().rstrip(".").lower()
        errors: dict[str, str] = {}
        if self.kind == self.Kind.DOMAIN:
            for name in ("test_listed", "test_unlisted"):
                if subject_kind(getattr(self, name)) == IP:
                    errors[name] = (
                        "A domain list is tested with domains (RFC 5782: "
                        "“test” and “invalid”, or the list's own test domain)."
                    )
        for name in ("return_codes", "error_codes"):
            problem = _code_map_problem(getattr(self, name), bitmask=self.bitmask)
            if problem:
                errors[name] = problem
        if errors:
            raise ValidationError(errors)

    def as_zone(self) -> Zone:
        """The database-free form the DNSBL core works with."""
        return Zone(
            name=self.zone,
            kind=self.kind,
            weight=self.weight,
            return_codes=self.return_codes,
            error_codes=self.error_codes,
            bitmask=self.bitmask,
            ipv6=self.ipv6,
            test_listed=self.test_listed,
            test_unlisted=self.test_unlisted,
            lookup_url=self.lookup_url,
        )


def _code_map_problem(value: Any, *, bitmask: bool) -> str:
    if not isinstance(value, dict):
        return "Must be an object mapping each answer to its meaning."
    for code, meaning in value.items():
        if not isinstance(meaning, dict):
            return f"The meaning of {code} must be an object."
        unknown = set(meaning) - CODE_KEYS
        if unknown:
            return f"{code}: unknown keys {', '.join(sorted(unknown))}."
        severity = meaning.get("severity")
        if severity is not None and severity not in Severity.values:
            return f"{code}: severity must be one of {', '.join(Severity.values)}."
        if code.isdigit() and not bitmask:
            return f"{code} is a bit value; tick “bitmask” or give the full answer."
        if not code.isdigit() and not code.startswith("127."):
            return f"{code} is not an answer in 127.0.0.0/8."
    return ""


class CheckRun(models.Model):
    """One run of some checks: the unit of history."""

    kind = models.CharField(max_length=30)
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    resolver = models.CharField(max_length=255, blank=True)
    severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.OK
    )

    class Meta:
        ordering = ["-started"]
        indexes = [models.Index(fields=["-started"], name="checkrun_started")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.started:%Y-%m-%d %H:%M}"


class CheckResult(models.Model):
    """What one check said about one subject in one run."""

    run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="results")
    check_name = models.CharField("check", max_length=30)
    subject = models.CharField(max_length=300)
    key = models.CharField(max_length=340)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    summary = models.TextField()
    advice = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField()

    class Meta:
        ordering = ["-created", "check_name", "subject"]
        indexes = [models.Index(fields=["key", "-created"], name="checkresult_history")]

    def __str__(self) -> str:
        return f"{self.key}: {self.get_severity_display()}"


class CheckState(models.Model):
    """The latest verdict of one check on one subject, and since when it holds."""

    key = models.CharField(max_length=340, unique=True)
    check_name = models.CharField("check", max_length=30)
    subject = models.CharField(max_length=300)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    summary = models.TextField()
    advice = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    since = models.DateTimeField(help_text="When the alert level last changed.")
    checked = models.DateTimeField()

    class Meta:
        ordering = ["check_name", "subject"]

    def __str__(self) -> str:
        return self.key

    def get_absolute_url(self) -> str:
        return reverse("admin:monitoring_checkstate_change", args=[self.pk])

    @property
    def colour(self) -> str:
        return Severity(self.severity).colour

    @property
    def alert_level(self) -> str:
        return Severity(self.severity).alert_level

    def history(self) -> models.QuerySet[CheckResult]:
        return CheckResult.objects.filter(key=self.key).order_by("-created")


class DomainDnsRecords(Domain):
    """A hosted domain seen from DNS: only for the admin's records page
    (monitoring.records); no table of its own."""

    class Meta:
        proxy = True
        verbose_name = "DNS records of a domain"
        verbose_name_plural = "DNS records"
