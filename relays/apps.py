from django.apps import AppConfig


class RelaysConfig(AppConfig):
    """Relay hosts (smarthosts): sending through a provider when port 25 is
    blocked or the server's address is on a blocklist (docs/relay-hosts.md)."""

    name = "relays"
    verbose_name = "Relay hosts"

    def ready(self) -> None:
        from relays import checks  # noqa: F401  (registers the checks)
