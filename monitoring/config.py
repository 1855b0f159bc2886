"""What the checks look at, read from the settings and the database.

Everything is gathered before the asynchronous checks start (the database is
not used from the event loop), into a plain ``MonitorConfig`` that tests and
the benchmark can also build by hand.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from pathlib import Path

from django.apps import apps
from django.conf import settings

from domains.models import Domain


@dataclass(frozen=True)
class MonitorConfig:
    resolver: str = ""
    dns_timeout: float = 3.0
    concurrency: int = 20
    ipv4: str = ""
    ipv6: str = ""
    helo: str = ""
    relay_host: str = ""
    domains: tuple[str, ...] = ()
    port25_targets: tuple[str, ...] = ()
    submission_targets: tuple[str, ...] = ()
    smtp_timeout: float = 10.0
    dkim_key_dir: str = ""
    dkim_selector: str = "mail"
    main_cf: str = ""

    @classmethod
    def from_settings(cls, **overrides: object) -> MonitorConfig:
        """The configured values; ``overrides`` (e.g. resolver=) win."""
        postfix_dir = getattr(settings, "MAILPANEL_POSTFIX_DIR", "/etc/postfix")
        config = cls(
            resolver=settings.MAILPANEL_DNS_RESOLVER,
            dns_timeout=settings.MAILPANEL_DNS_TIMEOUT,
            concurrency=settings.MAILPANEL_DNSBL_CONCURRENCY,
            ipv4=settings.MAILPANEL_OUTBOUND_IPV4,
            ipv6=settings.MAILPANEL_OUTBOUND_IPV6,
            helo=helo_name(),
            # The relays app's default relay (all outbound mail goes through
            # it), else the MAILPANEL_RELAY_HOST setting; absent means none.
            relay_host=default_relay_host()
            or getattr(settings, "MAILPANEL_RELAY_HOST", ""),
            domains=tuple(
                Domain.objects.filter(active=True)
                .order_by("name")
                .values_list("name", flat=True)
            ),
            port25_targets=tuple(settings.MAILPANEL_PORT25_TARGETS),
            submission_targets=tuple(settings.MAILPANEL_SUBMISSION_TARGETS),
            smtp_timeout=settings.MAILPANEL_SMTP_TEST_TIMEOUT,
            dkim_key_dir=settings.MAILPANEL_DKIM_KEY_DIR,
            dkim_selector=settings.MAILPANEL_DKIM_SELECTOR,
            main_cf=str(Path(postfix_dir) / "main.cf"),
        )
        return replace(config, **overrides)  # type: ignore[arg-type]

    @property
    def relay_hostname(self) -> str:
        """The host of a Postfix relayhost value: "[smtp.x]:587" -> "smtp.x"."""
        value = self.relay_host.strip()
        if not value:
            return ""
        if value.startswith("["):
            return value[1:].partition("]")[0]
        return value.rsplit(":", 1)[0] if value.count(":") == 1 else value

    def dkim_public_key(self, domain: str) -> str:
        """The base64 public key the server signs ``domain`` with, or ""."""
        if not self.dkim_key_dir:
            return ""
        path = Path(self.dkim_key_dir) / f"{domain}.{self.dkim_selector}.pub"
        try:
            text = path.read_text()
        except OSError:
            return ""
        return "".join(
            line.strip() for line in text.splitlines() if "-----" not in line
        )


def default_relay_host() -> str:
    """The default relay as "[host]:port", or "" (docs/relay-hosts.md).

    Only the default counts: a relay for some domains leaves the others
    delivering directly, so port 25 and the blocklists still matter.
    """
    if not apps.is_installed("relays"):
        return ""
    from relays.models import RelayHost

    relay = RelayHost.objects.filter(is_default=True).first()
    return relay.nexthop if relay else ""


def helo_name() -> str:
    """MAILPANEL_HELO_NAME, else MAILPANEL_HOSTNAME, else the machine's FQDN."""
    name = settings.MAILPANEL_HELO_NAME or getattr(settings, "MAILPANEL_HOSTNAME", "")
    return (name or socket.getfqdn()).rstrip(".").lower()
