"""Run the checks, keep their history, and mail the admins when a state changes.

``monitoring_run()`` is what the Celery tasks, the ``mailhealth`` command and
the tests call. Each finding updates one ``CheckState`` row; an alert goes out
only for a change of alert level (clean -> listed, listed -> delisted, working
-> cannot check, cannot check -> working), and only from the process whose
guarded update made the change, so overlapping runs never mail twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring import deliverability
from monitoring.config import MonitorConfig
from monitoring.dnsbl import DnsblReport, Zone, dnsbl_check, zone_applies
from monitoring.dnsbl_findings import CHECK as DNSBL
from monitoring.dnsbl_findings import ZONE_CHECK, dnsbl_findings, dnsbl_key_subject
from monitoring.findings import ADVICE_OWN_RESOLVER, Finding, Severity, worst
from monitoring.models import CheckResult, CheckRun, CheckState, DnsblZone
from monitoring.openrelay import CHECK as OPEN_RELAY
from monitoring.openrelay import SUBJECT as RELAY_SUBJECT
from monitoring.openrelay import open_relay_check
from monitoring.port25 import port25_check
from monitoring.resolver import make_resolver, public_resolvers, resolver_addresses
from monitoring.targets import targets_resolve

logger = logging.getLogger(__name__)

LISTS = "lists"
DAILY = "daily"
ALL = "all"
COMMON_CHECKS = {"resolver", "targets"}
CHECKS = {
    LISTS: COMMON_CHECKS | {DNSBL, ZONE_CHECK},
    DAILY: COMMON_CHECKS
    | {"mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt", "ptr", "port25", OPEN_RELAY},
}
CHECKS[ALL] = CHECKS[LISTS] | CHECKS[DAILY]
# The list checks run hourly (plus jitter); older than this, something stopped.
STALE_AFTER = timedelta(hours=3)


@dataclass
class Transition:
    """A change of alert level worth one line in the alert mail."""

    old: Severity | None
    finding: Finding

    @property
    def label(self) -> str:
        new = Severity(self.finding.severity)
        old_level = self.old.alert_level if self.old else "ok"
        listing = self.finding.check == DNSBL
        if new is Severity.UNKNOWN:
            return "check broken"
        if new.alert_level == "ok":
            if old_level == "unknown":
                return "recovered"
            return "delisted" if listing else "fixed"
        if old_level == "unknown" and not listing:
            return "recovered, with a problem"
        if listing:
            return "listed"
        return "problem" if old_level == "ok" else f"now {new.label.lower()}"


@dataclass
class RunReport:
    kind: str
    findings: list[Finding]
    started: datetime
    resolver: str
    run: CheckRun | None = None
    transitions: list[Transition] = field(default_factory=list)
    expected_keys: set[str] = field(default_factory=set)
    dnsbl: DnsblReport | None = None

    @property
    def severity(self) -> Severity:
        return worst(self.findings)


def resolver_finding(
    config: MonitorConfig, addresses: list[str], public: list[str]
) -> Finding:
    if config.resolver:
        return Finding(
            "resolver", "dns", Severity.OK, f"DNS checks ask {config.resolver}."
        )
    if public:
        return Finding(
            "resolver",
            "dns",
            Severity.WARNING,
            f"The DNS checks use the public resolver {', '.join(public)} from "
            "/etc/resolv.conf: the big blocklists refuse it, so listings go unseen.",
            ADVICE_OWN_RESOLVER,
        )
    return Finding(
        "resolver",
        "dns",
        Severity.INFO,
        f"The DNS checks use the system resolver {', '.join(addresses)}.",
        "Set MAILPANEL_DNS_RESOLVER to your own recursive resolver to be sure which "
        "one answers.",
    )


def open_relay_findings(path: str) -> list[Finding]:
    """The static relay check on the rendered main.cf, when there is one."""
    try:
        text = Path(path).read_text()
    except OSError:
        return [
            Finding(
                OPEN_RELAY,
                RELAY_SUBJECT,
                Severity.INFO,
                f"{path} does not exist yet, so the open relay check did not run.",
                "Render the mail server configuration (manage.py mailserver apply).",
            )
        ]
    return open_relay_check(text)


async def _collect(
    kind: str, config: MonitorConfig, zones: list[Zone]
) -> tuple[list[Finding], set[str], str, DnsblReport | None]:
    resolver = make_resolver(config.resolver, timeout=config.dns_timeout)
    addresses = resolver_addresses(resolver)
    findings = [resolver_finding(config, addresses, public_resolvers(resolver))]
    targets = await targets_resolve(resolver, config)
    findings.extend(targets.findings)
    expected: set[str] = set()
    report = None
    if kind in (LISTS, ALL):
        report = await dnsbl_check(
            resolver=resolver,
            zones=zones,
            subjects=targets.subjects,
            concurrency=config.concurrency,
        )
        findings.extend(
            dnsbl_findings(
                report, roles=targets.roles, relay_host=config.relay_hostname
            )
        )
        # Subjects of a zone that could not be checked keep their last state.
        expected = {
            f"{DNSBL}:{dnsbl_key_subject(s, z.name)}"
            for z in zones
            for s in targets.subjects
            if zone_applies(z, s)
        }
    if kind in (DAILY, ALL):
        findings.extend(
            await deliverability.deliverability_check(
                resolver=resolver, config=config, targets=targets
            )
        )
        findings.extend(
            await port25_check(
                port25_targets=list(config.port25_targets),
                submission_targets=list(config.submission_targets),
                timeout=config.smtp_timeout,
                relay_host=config.relay_hostname,
            )
        )
        findings.extend(open_relay_findings(config.main_cf))
    return findings, expected, ", ".join(addresses), report


def monitoring_run(
    *, kind: str = ALL, config: MonitorConfig | None = None, save: bool = True
) -> RunReport:
    """Run the checks of ``kind`` (lists, daily or all); record and alert if save."""
    if kind not in CHECKS:
        raise ValueError(f"Unknown kind of run {kind!r}.")
    config = config or MonitorConfig.from_settings()
    zones = [z.as_zone() for z in DnsblZone.objects.filter(active=True)]
    started = timezone.now()
    findings, expected, resolver_text, dnsbl = asyncio.run(
        _collect(kind, config, zones)
    )
    report = RunReport(kind, findings, started, resolver_text, dnsbl=dnsbl)
    report.expected_keys = expected | {f.key for f in findings}
    if save:
        report.run, report.transitions = findings_record(report)
        alerts_send(report.transitions)
    return report


def findings_record(report: RunReport) -> tuple[CheckRun, list[Transition]]:
    """Store the run's history and move the states; return the changes."""
    now = timezone.now()
    with transaction.atomic():
        run = CheckRun.objects.create(
            kind=report.kind,
            started=report.started,
            finished=now,
            resolver=report.resolver[:255],
            severity=report.severity,
        )
        CheckResult.objects.bulk_create(
            CheckResult(
                run=run,
                check_name=f.check,
                subject=f.subject,
                key=f.key,
                severity=f.severity,
                summary=f.summary,
                advice=f.advice,
                details=f.details,
                created=now,
            )
            for f in report.findings
        )
    states = {
        s.key: s
        for s in CheckState.objects.filter(key__in=[f.key for f in report.findings])
    }
    transitions = []
    for finding in report.findings:
        if _state_move(states.get(finding.key), finding, now):
            old = states.get(finding.key)
            transitions.append(
                Transition(Severity(old.severity) if old else None, finding)
            )
    CheckState.objects.filter(check_name__in=CHECKS[report.kind]).exclude(
        key__in=report.expected_keys
    ).delete()
    return run, transitions


