from django.apps import AppConfig


class MailserverConfig(AppConfig):
    """Postfix and Dovecot on the mail hosts, and the workers that run them.

    Renders, validates and applies their configuration, and keeps the rows the
    workers act on: mail hosts, the admin's file-level settings, the outbox,
    maildir jobs and quota usage (docs/mailserver.md, docs/workers.md).
    """

    name = "mailserver"
    verbose_name = "Mail server configuration"
