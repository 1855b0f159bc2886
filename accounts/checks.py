"""Start-up checks: a portal setting that cannot work is said at once, not
when an owner waits for a reset mail that never comes."""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_base_url(app_configs: Any = None, **kwargs: Any) -> list:
    base = settings.MAILPANEL_BASE_URL
    if not base:
        return [
            Warning(
                "MAILPANEL_BASE_URL is not set: password reset mails are not sent.",
                hint="Set it to the panel's address, e.g. https://mail.example.org.",
                id="accounts.W001",
            )
        ]
    parts = urlsplit(base)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        return [
            Error(
                f"MAILPANEL_BASE_URL {base!r} is not a scheme and host.",
                hint="For example https://mail.example.org or http://127.0.0.1:8000;"
                " the paths come from the URL configuration.",
                id="accounts.E001",
            )
        ]
    return []
