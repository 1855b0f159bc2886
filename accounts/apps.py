from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who uses the panel: administrators and, later, mailbox owners."""

    name = "accounts"
