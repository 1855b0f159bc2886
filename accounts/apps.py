from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who uses the panel: administrators and the mailbox owners' portal."""

    name = "accounts"
