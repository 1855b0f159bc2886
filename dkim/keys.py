"""Key material: generating, reading and publishing DKIM keys.

Plain functions over the ``cryptography`` library, no database. RSA keys are
published as the base64 DER SubjectPublicKeyInfo (RFC 6376, 3.6.1), Ed25519
keys as the base64 of the raw 32-byte public key (RFC 8463, 4.2).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

RSA = "rsa"
ED25519 = "ed25519"
RSA_DEFAULT_BITS = 2048
# RFC 8301: signers MUST use at least 1024 bits and SHOULD use 2048; what this
# panel generates follows the SHOULD, what it imports only the MUST.
RSA_GENERATE_BITS = (2048, 3072, 4096)
RSA_IMPORT_MIN_BITS = 1024
RSA_MAX_BITS = 4096
ED25519_BITS = 256


class KeyMaterialError(ValueError):
    """The input is not a usable DKIM private key; the message is for people
    and never contains the key or any part of it."""


@dataclass(frozen=True)
class KeyMaterial:
    algorithm: str
    bits: int
    private_pem: str  # PKCS#8, unencrypted
    public: str  # the p= value of the DNS record

    def __repr__(self) -> str:
        # Never the private part, should one of these reach a log or a report.
        return f"KeyMaterial({self.algorithm}, {self.bits} bits)"


def generate(*, algorithm: str, bits: int = RSA_DEFAULT_BITS) -> KeyMaterial:
    if algorithm == RSA:
        if bits not in RSA_GENERATE_BITS:
            raise KeyMaterialError(
                f"RSA keys are generated with {', '.join(map(str, RSA_GENERATE_BITS))} "
                f"bits, not {bits}: 1024-bit keys are too weak (RFC 8301) and "
                "receivers ignore their signatures."
            )
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif algorithm == ED25519:
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise KeyMaterialError(f"Unknown DKIM algorithm {algorithm!r}.")
    return _material(private)


def load(data: str | bytes) -> KeyMaterial:
    """Read a PEM private key (PKCS#8 or PKCS#1) that DKIM can sign with."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    data = data.strip()
    if b"-----BEGIN" not in data:
        raise KeyMaterialError(
            "This is not a PEM private key: it should start with "
            "“-----BEGIN PRIVATE KEY-----” or “-----BEGIN RSA PRIVATE KEY-----”."
        )
    if b"ENCRYPTED" in data.split(b"-----", 3)[1] or b"Proc-Type: 4,ENCRYPTED" in data:
        raise _encrypted()
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise _encrypted() from None
    except (ValueError, UnicodeError, UnsupportedAlgorithm):
        # from None: the library's message is dropped with its context.
        raise KeyMaterialError(
            "This is not a readable PEM private key (a public key, a certificate "
            "or a damaged file?)."
        ) from None
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < RSA_IMPORT_MIN_BITS:
            raise KeyMaterialError(
                f"This RSA key has {private.key_size} bits; DKIM needs at least "
                f"{RSA_IMPORT_MIN_BITS} (RFC 8301), and 2048 is recommended."
            )
        if private.key_size > RSA_MAX_BITS:
            raise KeyMaterialError(
                f"This RSA key has {private.key_size} bits; at most {RSA_MAX_BITS} "
                "fit in a DNS record that resolvers reliably serve."
            )
    elif not isinstance(private, ed25519.Ed25519PrivateKey):
        raise KeyMaterialError(
            "DKIM signs with RSA or Ed25519 keys only; this is another kind of key "
            "(EC or DSA)."
        )
    return _material(private)


def _encrypted() -> KeyMaterialError:
    return KeyMaterialError(
        "This private key is encrypted with a passphrase; decrypt it first "
        "(openssl pkey -in key.pem -out plain.pem) and import the result."
    )


def _material(
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
) -> KeyMaterial:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    if isinstance(private, rsa.RSAPrivateKey):
        public = private.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        return KeyMaterial(RSA, private.key_size, pem, _b64(public))
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return KeyMaterial(ED25519, ED25519_BITS, pem, _b64(public))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dns_record(*, algorithm: str, public: str) -> str:
    """The TXT record's text: ``v=DKIM1; k=rsa; p=...``."""
    return f"v=DKIM1; k={algorithm}; p={public}"


def txt_strings(text: str, *, size: int = 255) -> list[str]:
    """``text`` cut into the character-strings of one TXT record.

    A TXT string holds at most 255 bytes, and a 2048-bit key's record is
    about 400; receivers join the strings back without a separator (RFC 6376,
    3.6.2.2). The record texts are ASCII, so bytes and characters agree.
    """
    data = text.encode("ascii")
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return [chunk.decode("ascii") for chunk in chunks] or [""]
