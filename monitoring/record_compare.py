"""How what DNS answers for a record compares with the record to publish.

One function per kind of record, each taking the record (monitoring.records)
and the lookup's result and returning a Comparison: the DNS records page
shows it beside each record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import dns.asyncresolver

from monitoring.answers import Answer, Comparison, tags
from monitoring.dkim_dns import dkim_compare
from monitoring.resolver import Lookup, Status
from monitoring.spf import spf_check

if TYPE_CHECKING:
    from monitoring.records import DnsRecord

Compare = Callable[["DnsRecord", Lookup], Awaitable[Comparison] | Comparison]


def _failed(result: Lookup) -> Comparison | None:
    if result.status in (Status.NXDOMAIN, Status.NODATA):
        return Comparison(Answer.MISSING, f"no {result.rdtype} record at this name")
    if not result.status.answered:
        return Comparison(Answer.UNKNOWN, result.describe_failure())
    return None


def _host(value: str) -> str:
    return value.rstrip(".").lower()


def compare_mx(record: DnsRecord, result: Lookup) -> Comparison:
    if failed := _failed(result):
        return failed
    want = _host(record.value.split()[1])
    hosts = [_host(v.split()[1]) for v in result.values]
    if want in hosts:
        return Comparison(Answer.MATCHES)
    if hosts == [""]:
        return Comparison(Answer.DIFFERS, "a null MX: the domain receives no mail")
    return Comparison(Answer.DIFFERS, f"MX points at {', '.join(hosts)} instead")


def _tagged(result: Lookup, prefix: str) -> list[str]:
    return [v for v in result.values if tags(v).get("v", "").lower() == prefix]


def compare_dmarc(record: DnsRecord, result: Lookup) -> Comparison:
    if failed := _failed(result):
        return failed
    found = _tagged(result, "dmarc1")
    if not found:
        return Comparison(Answer.MISSING, "TXT records, but none with v=DMARC1")
    if len(found) > 1:
        return Comparison(
            Answer.DIFFERS, f"{len(found)} DMARC records: receivers ignore them all"
        )
    got, want = tags(found[0]), tags(record.value)
    policy = got.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return Comparison(Answer.DIFFERS, "no valid policy (p=)")
    if policy == "none" and want["p"] != "none":
        return Comparison(
            Answer.DIFFERS,
            "p=none only monitors: now that mail is signed, quarantine what fails",
        )
    if "rua" not in got:
        return Comparison(Answer.DIFFERS, "no rua=, so no reports reach you")
    return Comparison(Answer.MATCHES)


def compare_tagged(prefix: str, what: str) -> Compare:
    def compare(record: DnsRecord, result: Lookup) -> Comparison:
        if failed := _failed(result):
            return failed
        found = _tagged(result, prefix)
        if not found:
            return Comparison(Answer.MISSING, f"TXT records, but none with {what}")
        if len(found) > 1:
            return Comparison(Answer.DIFFERS, f"{len(found)} records with {what}")
        return Comparison(Answer.MATCHES)

    return compare


def compare_dkim(record: DnsRecord, result: Lookup) -> Comparison:
    return dkim_compare(record.value, result)


def compare_target(record: DnsRecord, result: Lookup) -> Comparison:
    """CNAME, SRV and PTR: the target host (and an SRV's port) must agree."""
    if failed := _failed(result):
        return failed
    fields = record.value.split()
    want = (_host(fields[-1]), fields[-2] if record.type == "SRV" else "")
    got = [
        (_host(v.split()[-1]), v.split()[-2] if record.type == "SRV" else "")
        for v in result.values
    ]
    if want in got:
        return Comparison(Answer.MATCHES)
    shown = ", ".join(f"{h}:{p}" if p else h for h, p in got)
    return Comparison(Answer.DIFFERS, f"points at {shown} instead")


def compare_spf(resolver: dns.asyncresolver.Resolver, addresses: list[str]) -> Compare:
    async def compare(record: DnsRecord, result: Lookup) -> Comparison:
        if failed := _failed(result):
            return failed
        report = await spf_check(resolver, record.name, addresses)
        if not report.records:
            return Comparison(Answer.MISSING, "TXT records, but none with v=spf1")
        if len(report.records) > 1:
            return Comparison(
                Answer.DIFFERS,
                f"{len(report.records)} SPF records: receivers ignore them all",
            )
        if report.error is not None:
            if report.error.kind == "temperror":
                return Comparison(Answer.UNKNOWN, str(report.error))
            return Comparison(Answer.DIFFERS, f"it cannot be evaluated: {report.error}")
        problems = [
            f"does not allow {ip}" for ip, r in report.results.items() if r != "pass"
        ]
        published = report.records[0].lower().split()
        problems += [
            f"lacks {term}"
            for term in record.value.split()
            if term.startswith("include:") and term not in published
        ]
        if published[-1] in ("all", "+all", "?all"):
            problems.append(f"ends in {published[-1]}, which lets anyone send")
        if problems:
            return Comparison(Answer.DIFFERS, "; ".join(problems))
        return Comparison(Answer.MATCHES)

    return compare
