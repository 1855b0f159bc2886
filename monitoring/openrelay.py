"""A static open-relay check of a Postfix main.cf (text or postconf settings).

Postfix relays a message only when both smtpd_relay_restrictions and
smtpd_recipient_restrictions let it through, so the server is safe when at
least one of the lists stops a stranger sending to a foreign domain: it must
reach reject_unauth_destination (or defer_unauth_destination, or a plain
reject) before anything that could permit the stranger. permit_mynetworks and
permit_sasl_authenticated only let trusted clients through, so they are fine,
provided mynetworks itself is small.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from monitoring.findings import Finding, Severity

CHECK = "open-relay"
SUBJECT = "postfix"

# Postfix 2.10+ default (compatibility_level >= 1).
DEFAULT_RELAY_RESTRICTIONS = (
    "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
)
SAFE_PERMITS = {
    "permit_mynetworks",
    "permit_sasl_authenticated",
    # Permits only mail to our own domains: never a relay.
    "permit_auth_destination",
}
STOPS = {"reject_unauth_destination", "defer_unauth_destination", "reject", "defer"}


def parse_main_cf(text: str) -> dict[str, str]:
    """``name = value`` lines, with continuation lines (leading whitespace) joined.

    Comments are whole lines starting with ``#``, as Postfix defines them.
    """
    settings: dict[str, str] = {}
    current: str | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0].isspace() and current is not None:
            settings[current] += " " + raw.strip()
            continue
        name, sep, value = raw.partition("=")
        if not sep:
            current = None
            continue
        current = name.strip()
        settings[current] = value.strip()
    return settings


def restriction_list(value: str) -> list[str]:
    """The restrictions of a list, one per entry (lookup tables kept with theirs)."""
    words = [w for w in re.split(r"[\s,]+", value) if w]
    entries: list[str] = []
    for word in words:
        # "check_client_access hash:/etc/postfix/x": the table belongs to the
        # restriction before it.
        if entries and ":" in word and entries[-1].startswith("check_"):
            entries[-1] += " " + word
        else:
            entries.append(word)
    return entries


def _list_verdict(entries: list[str]) -> tuple[bool, str]:
    """(stops strangers, why not): scans until the first stop or risky permit."""
    for entry in entries:
        name = entry.split()[0].lower()
        if name in STOPS:
            return True, ""
        if name in SAFE_PERMITS:
            continue
        if name == "permit" or name.startswith("permit_"):
            return False, f"{name} comes before reject_unauth_destination"
        if name.startswith("check_"):
            return False, (
                f"{entry} comes before reject_unauth_destination; an OK in that "
                "table would let anyone relay"
            )
    return False, "the list never reaches reject_unauth_destination or reject"


def _mynetworks_problems(settings: Mapping[str, str]) -> list[tuple[Severity, str]]:
    problems: list[tuple[Severity, str]] = []
    value = settings.get("mynetworks")
    if value is None:
        style = settings.get("mynetworks_style", "host").strip()
        if style in ("subnet", "class"):
            problems.append(
                (
                    Severity.WARNING,
                    f"mynetworks is unset and mynetworks_style = {style} trusts "
                    "every machine on the server's own network to relay",
                )
            )
        return problems
    for entry in re.split(r"[\s,]+", value):
        if not entry:
            continue
        # A lookup table (hash:/etc/postfix/network_table): contents unknown.
        if re.match(r"[a-z]+:", entry):
            continue
        text = entry.strip("[]").replace("]/", "/")
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if network.prefixlen == 0:
            problems.append(
                (Severity.CRITICAL, f"mynetworks contains {entry}: the whole internet")
            )
        elif not network.is_private and not network.is_loopback:
            small = 24 if network.version == 4 else 64
            if network.prefixlen < small:
                problems.append(
                    (
                        Severity.WARNING,
                        f"mynetworks trusts the public network {entry}: every host "
                        "in it may relay",
                    )
                )
    return problems


def open_relay_check(config: str | Mapping[str, str]) -> list[Finding]:
    """Findings about relaying for a main.cf text or a dict of postconf settings."""
    settings = parse_main_cf(config) if isinstance(config, str) else dict(config)
    relay = restriction_list(
        settings.get("smtpd_relay_restrictions", DEFAULT_RELAY_RESTRICTIONS)
    )
    recipient = restriction_list(settings.get("smtpd_recipient_restrictions", ""))
    relay_safe, relay_why = _list_verdict(relay)
    recipient_safe, recipient_why = _list_verdict(recipient)
    if relay_safe or recipient_safe:
        relay_finding = Finding(
            CHECK,
            SUBJECT,
            Severity.OK,
            "Postfix relays only for logged-in users and mynetworks.",
        )
    else:
        relay_finding = Finding(
            CHECK,
            SUBJECT,
            Severity.CRITICAL,
            "Postfix is an open relay: anyone can send mail through it to any "
            f"address (smtpd_relay_restrictions: {relay_why}; "
            f"smtpd_recipient_restrictions: {recipient_why}).",
            "End smtpd_relay_restrictions with permit_mynetworks, "
            "permit_sasl_authenticated, reject_unauth_destination, and put nothing "
            "else that permits before it.",
            {"relay": relay, "recipient": recipient},
        )
    problems = _mynetworks_problems(settings)
    if problems:
        severity = max((p[0] for p in problems), key=lambda s: s.rank)
        text = "; ".join(p[1] for p in problems)
        networks_finding = Finding(
            CHECK,
            f"{SUBJECT} mynetworks",
            severity,
            text[0].upper() + text[1:] + ".",
            "Keep mynetworks to 127.0.0.0/8 and [::1]/128 (or empty); let other "
            "machines log in on port 587 instead.",
            {"mynetworks": settings.get("mynetworks")},
        )
    else:
        networks_finding = Finding(
            CHECK,
            f"{SUBJECT} mynetworks",
            Severity.OK,
            "mynetworks trusts no public network.",
        )
    return [relay_finding, networks_finding]
