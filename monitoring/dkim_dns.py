"""DKIM records in DNS against the keys in the database (dkim).

``dkim_compare`` says whether a selector's TXT answer carries the exact key:
missing, another key, a key cut short (a record pasted into a 255-character
field, the commonest mistake) or the wrong algorithm. The daily check makes
a finding of it for each published key, with the exact record to publish;
``dkim_keys_served`` answers dkim's question whether a pending key may be
activated (registered in MonitoringConfig.ready()).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
from django.conf import settings

from dkim.models import DkimKey
from dkim.publication import Publication
from dkim.services import published_keys
from monitoring.answers import Answer, Comparison, tags
from monitoring.findings import Finding, Severity
from monitoring.resolver import Lookup, Status, lookup, make_resolver

CHECK = "dkim"


@dataclass(frozen=True)
class PublishedKey:
    """A key whose record belongs in DNS, as the checks need it (no database)."""

    selector: str
    algorithm: str
    state: str
    record: str  # the TXT text to publish

    def name(self, domain: str) -> str:
        return f"{self.selector}._domainkey.{domain}"


def published_keys_by_domain() -> dict[str, tuple[PublishedKey, ...]]:
    """Pending, active and retiring keys, by domain name."""
    result: dict[str, list[PublishedKey]] = {}
    for key in published_keys():
        result.setdefault(key.domain.name, []).append(
            PublishedKey(key.selector, key.algorithm, key.state, key.dns_record)
        )
    return {domain: tuple(rows) for domain, rows in result.items()}


def dkim_compare(expected: str, result: Lookup) -> Comparison:
    """The TXT answer at a selector's name against the record ``expected``."""
    if result.status in (Status.NXDOMAIN, Status.NODATA):
        return Comparison(Answer.MISSING, "no TXT record at this name")
    if not result.status.answered:
        return Comparison(Answer.UNKNOWN, result.describe_failure())
    want = tags(expected)
    records = [tags(v) for v in result.values if "p" in tags(v)]
    if not records:
        return Comparison(Answer.MISSING, "TXT records, but none with a key (p=)")
    for got in records:
        if got.get("p") == want["p"]:
            if got.get("k", "rsa") != want["k"]:
                return Comparison(
                    Answer.DIFFERS,
                    f"the key is right but k={got.get('k', 'rsa (by default)')} "
                    f"should be k={want['k']}",
                )
            return Comparison(Answer.MATCHES)
    if len(records) > 1:
        return Comparison(
            Answer.DIFFERS,
            f"{len(records)} keys published here, none of them this one",
        )
    published = records[0].get("p", "")
    if not published:
        return Comparison(Answer.DIFFERS, "the key is revoked (empty p=)")
    if want["p"].startswith(published):
        return Comparison(
            Answer.DIFFERS,
            f"truncated: {len(published)} of the key's {len(want['p'])} characters "
            "are published (split long TXT values into strings of at most 255)",
        )
    return Comparison(Answer.DIFFERS, "another key is published at this name")


# What a record that is not (yet) right means, by the key's state.
_SEVERITY = {
    DkimKey.State.ACTIVE: Severity.CRITICAL,  # signatures fail now
    DkimKey.State.PENDING: Severity.WARNING,  # cannot be activated
    DkimKey.State.RETIRING: Severity.INFO,  # mail already sent may fail
}
_MEANING = {
    DkimKey.State.ACTIVE: "the server signs with this key, so receivers fail the "
    "signatures",
    DkimKey.State.PENDING: "this new key cannot start signing until it is",
    DkimKey.State.RETIRING: "mail signed with this key before it was replaced may "
    "fail to verify",
}


async def dkim_check(
    resolver: dns.asyncresolver.Resolver,
    domain: str,
    *,
    keys: Sequence[PublishedKey],
) -> list[Finding]:
    """One finding per published key; one for the domain when it has none."""
    if not keys:
        return [
            Finding(
                CHECK,
                domain,
                Severity.INFO,
                f"{domain} has no DKIM key; Gmail and Yahoo expect signed mail.",
                f"Generate its keys: DKIM keys → Generate, or `manage.py dkim "
                f"generate {domain}`, then publish the records they show.",
            )
        ]
    results = await asyncio.gather(
        *(lookup(resolver, key.name(domain), "TXT") for key in keys)
    )
    return [
        _finding(domain, key, dkim_compare(key.record, result))
        for key, result in zip(keys, results, strict=True)
    ]


def _finding(domain: str, key: PublishedKey, comparison: Comparison) -> Finding:
    name = key.name(domain)
    details = {"selector": key.selector, "algorithm": key.algorithm, "state": key.state}
    if comparison.answer == Answer.MATCHES:
        return Finding(
            CHECK, name, Severity.OK, f"{name} serves the {key.state} key.", "", details
        )
    if comparison.answer == Answer.UNKNOWN:
        return Finding(
            CHECK,
            name,
            Severity.UNKNOWN,
            f"Cannot check: {comparison.how}.",
            "Check that the resolver works (see the DNSBL zone results).",
            details,
        )
    what = "missing" if comparison.answer == Answer.MISSING else "wrong"
    return Finding(
        CHECK,
        name,
        _SEVERITY[DkimKey.State(key.state)],
        f"The DKIM record {name} is {what} ({comparison.how}): "
        f"{_MEANING[DkimKey.State(key.state)]}.",
        f"Publish the TXT record “{key.record}” at {name}.",
        details,
    )


def dkim_keys_served(keys: Sequence[DkimKey]) -> dict[int, Publication]:
    """Whether DNS serves each key's exact record (dkim.publication's lookup)."""
    resolver = make_resolver(
        settings.MAILPANEL_DNS_RESOLVER, timeout=settings.MAILPANEL_DNS_TIMEOUT
    )

    # Names first: the event loop must not touch the database (key.domain).
    names = [key.record_name for key in keys]

    async def ask() -> list[Lookup]:
        return await asyncio.gather(*(lookup(resolver, n, "TXT") for n in names))

    answers = {}
    for key, result in zip(keys, asyncio.run(ask()), strict=True):
        comparison = dkim_compare(key.dns_record, result)
        answers[key.pk] = Publication(comparison.matches, comparison.describe())
    return answers
