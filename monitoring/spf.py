"""SPF: does a domain's record exist once, stay within 10 lookups, cover us?

A small evaluator of RFC 7208 for the questions a mail server operator has:
the lookup count is the worst case over the whole include tree (what decides
whether some receivers see a permerror), and coverage is evaluated per sending
address the way a receiver would, mechanism by mechanism. Macros are not
expanded: a record that needs them is reported as "cannot tell".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.asyncresolver

from monitoring.resolver import Lookup, lookup

MAX_LOOKUPS = 10
MAX_DEPTH = 10
LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists", "redirect"}
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class SpfError(Exception):
    """The record cannot be evaluated (permerror, temperror or a macro)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class SpfRecord:
    domain: str
    text: str
    terms: list[str] = field(default_factory=list)


def spf_records(txt_values: list[str]) -> list[str]:
    """The TXT strings that are SPF records ("v=spf1" alone or followed by space)."""
    return [
        t
        for t in txt_values
        if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")
    ]


class SpfEvaluator:
    """Evaluates one domain's SPF, caching DNS answers across addresses."""

    def __init__(self, resolver: dns.asyncresolver.Resolver) -> None:
        self.resolver = resolver
        self._cache: dict[tuple[str, str], Lookup] = {}
        self._records: dict[str, SpfRecord] = {}

    async def _lookup(self, name: str, rdtype: str) -> Lookup:
        key = (name.lower(), rdtype)
        if key not in self._cache:
            self._cache[key] = await lookup(self.resolver, name, rdtype)
        result = self._cache[key]
        if not result.status.answered:
            raise SpfError("temperror", result.describe_failure())
        return result

    async def record(self, domain: str) -> SpfRecord:
        if domain in self._records:
            return self._records[domain]
        txt = await self._lookup(domain, "TXT")
        found = spf_records(txt.values)
        if not found:
            raise SpfError("none", f"{domain} has no SPF record")
        if len(found) > 1:
            raise SpfError("permerror", f"{domain} has {len(found)} SPF records")
        text = found[0]
        if "%" in text:
            raise SpfError("macro", f"the SPF record of {domain} uses macros")
        record = SpfRecord(domain, text, text.split()[1:])
        self._records[domain] = record
        return record

    async def count_lookups(self, domain: str, depth: int = 0) -> int:
        """DNS-querying terms in the whole tree: the worst case a receiver meets."""
        if depth > MAX_DEPTH:
            raise SpfError("permerror", "the includes loop or nest too deeply")
        record = await self.record(domain)
        count = 0
        for term in record.terms:
            name, target = _split(term)
            if name in LOOKUP_TERMS:
                count += 1
            if name in ("include", "redirect"):
                count += await self.count_lookups(target, depth + 1)
        return count

    async def check_host(self, ip: str, domain: str, depth: int = 0) -> str:
        """The SPF result for ``ip`` sending as ``domain``: pass, fail, softfail..."""
        if depth > MAX_DEPTH:
            raise SpfError("permerror", "the includes loop or nest too deeply")
        record = await self.record(domain)
        address = ipaddress.ip_address(ip)
        redirect = None
        for term in record.terms:
            qualifier = QUALIFIERS.get(term[0], "pass")
            bare = term[1:] if term[0] in QUALIFIERS else term
            name, target = _split(bare)
            if name == "redirect":
                redirect = target
                continue
            if "=" in bare:  # exp= and unknown modifiers
                continue
            if await self._matches(name, target, address, domain, depth):
                return qualifier
        if redirect:
            return await self.check_host(ip, redirect, depth + 1)
        return "neutral"

    async def _matches(
        self,
        name: str,
        target: str,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        domain: str,
        depth: int,
    ) -> bool:
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            try:
                return address in ipaddress.ip_network(target, strict=False)
            except ValueError:
                raise SpfError("permerror", f"bad network {target!r}") from None
        if name == "include":
            try:
                return await self.check_host(str(address), target, depth + 1) == "pass"
            except SpfError as exc:
                if exc.kind == "none":
                    raise SpfError("permerror", str(exc)) from None
                raise
        if name in ("a", "mx"):
            host, cidr4, cidr6 = _host_and_cidr(target, domain)
            hosts = [host]
            if name == "mx":
                mx = await self._lookup(host, "MX")
                hosts = [v.split()[1].rstrip(".") for v in mx.values]
            rdtype = "A" if address.version == 4 else "AAAA"
            prefix = cidr4 if address.version == 4 else cidr6
            for each in hosts:
                for value in (await self._lookup(each, rdtype)).values:
                    if address in ipaddress.ip_network(
                        f"{value}/{prefix}", strict=False
                    ):
                        return True
            return False
        # ptr (deprecated) and exists (needs macros to be useful) never match here.
        return False


def _split(term: str) -> tuple[str, str]:
    """ "include:x" -> ("include", "x"); "redirect=x" -> ("redirect", "x")."""
    for sep in (":", "="):
        if sep in term:
            name, _, value = term.partition(sep)
            return name.lower(), value
    name, _, value = term.partition("/")
    return name.lower(), ("/" + value if value else "")


def _host_and_cidr(target: str, domain: str) -> tuple[str, int, int]:
    cidr4, cidr6 = 32, 128
    host = target
    if "//" in host:
        host, _, v6 = host.partition("//")
        cidr6 = int(v6)
    if "/" in host:
        host, _, v4 = host.partition("/")
        cidr4 = int(v4)
    return host or domain, cidr4, cidr6


@dataclass
class SpfReport:
    records: list[str]
    lookups: int | None
    results: dict[str, str]
    error: SpfError | None = None


async def spf_check(
    resolver: dns.asyncresolver.Resolver, domain: str, addresses: list[str]
) -> SpfReport:
    """Evaluate ``domain``'s SPF for each sending address."""
    evaluator = SpfEvaluator(resolver)
    records: list[str] = []
    try:
        txt = await evaluator._lookup(domain, "TXT")
        records = spf_records(txt.values)
        if len(records) != 1:
            return SpfReport(records, None, {})
        lookups = await evaluator.count_lookups(domain)
        results = {ip: await evaluator.check_host(ip, domain) for ip in addresses}
    except SpfError as exc:
        return SpfReport(records, None, {}, exc)
    return SpfReport(records, lookups, results)
