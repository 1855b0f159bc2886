"""DNS checks that decide whether other servers accept our mail.

Per hosted domain: MX, SPF, DKIM (monitoring.dkim_dns, against the keys in
the database), DMARC, and MTA-STS / TLS-RPT as information. For the host:
each sending address's PTR must name the HELO name, and that name must
resolve back to the address (forward-confirmed reverse DNS), which large
providers require. A lookup that fails makes a finding "cannot
check", never a pass or a fail.
"""

from __future__ import annotations

import asyncio
import ipaddress

import dns.asyncresolver
import dns.reversename

from monitoring.answers import tags
from monitoring.config import MonitorConfig
from monitoring.dkim_dns import dkim_check
from monitoring.findings import Finding, Severity
from monitoring.resolver import Lookup, Status, lookup
from monitoring.spf import MAX_LOOKUPS, spf_check
from monitoring.targets import Targets


def _unknown(check: str, subject: str, result: Lookup) -> Finding:
    return Finding(
        check,
        subject,
        Severity.UNKNOWN,
        f"Cannot check: {result.describe_failure()}.",
        "Check that the resolver works (see the DNSBL zone results).",
    )


def _tagged(values: list[str], prefix: str) -> list[str]:
    return [v for v in values if v.lower().replace(" ", "").startswith(prefix)]


async def mx_check(
    resolver: dns.asyncresolver.Resolver,
    domain: str,
    *,
    helo: str,
    addresses: list[str],
) -> Finding:
    result = await lookup(resolver, domain, "MX")
    if result.status in (Status.NXDOMAIN, Status.NODATA):
        return Finding(
            "mx",
            domain,
            Severity.CRITICAL,
            f"{domain} has no MX record, so other servers do not know where to "
            "deliver its mail.",
            f"Publish “{domain}. MX 10 {helo}.”.",
        )
    if not result.status.answered:
        return _unknown("mx", domain, result)
    hosts = [v.split()[1].rstrip(".").lower() for v in result.values]
    if hosts == [""]:
        return Finding(
            "mx",
            domain,
            Severity.WARNING,
            f"{domain} publishes a null MX: it says it receives no mail at all.",
            f"Replace it with “MX 10 {helo}.” if this server should receive mail.",
        )
    if helo in hosts:
        return Finding("mx", domain, Severity.OK, f"MX points at {helo}.")
    resolved = await asyncio.gather(
        *(lookup(resolver, h, t) for h in hosts for t in ("A", "AAAA"))
    )
    mx_addresses = {v for r in resolved if r.status is Status.OK for v in r.values}
    if mx_addresses & set(addresses):
        return Finding("mx", domain, Severity.OK, f"MX {', '.join(hosts)} is us.")
    return Finding(
        "mx",
        domain,
        Severity.WARNING,
        f"The MX of {domain} ({', '.join(hosts)}) does not point at this server "
        f"({helo}), so its mail arrives elsewhere.",
        f"If this server should receive the mail, publish “MX 10 {helo}.” and "
        "remove the others; if another server receives it on purpose, ignore this.",
        {"mx": hosts},
    )


async def spf_domain_check(
    resolver: dns.asyncresolver.Resolver, domain: str, *, senders: list[str]
) -> Finding:
    report = await spf_check(resolver, domain, senders)
    suggestion = "v=spf1 " + " ".join(
        f"ip{ipaddress.ip_address(a).version}:{a}" for a in senders
    )
    suggestion = f"{suggestion} mx -all" if senders else "v=spf1 mx -all"
    details = {"records": report.records, "lookups": report.lookups}
    if report.error is not None and report.error.kind == "temperror":
        return Finding(
            "spf",
            domain,
            Severity.UNKNOWN,
            f"Cannot check SPF: {report.error}.",
            "Check that the resolver works.",
        )
    if not report.records:
        return Finding(
            "spf",
            domain,
            Severity.CRITICAL,
            f"{domain} has no SPF record: many servers reject or junk its mail.",
            f"Publish the TXT record “{suggestion}” on {domain}.",
            details,
        )
    if len(report.records) > 1:
        return Finding(
            "spf",
            domain,
            Severity.CRITICAL,
            f"{domain} has {len(report.records)} SPF records; receivers treat that "
            "as an error and ignore all of them.",
            "Merge them into one TXT record starting with v=spf1.",
            details,
        )
    if report.error is not None:
        severity = (
            Severity.UNKNOWN if report.error.kind == "macro" else Severity.CRITICAL
        )
        return Finding(
            "spf",
            domain,
            severity,
            f"The SPF record of {domain} cannot be evaluated: {report.error}.",
            "Fix the record (or the records it includes) so that it parses.",
            details,
        )
    if report.lookups is not None and report.lookups > MAX_LOOKUPS:
        return Finding(
            "spf",
            domain,
            Severity.CRITICAL,
            f"The SPF record of {domain} needs {report.lookups} DNS lookups, more "
            f"than the {MAX_LOOKUPS} allowed: receivers treat it as an error.",
            "Replace include:, a and mx terms with ip4:/ip6: ranges, or drop "
            "services that no longer send for you.",
            details,
        )
    uncovered = [ip for ip, r in report.results.items() if r != "pass"]
    if uncovered:
        return Finding(
            "spf",
            domain,
            Severity.CRITICAL,
            f"The SPF record of {domain} does not allow {', '.join(uncovered)}, "
            "where its mail leaves from: receivers will reject or junk it.",
            "Add "
            + " ".join(f"ip{ipaddress.ip_address(a).version}:{a}" for a in uncovered)
            + " (or include: the relay's SPF) before the final all.",
            details | {"results": report.results},
        )
    if not senders:
        return Finding(
            "spf", domain, Severity.INFO, f"{domain} has an SPF record.", "", details
        )
    return Finding(
        "spf",
        domain,
        Severity.OK,
        f"SPF allows {', '.join(senders)} ({report.lookups} lookups).",
        details=details,
    )


