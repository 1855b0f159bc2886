from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """DNSBL and deliverability checks: what is wrong with sending, and the fix."""

    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from dkim import publication
        from monitoring import checks  # noqa: F401  (registers the system checks)
        from monitoring.dkim_dns import dkim_keys_served

        # dkim asks whether DNS serves a pending key's record through this
        # resolver before activating it (dkim.publication says why here).
        publication.register(dkim_keys_served)
