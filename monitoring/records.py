"""The DNS records a hosted domain should publish, beside what DNS answers now.

``domain_dns_records()`` lists, for one domain: MX, SPF (the outbound
addresses and the include: of each relay its mail goes through), each
published DKIM key (pending, active, retiring), DMARC, MTA-STS and TLS-RPT,
the client configuration names (RFC 6186/8314 SRV, autoconfig, autodiscover)
and the PTR of each outbound address, which the address's owner sets. Each
record carries what the monitoring resolver answers for it now: matches,
missing, differs (and how) or cannot check. ``monitoring.zone`` writes them as
a BIND zone snippet. The admin page and ``manage.py dnsrecords`` show both.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.reversename

from dkim.models import DkimKey
from domains.models import Domain
from monitoring.answers import Answer, Comparison
from monitoring.config import MonitorConfig
from monitoring.dkim_dns import PublishedKey
from monitoring.record_compare import (
    Compare,
    compare_dkim,
    compare_dmarc,
    compare_mx,
    compare_spf,
    compare_tagged,
    compare_target,
)
from monitoring.resolver import lookup, make_resolver
from monitoring.targets import targets_resolve
from relays.models import DomainRelay, RelayHost, SenderRelay

TTL = 3600
# MTA-STS: senders cache the policy this long (a week); "testing" first, so a
# mistake only brings reports (TLS-RPT), never refused mail.
MTA_STS_MAX_AGE = 604800


@dataclass
class DnsRecord:
    """One record to publish, and what DNS answers for it now."""

    name: str  # the owner name, absolute, without the final dot
    type: str  # MX, TXT, CNAME, SRV, PTR
    value: str  # as in a zone file; a TXT record's text unquoted and whole
    purpose: str
    optional: bool = False  # worth having; the zone snippet leaves it commented
    in_zone: bool = True  # False: a PTR, set by the address's owner
    comparison: Comparison | None = None  # None until DNS was asked
    current: list[str] = field(default_factory=list)  # what DNS answers now

    @property
    def answer(self) -> str:
        return self.comparison.answer if self.comparison else ""

    @property
    def answer_label(self) -> str:
        return Answer(self.comparison.answer).label if self.comparison else "–"

    @property
    def how(self) -> str:
        return self.comparison.how if self.comparison else ""


@dataclass
class _Planned:
    record: DnsRecord
    compare: Compare
    rdtype: str = ""  # what to ask; the record's type by default


# --- what to publish -----------------------------------------------------------


def relay_spf_includes(domain: Domain) -> list[str]:
    """The SPF includes of the relays that carry some of ``domain``'s mail.

    The default relay (all mail without a route of its own), the domain's
    relay, and the relays of its senders' routes.
    """
    relays = list(RelayHost.objects.filter(is_default=True))
    route = DomainRelay.objects.filter(domain=domain).select_related("relay").first()
    if route is not None:
        relays.append(route.relay)
    senders = SenderRelay.objects.filter(address__endswith=f"@{domain.name}")
    relays += [s.relay for s in senders.select_related("relay")]
    return list(dict.fromkeys(r.spf_include for r in relays if r.spf_include))


def relays_without_include(domain: Domain) -> list[str]:
    """Names of the relays carrying ``domain``'s mail whose include is unknown."""
    names = []
    for relay in RelayHost.objects.filter(is_default=True, spf_include=""):
        names.append(relay.name)
    route = DomainRelay.objects.filter(domain=domain, relay__spf_include="").first()
    if route is not None:
        names.append(route.relay.name)
    return list(dict.fromkeys(names))


def spf_value(*, addresses: list[str], includes: list[str]) -> str:
    terms = [f"ip{ipaddress.ip_address(a).version}:{a}" for a in addresses]
    terms += [f"include:{name}" for name in includes]
    # With no address known, "mx" at least covers an MX that sends its own mail.
    return " ".join(["v=spf1", *(terms or ["mx"]), "-all"])


def mta_sts_policy(*, helo: str) -> str:
    return f"version: STSv1\nmode: testing\nmx: {helo}\nmax_age: {MTA_STS_MAX_AGE}\n"


def mta_sts_id(policy: str) -> str:
    # Changes exactly when the policy does, so the snippet is stable (RFC 8461:
    # 1 to 32 letters and digits).
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


