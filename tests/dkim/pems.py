"""PEM texts for the import tests, made with the cryptography library."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa


def _pkcs8(private, *, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def rsa_pem(bits: int = 2048) -> str:
    return _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def rsa_pkcs1_pem(bits: int = 2048) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def rsa_pkcs1_encrypted_pem() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()


def ed25519_pem() -> str:
    return _pkcs8(ed25519.Ed25519PrivateKey.generate())


def encrypted_pem() -> str:
    return _pkcs8(ed25519.Ed25519PrivateKey.generate(), password=b"secret")


def ec_pem() -> str:
    return _pkcs8(ec.generate_private_key(ec.SECP256R1()))


def dsa_pem() -> str:
    return _pkcs8(dsa.generate_private_key(key_size=2048))


def public_pem() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def damaged_pem() -> str:
    lines = rsa_pem().splitlines()
    return "\n".join(lines[:5] + lines[-1:]) + "\n"


# cryptography refuses to generate keys under 1024 bits, so this one was made
# with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512`: a test
# key, worthless by design.
RSA_512 = """-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAz0ItP+74qFnMQVpa
OxSumuZvXn6vEAopinEqZmfhQr148Nx8N/zAxwDil+aGVFq+6htl3KQsfoY5DZTg
YbgxKQIDAQABAkEAtIaz20hPlnQBEbuddHCjVZD52JkH6zSu0kOX5vL8pp/HeNyr
8O7i3I642twfhpC1/J2Ji8QYGbZVmH/rhQis8QIhAP6lv8KfSNdmaGYqjKLzbjzH
TA8Sv1A7AnZF8t+KGHdzAiEA0Fv93gEgvss7mCKPrMw2e/D2Bcpjj3qcW4ySk3ws
NfMCIQDQ4Cp8POWl8dV+wDYdz6nD5wIndwxAhjbNxzCiVgcdqwIgY+opJAOAc127
1ymDokZPPkH/iClUcuJGBnSzeTwLa1cCICdUNIqknB7AFugowz70cipNQRHQYt0V
BFqqIA4Mt5OB
-----END PRIVATE KEY-----
"""