async def dmarc_check(resolver: dns.asyncresolver.Resolver, domain: str) -> Finding:
    name = f"_dmarc.{domain}"
    result = await lookup(resolver, name, "TXT")
    if not result.status.answered:
        return _unknown("dmarc", domain, result)
    records = _tagged(result.values, "v=dmarc1")
    fix = (
        f"Publish TXT “v=DMARC1; p=none; rua=mailto:postmaster@{domain}” at {name}, "
        "then move to p=quarantine once the reports look clean."
    )
    if not records:
        return Finding(
            "dmarc",
            domain,
            Severity.WARNING,
            f"{domain} has no DMARC record: Gmail and Yahoo require one from bulk "
            "senders, and without it anyone can spoof the domain unnoticed.",
            fix,
        )
    if len(records) > 1:
        return Finding(
            "dmarc",
            domain,
            Severity.CRITICAL,
            f"{domain} has {len(records)} DMARC records; receivers ignore them all.",
            "Keep exactly one.",
        )
    policy = tags(records[0]).get("p", "")
    if policy not in ("none", "quarantine", "reject"):
        return Finding(
            "dmarc",
            domain,
            Severity.WARNING,
            f"The DMARC record of {domain} has no valid policy (p=).",
            fix,
        )
    return Finding("dmarc", domain, Severity.OK, f"DMARC policy is p={policy}.")


async def _info_record(
    resolver: dns.asyncresolver.Resolver,
    domain: str,
    *,
    check: str,
    name: str,
    prefix: str,
    what: str,
    purpose: str,
) -> Finding:
    result = await lookup(resolver, name, "TXT")
    if not result.status.answered:
        return _unknown(check, domain, result)
    if _tagged(result.values, prefix):
        return Finding(check, domain, Severity.OK, f"{domain} publishes {what}.")
    return Finding(
        check,
        domain,
        Severity.INFO,
        f"{domain} does not publish {what} (optional).",
        f"Optional: publish {name} to {purpose}.",
    )


async def ptr_check(
    resolver: dns.asyncresolver.Resolver, address: str, *, helo: str
) -> Finding:
    """PTR of the sending address == HELO name, and the name resolves back."""
    result = await lookup(resolver, dns.reversename.from_address(address), "PTR")
    if result.status in (Status.NXDOMAIN, Status.NODATA):
        return Finding(
            "ptr",
            address,
            Severity.CRITICAL,
            f"{address} has no PTR (reverse DNS) record: many servers refuse mail "
            "from it.",
            f"Ask whoever owns the address (your hosting provider) to set its PTR "
            f"to {helo}.",
        )
    if not result.status.answered:
        return _unknown("ptr", address, result)
    names = [v.rstrip(".").lower() for v in result.values]
    if helo not in names:
        return Finding(
            "ptr",
            address,
            Severity.CRITICAL,
            f"The PTR of {address} is {', '.join(names)}, but the server introduces "
            f"itself as {helo}: receivers see a mismatch.",
            f"Set the PTR to {helo}, or set MAILPANEL_HELO_NAME (and Postfix's "
            f"myhostname) to {names[0]}.",
        )
    rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    forward = await lookup(resolver, helo, rdtype)
    if not forward.status.answered:
        return _unknown("ptr", address, forward)
    if address not in {str(ipaddress.ip_address(v)) for v in forward.values}:
        return Finding(
            "ptr",
            address,
            Severity.CRITICAL,
            f"The PTR of {address} is {helo}, but {helo} does not resolve back to "
            f"{address}: reverse DNS is not forward-confirmed.",
            f"Add the record “{helo}. {rdtype} {address}”.",
        )
    return Finding(
        "ptr", address, Severity.OK, f"{address} ↔ {helo} (forward-confirmed)."
    )


async def domain_checks(
    resolver: dns.asyncresolver.Resolver,
    domain: str,
    *,
    config: MonitorConfig,
    targets: Targets,
) -> list[Finding]:
    senders = targets.relay_addresses or targets.addresses
    mx, spf, dkim, *others = await asyncio.gather(
        mx_check(resolver, domain, helo=config.helo, addresses=targets.addresses),
        spf_domain_check(resolver, domain, senders=senders),
        # One finding per published key (or one saying there is none).
        dkim_check(resolver, domain, keys=config.dkim_keys.get(domain, ())),
        dmarc_check(resolver, domain),
        _info_record(
            resolver,
            domain,
            check="mta-sts",
            name=f"_mta-sts.{domain}",
            prefix="v=stsv1",
            what="an MTA-STS policy",
            purpose="make senders insist on TLS",
        ),
        _info_record(
            resolver,
            domain,
            check="tls-rpt",
            name=f"_smtp._tls.{domain}",
            prefix="v=tlsrptv1",
            what="a TLS-RPT address",
            purpose="receive reports of TLS failures",
        ),
    )
    return [mx, spf, *dkim, *others]


async def deliverability_check(
    *,
    resolver: dns.asyncresolver.Resolver,
    config: MonitorConfig,
    targets: Targets,
) -> list[Finding]:
    """Every per-domain and host check, concurrently."""
    jobs = [
        domain_checks(resolver, d, config=config, targets=targets)
        for d in config.domains
    ]
    host = [ptr_check(resolver, a, helo=config.helo) for a in targets.addresses]
    per_domain = await asyncio.gather(*jobs)
    findings = [f for group in per_domain for f in group]
    findings.extend(await asyncio.gather(*host))
    return findings
