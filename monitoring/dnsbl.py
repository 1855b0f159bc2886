"""DNSBL lookups: the asynchronous core, free of the database.

A zone is only trusted for a run after its RFC 5782 self-test: the test entry
must be listed and the "never listed" entry must not. Without that, a resolver
that answers NXDOMAIN to everything (some public and filtering resolvers do)
would make every address look clean. Answers are classified strictly: an
address outside 127.0.0.0/8 is a rewritten answer, an error code is a resolver
problem, and SERVFAIL, REFUSED and timeouts mean "cannot check", never "clean".
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import dns.asyncresolver
import dns.name
import dns.reversename

from monitoring.findings import ADVICE_OWN_RESOLVER
from monitoring.resolver import Lookup, Status, lookup

IP = "ip"
DOMAIN = "domain"
DEFAULT_CONCURRENCY = 20
_URL = re.compile(r"https?://[^\s\"'<>]+")

FAILURE_ADVICE = {
    Status.TIMEOUT: (
        "Check that the resolver is running and reachable from this host. If only "
        "this zone times out, the zone may be down or may ignore your resolver "
        "(Barracuda answers registered resolvers only)."
    ),
    Status.SERVFAIL: (
        "The resolver could not get an answer from the zone's servers: check its "
        "outbound DNS (UDP and TCP port 53) and DNSSEC; if only this zone fails, "
        "it may be down."
    ),
    Status.REFUSED: (
        "The resolver refuses this host: allow it in the resolver's access "
        "control, or point MAILPANEL_DNS_RESOLVER at your own recursive resolver."
    ),
    Status.ERROR: ADVICE_OWN_RESOLVER,
}


@dataclass(frozen=True)
class Zone:
    """A DNSBL zone as the core needs it (``DnsblZone.as_zone()`` builds one).

    ``return_codes`` maps an answer ("127.0.0.2") or, for bitmask lists, a bit
    value ("4") to ``{"label", "meaning", "advice", "severity"}``;
    ``error_codes`` maps answers that mean the query itself was refused.
    """

    name: str
    kind: str = IP
    weight: int = 5
    return_codes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    error_codes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    bitmask: bool = False
    ipv6: bool = True
    test_listed: str = "127.0.0.2"
    test_unlisted: str = "127.0.0.1"
    lookup_url: str = ""


class Verdict(StrEnum):
    CLEAN = "clean"
    LISTED = "listed"
    # The zone answered with an error code: the query was refused (public
    # resolver, volume exceeded, typo in the zone name).
    ERROR = "error"
    # No usable answer: timeout, SERVFAIL, REFUSED, a rewritten answer.
    FAILED = "failed"


@dataclass
class ZoneAnswer:
    """What one zone said about one address or domain."""

    zone: Zone
    subject: str
    verdict: Verdict
    codes: list[str] = field(default_factory=list)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    txt: list[str] = field(default_factory=list)
    removal_url: str = ""
    detail: str = ""
    advice: str = ""


@dataclass
class ZoneHealth:
    """The outcome of a zone's self-test: whether its answers can be believed."""

    zone: Zone
    ok: bool
    detail: str = ""
    advice: str = ""


@dataclass
class DnsblReport:
    zones: list[ZoneHealth]
    answers: list[ZoneAnswer]
    queries: int
    elapsed: float

    def health(self, zone_name: str) -> ZoneHealth | None:
        return next((h for h in self.zones if h.zone.name == zone_name), None)


def subject_kind(subject: str) -> str:
    """IP for an IPv4/IPv6 address, DOMAIN for anything else."""
    try:
        ipaddress.ip_address(subject)
    except ValueError:
        return DOMAIN
    return IP


def build_query_name(subject: str, zone: str) -> dns.name.Name:
    """The name to look up: reversed octets or nibbles for IPs, the domain as is."""
    origin = dns.name.from_text(zone)
    if subject_kind(subject) == IP:
        return dns.reversename.from_address(subject, v4_origin=origin, v6_origin=origin)
    return dns.name.from_text(subject.rstrip("."), origin=None).concatenate(origin)


def _unlisted_code(zone: Zone, code: str) -> bool:
    """Whether ``code`` decodes to no meaning in a bitmask zone."""
    if not zone.bitmask:
        return False
    last = int(code.rsplit(".", 1)[1])
    return not any(last & int(bit) for bit in zone.return_codes)


