"""How what DNS answers compares with the record that should be there.

Shared by the DNS records page (monitoring.records) and the checks: one word
for the outcome and, unless the record matches, a sentence saying how.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Answer(models.TextChoices):
    MATCHES = "matches", "matches"
    MISSING = "missing", "missing"
    DIFFERS = "differs", "differs"
    UNKNOWN = "unknown", "cannot check"


@dataclass(frozen=True)
class Comparison:
    answer: Answer
    how: str = ""  # why it is missing, how it differs, why it cannot be checked

    @property
    def matches(self) -> bool:
        return self.answer == Answer.MATCHES

    def describe(self) -> str:
        label = Answer(self.answer).label
        return f"{label}: {self.how}" if self.how else label


def tags(record: str) -> dict[str, str]:
    """``v=DKIM1; k=rsa; p=...`` -> {"v": "DKIM1", ...}, spaces inside removed."""
    result = {}
    for part in record.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            result[name.strip().lower()] = "".join(value.split())
    return result
