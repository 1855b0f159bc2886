"""What the checks look at, read from the settings and the database.

Everything is gathered before the asynchronous checks start (the database is
not used from the event loop), into a plain ``MonitorConfig`` that tests and
the benchmark can also build by hand.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.apps import apps
from django.conf import settings

from domains.models import Domain
from monitoring.dkim_dns import PublishedKey, published_keys_by_domain


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
    # Each domain's keys whose records belong in DNS (dkim), by domain name.
    dkim_keys: Mapping[str, tuple[PublishedKey, ...]] = field(default_factory=dict)
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
            # it); absent means none.
            relay_host=default_relay_host(),
            domains=tuple(
                Domain.objects.filter(active=True)
                .order_by("name")
                .values_list("name", flat=True)
            ),
            port25_targets=tuple(settings.MAILPANEL_PORT25_TARGETS),
            submission_targets=tuple(settings.MAILPANEL_SUBMISSION_TARGETS),
            smtp_timeout=settings.MAILPANEL_SMTP_TEST_TIMEOUT,
            dkim_keys=published_keys_by_domain(),
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
