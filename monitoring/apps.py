from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """DNSBL and deliverability checks: what is wrong with sending, and the fix."""

    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # Registers the system checks (resolver configuration).
        from monitoring import checks  # noqa: F401
