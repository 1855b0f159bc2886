"""Start-up checks: a relay password that could not be stored or read is said
at start-up, not when the first mail is deferred."""

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from domains import crypto


@register(Tags.security)
def check_encryption_key(app_configs: Any = None, **kwargs: Any) -> list:
    if not crypto.configured_keys():
        # Without relays there is nothing to encrypt; saving one says why it fails.
        return []
    try:
        crypto.encrypt("")
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="relays.E001")]
    return []
