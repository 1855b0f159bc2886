"""What a check found, in words an operator can act on.

Every check, whatever it looks at, ends in ``Finding`` objects: a severity, one
plain sentence saying what is wrong and one saying what to do. The health
panel, the ``mailhealth`` command and the alert mails all print these, so the
advice is written once, here or beside the check that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models


class Severity(models.TextChoices):
    """How bad a finding is; the colour follows from it."""

    OK = "ok", "OK"
    INFO = "info", "Information"
    WARNING = "warning", "Warning"
    UNKNOWN = "unknown", "Cannot check"
    CRITICAL = "critical", "Critical"

    @property
    def colour(self) -> str:
        return _COLOURS[self]

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def alert_level(self) -> str:
        """Changes between these levels are worth a mail; ok <-> info is not."""
        return "ok" if self in (Severity.OK, Severity.INFO) else str(self.value)


_COLOURS = {
    Severity.OK: "green",
    Severity.INFO: "green",
    Severity.WARNING: "amber",
    Severity.UNKNOWN: "amber",
    Severity.CRITICAL: "red",
}
_RANKS = {
    Severity.OK: 0,
    Severity.INFO: 1,
    Severity.WARNING: 2,
    Severity.UNKNOWN: 3,
    Severity.CRITICAL: 4,
}


@dataclass
class Finding:
    """One check's verdict on one subject (an address, a domain, a zone...)."""

    check: str
    subject: str
    severity: Severity
    summary: str
    advice: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identifies the same check on the same subject from run to run."""
        return f"{self.check}:{self.subject}"

    @property
    def colour(self) -> str:
        return Severity(self.severity).colour

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "subject": self.subject,
            "severity": str(Severity(self.severity).value),
            "colour": self.colour,
            "summary": self.summary,
            "advice": self.advice,
            "details": self.details,
        }


def worst(findings: list[Finding]) -> Severity:
    """The severity of the worst finding; OK when there is none."""
    if not findings:
        return Severity.OK
    return max((Severity(f.severity) for f in findings), key=lambda s: s.rank)


# Advice shared by several checks.
ADVICE_OWN_RESOLVER = (
    "Run your own recursive resolver on the mail server (for example unbound on "
    "127.0.0.1) and set MAILPANEL_DNS_RESOLVER to it; DNSBL operators refuse "
    "queries that come through public resolvers."
)
ADVICE_RELAY_HOST = "Send through a relay host on port 587 or 465."
