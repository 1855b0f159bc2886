"""The DNS resolver every check asks, and one lookup with its outcome spelt out.

DNSBL operators (Spamhaus above all) refuse queries that arrive through public
resolvers and answer them with error codes, so the resolver is configured
explicitly (MAILPANEL_DNS_RESOLVER, normally a recursive resolver on the mail
host). Left empty, the system's /etc/resolv.conf is used, and a public resolver
there is reported rather than silently relied on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

# Well-known public resolvers: Spamhaus, URIBL and others refuse them.
PUBLIC_RESOLVERS = frozenset(
    {
        "8.8.8.8",
        "8.8.4.4",
        "2001:4860:4860::8888",
        "2001:4860:4860::8844",
        "1.1.1.1",
        "1.0.0.1",
        "2606:4700:4700::1111",
        "2606:4700:4700::1001",
        "9.9.9.9",
        "149.112.112.112",
        "2620:fe::fe",
        "2620:fe::9",
        "208.67.222.222",
        "208.67.220.220",
        "94.140.14.14",
        "94.140.15.15",
        "76.76.2.0",
        "76.76.10.0",
        "185.228.168.9",
        "64.6.64.6",
        "64.6.65.6",
    }
)

DEFAULT_TIMEOUT = 3.0


def parse_resolver(value: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address -> (ip, port).

    Only addresses: a resolver given by name would need another resolver first.
    """
    value = value.strip()
    port = 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"Cannot read the resolver address {value!r}.")
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = int(port_text)
    else:
        host = value
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(
            f"The resolver must be an IP address (with an optional port), "
            f"not {value!r}."
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"Port {port} is out of range.")
    return ip, port


def make_resolver(
    spec: str = "", *, timeout: float = DEFAULT_TIMEOUT
) -> dns.asyncresolver.Resolver:
    """A resolver for ``spec`` (``IP[:PORT]``), or the system's when empty.

    No cache: every run must see the zones as they are now.
    """
    if spec:
        ip, port = parse_resolver(spec)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [ip]
        resolver.port = port
    else:
        resolver = dns.asyncresolver.Resolver()
    # One try per server within the lifetime; a DNSBL that does not answer in a
    # few seconds is as good as down for this run.
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


def resolver_addresses(resolver: dns.resolver.BaseResolver) -> list[str]:
    """The nameserver addresses (with port when not 53) a resolver asks."""
    result = []
    for nameserver in resolver.nameservers:
        text = str(nameserver)
        port = getattr(resolver, "port", 53)
        result.append(text if port == 53 else f"{text} port {port}")
    return result


def public_resolvers(resolver: dns.resolver.BaseResolver) -> list[str]:
    """Those of the resolver's nameservers that are well-known public ones."""
    return [str(ns) for ns in resolver.nameservers if str(ns) in PUBLIC_RESOLVERS]


class Status(StrEnum):
    """How a lookup ended; DNSBL answers mean different things for each."""

    OK = "ok"  # NOERROR with records of the asked type
    NODATA = "nodata"  # the name exists, no records of this type
    NXDOMAIN = "nxdomain"
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    ERROR = "error"  # anything else (FORMERR, bad packets, ...)

    @property
    def answered(self) -> bool:
        """Whether the resolver gave a real answer (records, NODATA, NXDOMAIN)."""
        return self in (Status.OK, Status.NODATA, Status.NXDOMAIN)


@dataclass
class Lookup:
    """The result of one lookup: records as text, or why there are none."""

    name: str
    rdtype: str
    status: Status
    values: list[str] = field(default_factory=list)
    detail: str = ""

    def describe_failure(self) -> str:
        """A short sentence about a lookup that did not get a real answer."""
        if self.status is Status.TIMEOUT:
            return f"the resolver did not answer {self.name} {self.rdtype} in time"
        if self.status is Status.SERVFAIL:
            return (
                f"the resolver answered SERVFAIL for {self.name} {self.rdtype} "
                "(it could not reach the zone's servers, or DNSSEC failed)"
            )
        if self.status is Status.REFUSED:
            return f"the resolver refused the query for {self.name} {self.rdtype}"
        return f"the lookup of {self.name} {self.rdtype} failed: {self.detail}"


def _rcode_status(text: str) -> Status:
    if text == "SERVFAIL":
        return Status.SERVFAIL
    if text == "REFUSED":
        return Status.REFUSED
    return Status.ERROR


async def lookup(
    resolver: dns.asyncresolver.Resolver,
    name: str | dns.name.Name,
    rdtype: str,
    *,
    semaphore: asyncio.Semaphore | None = None,
) -> Lookup:
    """Resolve ``name``/``rdtype`` and classify the outcome; never raises DNS errors.

    TXT strings are joined the way SPF and DKIM need them (chunks concatenated).
    """
    qname = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
    text = qname.to_text(omit_final_dot=True)
    guard = semaphore if semaphore is not None else contextlib.nullcontext()
    try:
        async with guard:
            answer = await resolver.resolve(qname, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return Lookup(text, rdtype, Status.NXDOMAIN)
    except dns.resolver.NoAnswer:
        return Lookup(text, rdtype, Status.NODATA)
    except dns.resolver.NoNameservers as exc:
        errors = exc.kwargs.get("errors") or []
        status = Status.ERROR
        detail = str(exc)
        if errors:
            status = _rcode_status(str(errors[-1][3]))
            detail = str(errors[-1][3])
        return Lookup(text, rdtype, status, detail=detail)
    except dns.exception.Timeout as exc:
        return Lookup(text, rdtype, Status.TIMEOUT, detail=str(exc))
    except dns.exception.DNSException as exc:
        return Lookup(text, rdtype, Status.ERROR, detail=str(exc))
    values = []
    for rdata in answer:
        if rdata.rdtype == dns.rdatatype.TXT:
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        else:
            values.append(rdata.to_text())
    return Lookup(text, rdtype, Status.OK, values=values)
