"""DNSBL answers as findings: one per zone (its self-test) and per subject.

A zone whose self-test failed gives one "cannot check" finding for the zone;
its subjects keep their last known state instead of each raising an alert.
"""

from __future__ import annotations

from monitoring.dnsbl import DnsblReport, Verdict, ZoneAnswer
from monitoring.findings import Finding, Severity
from monitoring.targets import DOMAIN, HELO, OUTBOUND

ZONE_CHECK = "dnsbl-zone"
CHECK = "dnsbl"


def dnsbl_key_subject(subject: str, zone: str) -> str:
    return f"{subject} on {zone}"


def _listing_severity(answer: ZoneAnswer) -> Severity:
    explicit = [Severity(r["severity"]) for r in answer.reasons if r.get("severity")]
    if explicit:
        return max(explicit, key=lambda s: s.rank)
    weight = answer.zone.weight
    if weight >= 5:
        return Severity.CRITICAL
    return Severity.WARNING if weight else Severity.INFO


def listing_finding(answer: ZoneAnswer, *, role: str, relay_host: str) -> Finding:
    """A listing in words: what the list says, what to do, where to ask removal."""
    zone = answer.zone.name
    subject = dnsbl_key_subject(answer.subject, zone)
    labels = ", ".join(r.get("label", r["code"]) for r in answer.reasons)
    meanings = " ".join(dict.fromkeys(r.get("meaning", "") for r in answer.reasons))
    advice = " ".join(dict.fromkeys(r.get("advice", "") for r in answer.reasons))
    severity = _listing_severity(answer)
    if (
        relay_host
        and role in (OUTBOUND, HELO)
        and all(r.get("direct_only") for r in answer.reasons)
    ):
        severity = Severity.INFO
        meanings += f" Mail goes out through the relay host {relay_host}, so this "
        meanings += "does not matter."
        advice = ""
    if answer.removal_url:
        advice = f"{advice} Removal: {answer.removal_url}".strip()
    what = "domain" if role == DOMAIN else role
    return Finding(
        CHECK,
        subject,
        severity,
        f"The {what} {answer.subject} is listed on {zone} ({labels}): "
        f"{meanings or 'it is on the list.'}".strip(),
        advice,
        {
            "zone": zone,
            "target": answer.subject,
            "role": role,
            "codes": answer.codes,
            "txt": answer.txt,
            "removal_url": answer.removal_url,
        },
    )


def dnsbl_findings(
    report: DnsblReport, *, roles: dict[str, str], relay_host: str = ""
) -> list[Finding]:
    findings = []
    for health in report.zones:
        zone = health.zone.name
        if health.ok:
            findings.append(
                Finding(ZONE_CHECK, zone, Severity.OK, f"{zone} passed its self-test.")
            )
        else:
            findings.append(
                Finding(
                    ZONE_CHECK,
                    zone,
                    Severity.UNKNOWN,
                    f"{zone} cannot be checked: {health.detail}.",
                    health.advice,
                )
            )
    for answer in report.answers:
        zone = answer.zone.name
        subject = dnsbl_key_subject(answer.subject, zone)
        role = roles.get(answer.subject, "")
        details = {"zone": zone, "target": answer.subject, "role": role}
        if answer.verdict is Verdict.LISTED:
            findings.append(listing_finding(answer, role=role, relay_host=relay_host))
        elif answer.verdict is Verdict.CLEAN:
            findings.append(
                Finding(
                    CHECK, subject, Severity.OK, f"Not listed on {zone}.", "", details
                )
            )
        elif answer.verdict is Verdict.ERROR:
            findings.append(
                Finding(
                    CHECK,
                    subject,
                    Severity.UNKNOWN,
                    f"Cannot check {answer.subject} on {zone}: {answer.detail}.",
                    answer.advice,
                    details | {"codes": answer.codes},
                )
            )
        else:
            findings.append(
                Finding(
                    CHECK,
                    subject,
                    Severity.UNKNOWN,
                    f"Cannot check {answer.subject} on {zone}: {answer.detail}.",
                    answer.advice,
                    details,
                )
            )
    return findings
