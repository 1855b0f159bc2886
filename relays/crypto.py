"""Relay passwords at rest: Fernet tokens under keys from the environment.

Postfix needs each relay password in plain text, so it cannot be hashed; the
database holds only a Fernet token (AES-128-CBC plus HMAC-SHA256, from the
maintained ``cryptography`` package) and the key lives outside the database,
in ``MAILPANEL_SECRET_ENCRYPTION_KEY`` (or ``..._FILE``). A stolen dump or
backup of the database alone does not give the passwords away.

The setting is a comma-separated list: the first key encrypts, every key
decrypts (``MultiFernet``), so a key can be rotated without losing a password.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretError(RuntimeError):
    """A stored secret cannot be decrypted with the configured keys."""


def configured_keys() -> list[str]:
    value = getattr(settings, "MAILPANEL_SECRET_ENCRYPTION_KEY", "") or ""
    if isinstance(value, list | tuple):
        keys = [str(k).strip() for k in value]
    else:
        keys = [k.strip() for k in str(value).split(",")]
    return [k for k in keys if k]


def _box() -> MultiFernet:
    keys = configured_keys()
    if not keys:
        raise ImproperlyConfigured(
            "MAILPANEL_SECRET_ENCRYPTION_KEY is not set, so relay passwords cannot "
            "be stored (docs/relay-hosts.md, Setting up)."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "MAILPANEL_SECRET_ENCRYPTION_KEY must be Fernet keys (32 url-safe "
            "base64-encoded bytes), separated by commas."
        ) from None


def encrypt(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        # Never the token or anything derived from it in the message.
        raise SecretError(
            "the stored password cannot be decrypted with "
            "MAILPANEL_SECRET_ENCRYPTION_KEY (was the key changed?); enter it again"
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")
