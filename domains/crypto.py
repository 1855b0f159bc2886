"""Secrets at rest: Fernet tokens under keys from the environment.

Some secrets must be given back in plain text, so they cannot be hashed:
Postfix needs each relay password (relays), rspamd each DKIM private key
(dkim). The database holds only a Fernet token (AES-128-CBC plus HMAC-SHA256, from the
maintained ``cryptography`` package) and the key lives outside the database,
in ``MAILPANEL_SECRET_ENCRYPTION_KEY`` (or ``..._FILE``). A stolen dump or
backup of the database alone does not give the secrets away, while a backup
restored with the key (and every mail host holding it) has them all.

Here, in the app every other one may use, so that no app has to import
another (relays, dkim) for it.

The setting is a comma-separated list: the first key encrypts, every key
decrypts (``MultiFernet``), so a key can be rotated without losing a secret.
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
            "MAILPANEL_SECRET_ENCRYPTION_KEY is not set, so relay passwords and "
            "DKIM keys cannot be stored (docs/relay-hosts.md, Setting up)."
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


def decrypt(token: str, *, what: str = "password") -> str:
    """The plain text of ``token``; ``what`` names the secret in the error."""
    try:
        return _box().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        # Never the token or anything derived from it in the message.
        raise SecretError(
            f"the stored {what} cannot be decrypted with "
            "MAILPANEL_SECRET_ENCRYPTION_KEY (was the key changed?); enter it again"
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")