# --- the list ------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    """What the records are built from, read from the database beforehand
    (the event loop must not touch it)."""

    name: str
    helo: str
    keys: tuple[PublishedKey, ...]
    includes: list[str]
    unknown: list[str]


def _plan(
    facts: _Facts, *, addresses: list[str], resolver: dns.asyncresolver.Resolver
) -> list[_Planned]:
    name, helo, keys = facts.name, facts.helo, facts.keys
    includes, unknown = facts.includes, facts.unknown
    signed = any(k.state == DkimKey.State.ACTIVE for k in keys)
    report_to = f"mailto:postmaster@{name}"
    spf_purpose = (
        "Which servers may send mail from this domain: the outbound addresses"
        + (f" and the relays' {', '.join(includes)}" if includes else "")
        + ". Receivers reject or junk mail from anywhere else."
    )
    if unknown:
        spf_purpose += (
            f" Add the include: that {', '.join(unknown)} documents (and enter it "
            "as the relay's SPF include)."
        )
    plan = [
        _Planned(
            DnsRecord(
                name,
                "MX",
                f"10 {helo}.",
                f"Where other servers deliver mail for {name}: this server.",
            ),  # fmt: skip
            compare_mx,
        ),
        _Planned(
            DnsRecord(
                name,
                "TXT",
                spf_value(addresses=addresses, includes=includes),
                spf_purpose,
            ),  # fmt: skip
            compare_spf(resolver, addresses),
        ),
    ]
    for key in keys:
        state = DkimKey.State(key.state).label
        plan.append(
            _Planned(
                DnsRecord(
                    key.name(name),
                    "TXT",
                    key.record,
                    f"DKIM public key ({DkimKey.Algorithm(key.algorithm).label}), "
                    f"{state}: receivers verify the signatures with it.",
                ),
                compare_dkim,
            )
        )
    policy = "quarantine" if signed else "none"
    dmarc_purpose = (
        "What receivers do with mail that fails both SPF and DKIM for this "
        f"domain, and where they send reports ({report_to[7:]})."
    )
    if not signed:
        dmarc_purpose += (
            " p=none until a DKIM key is active; then p=quarantine, once the "
            "reports show your mail passing."
        )
    policy_text = mta_sts_policy(helo=helo)
    plan += [
        _Planned(
            DnsRecord(
                f"_dmarc.{name}",
                "TXT",
                f"v=DMARC1; p={policy}; rua={report_to}",
                dmarc_purpose,
            ),
            compare_dmarc,
        ),
        _Planned(
            DnsRecord(
                f"_smtp._tls.{name}",
                "TXT",
                f"v=TLSRPTv1; rua={report_to}",
                "TLS-RPT: where senders report failed TLS connections to this server.",
            ),
            compare_tagged("tlsrptv1", "v=TLSRPTv1"),
        ),
        _Planned(
            DnsRecord(
                f"_mta-sts.{name}",
                "TXT",
                f"v=STSv1; id={mta_sts_id(policy_text)}",
                "MTA-STS: senders insist on verified TLS. Only with a web server "
                f"answering https://mta-sts.{name}/.well-known/mta-sts.txt with: "
                + policy_text.replace("\n", "; ").rstrip("; "),
                optional=True,
            ),
            compare_tagged("stsv1", "v=STSv1"),
        ),
        _Planned(
            DnsRecord(
                f"mta-sts.{name}",
                "CNAME",
                f"{helo}.",
                "The MTA-STS policy host (HTTPS, with a certificate for this name).",
                optional=True,
            ),
            compare_target,
        ),
    ]
    for service, port, purpose in (
        ("_submissions._tcp", 465, "Mail clients find the submission server (TLS)"),
        ("_submission._tcp", 587, "Mail clients find the submission server"),
        ("_imaps._tcp", 993, "Mail clients find the IMAP server (TLS)"),
    ):
        plan.append(
            _Planned(
                DnsRecord(
                    f"{service}.{name}",
                    "SRV",
                    f"0 1 {port} {helo}.",
                    f"{purpose} (RFC 6186, 8314).",
                ),
                compare_target,
            )
        )
    for host, client in (("autoconfig", "Thunderbird"), ("autodiscover", "Outlook")):
        plan.append(
            _Planned(
                DnsRecord(
                    f"{host}.{name}",
                    "CNAME",
                    f"{helo}.",
                    f"{client}'s automatic set-up asks this name over HTTPS; "
                    "only useful where a web server there answers it.",
                    optional=True,
                ),
                compare_target,
            )
        )
    for address in addresses:
        plan.append(
            _Planned(
                DnsRecord(
                    dns.reversename.from_address(address).to_text(omit_final_dot=True),
                    "PTR",
                    f"{helo}.",
                    f"Reverse DNS of {address}: ask its owner (your hosting "
                    "provider) to set it; receivers refuse mail from addresses "
                    "without it.",
                    in_zone=False,
                ),
                compare_target,
            )
        )
    return plan


async def _ask(planned: _Planned, resolver: dns.asyncresolver.Resolver) -> DnsRecord:
    record = planned.record
    result = await lookup(resolver, record.name, planned.rdtype or record.type)
    record.current = list(result.values)
    outcome = planned.compare(record, result)
    record.comparison = await outcome if asyncio.iscoroutine(outcome) else outcome
    return record


def domain_dns_records(
    domain: Domain, *, config: MonitorConfig | None = None, check: bool = True
) -> list[DnsRecord]:
    """The records ``domain`` should publish; with ``check``, DNS's answers."""
    config = config or MonitorConfig.from_settings()
    resolver = make_resolver(config.resolver, timeout=config.dns_timeout)
    facts = _Facts(
        name=domain.name,
        helo=config.helo,
        keys=config.dkim_keys.get(domain.name, ()),
        includes=relay_spf_includes(domain),
        unknown=relays_without_include(domain),
    )

    async def run() -> list[DnsRecord]:
        targets = await targets_resolve(resolver, config)
        plan = _plan(facts, addresses=targets.addresses, resolver=resolver)
        if not check:
            return [p.record for p in plan]
        return list(await asyncio.gather(*(_ask(p, resolver) for p in plan)))

    return asyncio.run(run())
