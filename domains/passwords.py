"""Mailbox password hashes in Dovecot's ``{SCHEME}hash`` format.

Dovecot reads the stored value as it is, so the panel never keeps plaintext
and never shells out to ``doveadm``: hashing and verifying happen here with
maintained libraries (argon2-cffi, bcrypt, libpass). New hashes use
ARGON2ID or BLF-CRYPT; hashes imported from other panels (SHA512-CRYPT,
SHA256-CRYPT, MD5-CRYPT, salted SHA, even PLAIN) still verify, and
``needs_rehash`` tells the caller to replace them while the plaintext is at
hand. See docs/passwords.md for the chosen costs.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from functools import lru_cache

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError
from django.conf import settings
from passlib.hash import md5_crypt, sha256_crypt, sha512_crypt

SUPPORTED_HASH_SCHEMES = ("ARGON2ID", "BLF-CRYPT")

# The cost settings (MAILPANEL_ARGON2_*, MAILPANEL_BCRYPT_ROUNDS, defaults and
# reasons in mailpanel/settings.py) are read at call time, so tests and
# deployments can change them without reloading the module.

# Dovecot hashes Argon2 with libsodium, which writes only p=1 and walks the
# lanes one after another when verifying (Dovecot 2.3.19 does accept p=4), so
# p>1 buys nothing in the auth worker; p=1 is also exactly what doveadm writes.
_ARGON2_PARALLELISM = 1
# bcrypt only reads 72 bytes; Dovecot (libxcrypt) silently cuts there too, and
# bcrypt>=5 raises instead, so truncate the same way to stay compatible.
_BCRYPT_MAX_BYTES = 72

_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_PREFIX = re.compile(r"\{([A-Za-z0-9._-]+)\}(.*)", re.DOTALL)
# For these prefixes Dovecot hands the value to crypt(3), so the "$id$" of the
# string, not the prefix, decides the algorithm (as with bare imported values).
_CRYPT_PREFIXES = {"CRYPT", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT"}
_CRYPT_IDS = (
    ("$argon2id$", "ARGON2ID"),
    ("$argon2i$", "ARGON2I"),
    (("$2y$", "$2b$", "$2a$"), "BLF-CRYPT"),
    ("$6$", "SHA512-CRYPT"),
    ("$5$", "SHA256-CRYPT"),
    ("$1$", "MD5-CRYPT"),
)
_SHA_DIGESTS = {
    "SHA": "sha1",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA512": "sha512",
    "SSHA": "sha1",
    "SSHA256": "sha256",
    "SSHA512": "sha512",
}


def _scheme_or_setting(scheme: str | None) -> str:
    if scheme is None:
        scheme = getattr(settings, "MAILPANEL_PASSWORD_SCHEME", "ARGON2ID")
    name = str(scheme).strip().upper()
    if name not in SUPPORTED_HASH_SCHEMES:
        raise ValueError(
            f"Unsupported password scheme {scheme!r}: mailpanel creates only "
            f"{', '.join(SUPPORTED_HASH_SCHEMES)} (never PLAIN or legacy schemes)."
        )
    return name


def _cost(name: str) -> int:
    return int(getattr(settings, name))


def _argon2_hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=_cost("MAILPANEL_ARGON2_TIME_COST"),
        memory_cost=_cost("MAILPANEL_ARGON2_MEMORY_COST"),
        parallelism=_ARGON2_PARALLELISM,
        type=argon2.Type.ID,
    )


def _bcrypt_rounds() -> int:
    return _cost("MAILPANEL_BCRYPT_ROUNDS")


def _split(stored: str) -> tuple[str, str]:
    """Return ``(scheme, hash body)``; raise ValueError if unrecognisable."""
    match = _PREFIX.fullmatch(stored)
    prefix, body = (match[1].upper(), match[2]) if match else ("CRYPT", stored)
    if prefix not in _CRYPT_PREFIXES:
        return prefix, body
    for ident, name in _CRYPT_IDS:
        if body.startswith(ident):
            return name, body
    raise ValueError("Not a password hash mailpanel recognises.")


def hash_scheme(stored: str) -> str:
    """Return the scheme of ``stored``, e.g. ``"ARGON2ID"`` or ``"SHA512-CRYPT"``.

    Bare crypt strings (``$6$...``, ``$2y$...``) as other panels store them and
    ``{CRYPT}`` values are named after their crypt id, because that is what
    Dovecot's crypt(3) call actually checks. Raises ValueError if unknown.
    """
    return _split(stored)[0]


def hash_password(password: str, scheme: str | None = None) -> str:
    """Hash ``password`` for Dovecot with ``scheme`` or the configured default.

    ``scheme=None`` reads ``settings.MAILPANEL_PASSWORD_SCHEME`` now, not at
    import, so a changed setting applies to the next password set or login.
    """
    name = _scheme_or_setting(scheme)
    if "\x00" in password:
        # IMAP and SASL PLAIN cannot carry NUL, so such a password never logs in.
        raise ValueError("A mailbox password cannot contain a NUL character.")
    if name == "ARGON2ID":
        return "{ARGON2ID}" + _argon2_hasher().hash(password)
    secret = password.encode()[:_BCRYPT_MAX_BYTES]
    digest = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=_bcrypt_rounds()))
    # Same algorithm as $2b$; $2y$ is what doveadm writes and PHP panels expect.
    return "{BLF-CRYPT}$2y$" + digest.decode("ascii")[4:]


def _verify_argon2(password: str, body: str, ident: str) -> bool:
    if not body.startswith(ident):
        return False
    try:
        return argon2.PasswordHasher().verify(body, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_bcrypt(password: str, body: str) -> bool:
    secret = password.encode()[:_BCRYPT_MAX_BYTES]
    return bcrypt.checkpw(secret, body.encode("ascii"))


def _verify_sha(password: str, body: str, scheme: str) -> bool:
    algorithm = _SHA_DIGESTS[scheme]
    size = hashlib.new(algorithm).digest_size
    salted = scheme.startswith("SS")
    # Dovecot accepts unsalted digests hex- or base64-encoded, salted ones base64.
    if not salted and len(body) == 2 * size:
        raw = bytes.fromhex(body)
    else:
        raw = base64.b64decode(body, validate=True)
    digest, salt = raw[:size], raw[size:]
    if len(digest) != size or salted != bool(salt):
        return False
    computed = hashlib.new(algorithm, password.encode() + salt).digest()
    return hmac.compare_digest(computed, digest)


_VERIFIERS: dict[str, Callable[[str, str], bool]] = {
    "ARGON2ID": lambda pw, body: _verify_argon2(pw, body, "$argon2id$"),
    "ARGON2I": lambda pw, body: _verify_argon2(pw, body, "$argon2i$"),
    "BLF-CRYPT": _verify_bcrypt,
    "SHA512-CRYPT": sha512_crypt.verify,
    "SHA256-CRYPT": sha256_crypt.verify,
    "MD5-CRYPT": md5_crypt.verify,
    **{
        name: (lambda pw, body, name=name: _verify_sha(pw, body, name))
        for name in _SHA_DIGESTS
    },
    # Legacy only: verifies so it can be replaced, never produced.
    **dict.fromkeys(
        ("PLAIN", "CLEAR", "CLEARTEXT"),
        lambda pw, body: hmac.compare_digest(pw.encode(), body.encode()),
    ),
}


def verify_password(password: str, stored: str) -> bool:
    """Return True if ``password`` matches ``stored``; never raises.

    Stored values come from imports and old panels, so anything malformed or
    in an unknown scheme is a failed login rather than a server error.
    """
    try:
        name, body = _split(stored)
        verifier = _VERIFIERS.get(name)
        return verifier is not None and bool(verifier(password, body))
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        return False


def needs_rehash(stored: str, scheme: str | None = None) -> bool:
    """Return True if ``stored`` should be replaced by ``hash_password``.

    Call it after a successful ``verify_password``, the only moment the
    plaintext is known: legacy schemes, values without the Dovecot prefix and
    costs below the current settings are upgraded at the user's next login.
    Higher costs are kept, so lowering a setting never weakens hashes.
    """
    target = _scheme_or_setting(scheme)
    if not isinstance(stored, str) or not stored.startswith("{" + target + "}"):
        return True
    try:
        current, body = _split(stored)
        if current != target:
            return True
        if target == "BLF-CRYPT":
            match = _BCRYPT.fullmatch(body)
            return match is None or int(match[1]) < _bcrypt_rounds()
        params = argon2.extract_parameters(body)
    except (ValueError, InvalidHashError):
        return True
    wanted = _argon2_hasher()
    return (
        params.type is not argon2.Type.ID
        or params.version != argon2.low_level.ARGON2_VERSION
        or params.parallelism != _ARGON2_PARALLELISM
        or params.time_cost < wanted.time_cost
        or params.memory_cost < wanted.memory_cost
    )


@lru_cache(maxsize=4)
def _dummy_hash(scheme: str, *costs: int) -> str:
    # Keyed by the costs too, so a changed setting gets a dummy of its own.
    return hash_password("not-a-mailbox-password", scheme=scheme)


def dummy_verify(password: str) -> None:
    """Spend what verifying ``password`` against a new hash costs, learn nothing.

    For logins that must not tell by their duration whether the account
    exists or how old its hash is: the verification runs against a hash of
    the configured scheme at the configured costs, made once per process.
    """
    scheme = _scheme_or_setting(None)
    costs = (
        _cost("MAILPANEL_ARGON2_TIME_COST"),
        _cost("MAILPANEL_ARGON2_MEMORY_COST"),
        _bcrypt_rounds(),
    )
    verify_password(password, _dummy_hash(scheme, *costs))
