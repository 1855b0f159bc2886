"""Run the mail health checks now and print what is wrong and what to do.

Exits with status 1 when any finding is red (critical), so it can drive a
cron job or a deployment check.
"""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.config import MonitorConfig
from monitoring.findings import Severity
from monitoring.resolver import parse_resolver
from monitoring.services import ALL, CHECKS, monitoring_run

MARKS = {"green": "OK  ", "amber": "WARN", "red": "RED "}


class Command(BaseCommand):
    help = "Check blocklists and deliverability; exit 1 when anything is red."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--resolver",
            metavar="IP[:PORT]",
            help="Ask this resolver instead of MAILPANEL_DNS_RESOLVER.",
        )
        parser.add_argument(
            "--checks",
            choices=sorted(CHECKS),
            default=ALL,
            help="lists (DNSBL), daily (DNS records, port 25, relay) or all.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Do not record the results or send alerts.",
        )

    def handle(self, *args, **options) -> None:
        overrides = {}
        if options["resolver"]:
            try:
                parse_resolver(options["resolver"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            overrides["resolver"] = options["resolver"]
        config = MonitorConfig.from_settings(**overrides)
        report = monitoring_run(
            kind=options["checks"], config=config, save=not options["dry_run"]
        )
        findings = sorted(
            report.findings,
            key=lambda f: (-Severity(f.severity).rank, f.check, f.subject),
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "severity": str(report.severity.value),
                        "colour": report.severity.colour,
                        "resolver": report.resolver,
                        "findings": [f.as_dict() for f in findings],
                    },
                    indent=2,
                )
            )
        else:
            self._print(report.severity, findings, options["verbosity"])
        if report.severity is Severity.CRITICAL:
            raise CommandError("Mail health is red.", returncode=1)

    def _print(self, severity: Severity, findings: list, verbosity: int) -> None:
        self.stdout.write(f"Mail health: {severity.label} ({severity.colour})")
        quiet = 0
        for finding in findings:
            sev = Severity(finding.severity)
            if sev.alert_level == "ok" and verbosity < 2:
                quiet += 1
                continue
            self.stdout.write(
                f"[{MARKS[sev.colour]}] {finding.check}: {finding.summary}"
            )
            if finding.advice:
                self.stdout.write(f"       Fix: {finding.advice}")
        if quiet:
            self.stdout.write(f"{quiet} more checks are fine (-v 2 lists them).")
