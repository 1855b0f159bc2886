from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who uses the panel: administrators and the mailbox owners' portal."""

    name = "accounts"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401  (registers the checks)
