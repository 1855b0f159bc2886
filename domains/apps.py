from django.apps import AppConfig


class DomainsConfig(AppConfig):
    """The mail data model: what Postfix and Dovecot serve."""

    name = "domains"
    verbose_name = "Mail domains"
