"""Which addresses and names the list checks ask about, and in what role.

The outbound addresses come from the settings or, failing that, from the HELO
name's A/AAAA records (normally the same machine); the relay host's addresses
are looked up because it is the relay's reputation that counts when one is
used.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field

import dns.asyncresolver

from monitoring.config import MonitorConfig
from monitoring.findings import Finding, Severity
from monitoring.resolver import Status, lookup

OUTBOUND = "outbound address"
HELO = "HELO name"
DOMAIN = "hosted domain"
RELAY = "relay host address"


@dataclass
class Targets:
    addresses: list[str] = field(default_factory=list)
    relay_addresses: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        return list(self.roles)


async def _addresses_of(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    results = await asyncio.gather(
        lookup(resolver, name, "A"), lookup(resolver, name, "AAAA")
    )
    return [v for r in results if r.status is Status.OK for v in r.values]


async def targets_resolve(
    resolver: dns.asyncresolver.Resolver, config: MonitorConfig
) -> Targets:
    """Gather every subject with its role; say when an address had to be guessed."""
    targets = Targets()
    configured = [a for a in (config.ipv4, config.ipv6) if a]
    addresses = [str(ipaddress.ip_address(a)) for a in configured]
    if addresses:
        targets.findings.append(
            Finding(
                "targets",
                "outbound addresses",
                Severity.OK,
                f"Mail leaves from {', '.join(addresses)} (settings).",
            )
        )
    elif config.helo:
        addresses = await _addresses_of(resolver, config.helo)
        if addresses:
            targets.findings.append(
                Finding(
                    "targets",
                    "outbound addresses",
                    Severity.INFO,
                    f"The outbound addresses were taken from the DNS records of "
                    f"{config.helo}: {', '.join(addresses)}.",
                    "Set MAILPANEL_OUTBOUND_IPV4 and MAILPANEL_OUTBOUND_IPV6 if mail "
                    "leaves from other addresses.",
                )
            )
    if not addresses:
        targets.findings.append(
            Finding(
                "targets",
                "outbound addresses",
                Severity.UNKNOWN,
                "It is not known which address mail leaves from, so it cannot be "
                "checked against the blocklists.",
                "Set MAILPANEL_OUTBOUND_IPV4 (and MAILPANEL_OUTBOUND_IPV6), or give "
                f"the HELO name {config.helo or '(none)'} A/AAAA records.",
            )
        )
    targets.addresses = addresses
    for address in addresses:
        targets.roles[address] = OUTBOUND
    if config.helo:
        targets.roles.setdefault(config.helo, HELO)
    for domain in config.domains:
        targets.roles.setdefault(domain, DOMAIN)
    relay = config.relay_hostname
    if relay:
        try:
            targets.relay_addresses = [str(ipaddress.ip_address(relay))]
        except ValueError:
            targets.relay_addresses = await _addresses_of(resolver, relay)
        if not targets.relay_addresses:
            targets.findings.append(
                Finding(
                    "targets",
                    "relay host",
                    Severity.UNKNOWN,
                    f"The relay host {relay} has no address in DNS, so it cannot "
                    "be checked (and Postfix cannot reach it either).",
                    "Check the relay host name in the mail server settings.",
                )
            )
        for address in targets.relay_addresses:
            targets.roles.setdefault(address, RELAY)
    return targets