def classify(zone: Zone, result: Lookup) -> ZoneAnswer:
    """Turn one A lookup into a verdict with the meaning of each code."""
    answer = ZoneAnswer(zone=zone, subject="", verdict=Verdict.CLEAN)
    if result.status in (Status.NXDOMAIN, Status.NODATA):
        return answer
    if result.status is not Status.OK:
        answer.verdict = Verdict.FAILED
        answer.detail = result.describe_failure()
        answer.advice = FAILURE_ADVICE.get(result.status, FAILURE_ADVICE[Status.ERROR])
        return answer
    answer.codes = sorted(result.values, key=ipaddress.ip_address)
    bogus = [
        code
        for code in answer.codes
        if ipaddress.ip_address(code) not in ipaddress.ip_network("127.0.0.0/8")
    ]
    if bogus:
        answer.verdict = Verdict.FAILED
        answer.detail = (
            f"the resolver answered {', '.join(bogus)}, which no DNSBL returns: it "
            "rewrites answers (NXDOMAIN redirection, filtering)"
        )
        answer.advice = ADVICE_OWN_RESOLVER
        return answer
    errors = [
        zone.error_codes[c] | {"code": c} for c in answer.codes if c in zone.error_codes
    ]
    if errors:
        answer.verdict = Verdict.ERROR
        answer.detail = (
            "it answered "
            + "; ".join(
                f"{e['code']} ({e.get('meaning', 'an error code')})" for e in errors
            )
            + ", a resolver problem, not a listing"
        )
        answer.advice = " ".join(dict.fromkeys(e.get("advice", "") for e in errors))
        return answer
    unreadable = [c for c in answer.codes if _unlisted_code(zone, c)]
    if unreadable:
        answer.verdict = Verdict.FAILED
        answer.detail = (
            f"the zone answered {', '.join(unreadable)}, which carries none of its "
            "listing bits; the query was probably refused"
        )
        answer.advice = ADVICE_OWN_RESOLVER
        return answer
    answer.verdict = Verdict.LISTED
    for code in answer.codes:
        if zone.bitmask:
            last = int(code.rsplit(".", 1)[1])
            for bit, meaning in sorted(
                zone.return_codes.items(), key=lambda i: int(i[0])
            ):
                if last & int(bit):
                    answer.reasons.append(dict(meaning) | {"code": code, "bit": bit})
        elif code in zone.return_codes:
            answer.reasons.append(dict(zone.return_codes[code]) | {"code": code})
        else:
            answer.reasons.append({"code": code, "label": "listed", "meaning": ""})
    return answer


class _Runner:
    """One run's shared state: the resolver, the bound and the query count."""

    def __init__(
        self, resolver: dns.asyncresolver.Resolver, concurrency: int, fetch_txt: bool
    ) -> None:
        self.resolver = resolver
        self.semaphore = asyncio.Semaphore(concurrency)
        self.fetch_txt = fetch_txt
        self.queries = 0

    async def lookup(self, name: dns.name.Name, rdtype: str) -> Lookup:
        self.queries += 1
        return await lookup(self.resolver, name, rdtype, semaphore=self.semaphore)

    async def ask(self, zone: Zone, subject: str, probe: bool = False) -> ZoneAnswer:
        qname = build_query_name(subject, zone.name)
        answer = classify(zone, await self.lookup(qname, "A"))
        answer.subject = subject
        if probe:
            return answer
        if answer.verdict is Verdict.LISTED and self.fetch_txt:
            txt = await self.lookup(qname, "TXT")
            answer.txt = txt.values if txt.status is Status.OK else []
            urls = [m.group(0) for t in answer.txt for m in _URL.finditer(t)]
            answer.removal_url = urls[0] if urls else ""
        if answer.verdict is Verdict.LISTED and not answer.removal_url:
            answer.removal_url = zone.lookup_url.format(subject=subject)
        return answer

    async def self_test(self, zone: Zone) -> ZoneHealth:
        listed, unlisted = await asyncio.gather(
            self.ask(zone, zone.test_listed, probe=True),
            self.ask(zone, zone.test_unlisted, probe=True),
        )
        for probe in (listed, unlisted):
            if probe.verdict in (Verdict.ERROR, Verdict.FAILED):
                return ZoneHealth(zone, False, probe.detail, probe.advice)
        if listed.verdict is Verdict.CLEAN:
            return ZoneHealth(
                zone,
                False,
                f"the test entry {zone.test_listed} is not listed: the resolver "
                "answers NXDOMAIN for everything, or the zone has stopped working",
                "Use your own recursive resolver (public and filtering resolvers "
                "often hide DNSBL answers); if it is your own, check that the zone "
                "still exists and remove it if it does not.",
            )
        if unlisted.verdict is Verdict.LISTED:
            return ZoneHealth(
                zone,
                False,
                f"{zone.test_unlisted}, which must never be listed, is listed: the "
                "zone lists everything (it has shut down or is wildcarded)",
                "Deactivate this zone: its answers mean nothing.",
            )
        return ZoneHealth(zone, True)


def zone_applies(zone: Zone, subject: str) -> bool:
    """Whether ``zone`` lists things like ``subject`` (IPv4, IPv6 or domain)."""
    kind = subject_kind(subject)
    if kind != zone.kind:
        return False
    return zone.ipv6 or kind != IP or ipaddress.ip_address(subject).version == 4


async def dnsbl_check(
    *,
    resolver: dns.asyncresolver.Resolver,
    zones: Sequence[Zone],
    subjects: Iterable[str],
    concurrency: int = DEFAULT_CONCURRENCY,
    fetch_txt: bool = True,
) -> DnsblReport:
    """Self-test every zone, then ask each working zone about each subject once.

    ``subjects`` mixes addresses and domains; each zone only gets those of its
    kind, and duplicates (an address shared by many domains) are asked once.
    At most ``concurrency`` queries are in flight, to stay polite to the
    resolver and the DNSBL servers.
    """
    started = time.monotonic()
    runner = _Runner(resolver, concurrency, fetch_txt)
    unique = list(dict.fromkeys(normalize_subject(s) for s in subjects))
    health = await asyncio.gather(*(runner.self_test(zone) for zone in zones))
    working = [h.zone for h in health if h.ok]
    pairs = [(z, s) for z in working for s in unique if zone_applies(z, s)]
    answers = await asyncio.gather(*(runner.ask(z, s) for z, s in pairs))
    return DnsblReport(
        zones=list(health),
        answers=list(answers),
        queries=runner.queries,
        elapsed=time.monotonic() - started,
    )


def normalize_subject(subject: str) -> str:
    """Canonical text for an address (compressed IPv6) or a domain (lowercase)."""
    try:
        return str(ipaddress.ip_address(subject.strip()))
    except ValueError:
        return subject.strip().rstrip(".").lower()
