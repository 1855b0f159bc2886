"""Start-up checks of the monitoring configuration.

A DNSBL answer is only worth something through a resolver the lists accept,
so a wrong or public resolver is said at start-up, not discovered in a report.
"""

from typing import Any

import dns.resolver
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from monitoring.resolver import PUBLIC_RESOLVERS, parse_resolver


@register(Tags.compatibility)
def check_dns_resolver(app_configs: Any = None, **kwargs: Any) -> list:
    spec = getattr(settings, "MAILPANEL_DNS_RESOLVER", "")
    if spec:
        try:
            ip, _port = parse_resolver(spec)
        except ValueError as exc:
            return [Error(str(exc), id="monitoring.E001")]
        nameservers = [ip]
    else:
        try:
            nameservers = dns.resolver.Resolver().nameservers
        except dns.resolver.NoResolverConfiguration:
            return [
                Warning(
                    "MAILPANEL_DNS_RESOLVER is empty and /etc/resolv.conf names no "
                    "resolver: the DNSBL and DNS checks cannot run.",
                    id="monitoring.W002",
                )
            ]
    public = [str(ns) for ns in nameservers if str(ns) in PUBLIC_RESOLVERS]
    if public:
        return [
            Warning(
                f"The DNS checks would use the public resolver {', '.join(public)}; "
                "Spamhaus and URIBL refuse those, so listings would go unseen.",
                hint="Run a recursive resolver on the mail host (unbound) and set "
                "MAILPANEL_DNS_RESOLVER=127.0.0.1.",
                id="monitoring.W001",
            )
        ]
    return []
