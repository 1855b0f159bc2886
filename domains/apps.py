from django.apps import AppConfig


class DomainsConfig(AppConfig):
    """The mail data model: what Postfix and Dovecot serve."""

    name = "domains"
    verbose_name = "Mail domains"

    def ready(self) -> None:
        from domains import secrets  # noqa: F401  (registers the checks)
