from django.apps import AppConfig


class MailserverConfig(AppConfig):
    """Writes and applies the Postfix and Dovecot configuration (no models)."""

    name = "mailserver"
    verbose_name = "Mail server configuration"