def _state_move(state: CheckState | None, finding: Finding, now: datetime) -> bool:
    """Update or create the finding's state; True when this call changed its level."""
    fields = {
        "severity": finding.severity,
        "summary": finding.summary,
        "advice": finding.advice,
        "details": finding.details,
        "checked": now,
    }
    level = Severity(finding.severity).alert_level
    if state is None:
        try:
            with transaction.atomic():
                CheckState.objects.create(
                    key=finding.key,
                    check_name=finding.check,
                    subject=finding.subject,
                    since=now,
                    **fields,
                )
        except IntegrityError:
            return False  # another run created it first and alerted
        return level != "ok"
    # Guarded: only the run that still sees the old severity moves it (and
    # mails); a concurrent run that got there first leaves 0 rows here. The
    # same-level update is guarded too, or a slower run could write back an
    # older level without mailing and the next run would alert a second time.
    guarded = CheckState.objects.filter(pk=state.pk, severity=state.severity)
    if state.alert_level == level:
        guarded.update(**fields)
        return False
    return guarded.update(since=now, **fields) == 1


def alert_recipients() -> list[str]:
    """Active superusers' addresses and settings.ADMINS, without duplicates."""
    users = get_user_model().objects.filter(is_superuser=True, is_active=True)
    emails = [e for e in users.values_list("email", flat=True) if e]
    emails += [email for _name, email in getattr(settings, "ADMINS", [])]
    return list(dict.fromkeys(emails))


def alerts_send(transitions: list[Transition]) -> int:
    """One mail listing every change of this run; nothing when nothing changed."""
    if not transitions:
        return 0
    recipients = alert_recipients()
    if not recipients:
        logger.warning("Monitoring: %d changes but no admin e-mail", len(transitions))
        return 0
    first = transitions[0]
    subject = f"[mailpanel] {first.label}: {first.finding.subject}"
    if len(transitions) > 1:
        subject += f" (and {len(transitions) - 1} more changes)"
    lines = []
    for t in transitions:
        lines.append(f"{t.label.upper()}: {t.finding.summary}")
        if t.finding.advice and Severity(t.finding.severity).alert_level != "ok":
            lines.append(f"  What to do: {t.finding.advice}")
        lines.append("")
    return send_mail(
        subject,
        "\n".join(lines),
        getattr(settings, "SERVER_EMAIL", None),
        recipients,
        fail_silently=False,
    )


def history_prune(*, days: int) -> int:
    """Delete runs (with their results) older than ``days``; states stay."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = CheckRun.objects.filter(started__lt=cutoff).delete()
    return deleted


def health_summary() -> dict:
    """What the admin panel and the command show: the states, worst first."""
    states = list(CheckState.objects.all())
    states.sort(key=lambda s: (-Severity(s.severity).rank, s.check_name, s.subject))
    severity = worst(
        [
            Finding(s.check_name, s.subject, Severity(s.severity), s.summary)
            for s in states
        ]
    )
    last_lists = CheckRun.objects.filter(kind__in=[LISTS, ALL]).first()
    stale = last_lists is None or last_lists.started < timezone.now() - STALE_AFTER
    return {
        "colour": severity.colour if states else "grey",
        "severity": severity,
        "problems": [s for s in states if Severity(s.severity).alert_level != "ok"],
        "count": len(states),
        "last_run": CheckRun.objects.first(),
        # Beat or the worker has stopped: the panel would show old news as current.
        "stale": bool(states) and stale,
    }
