"""Importing a PEM private key with its selector; bad input saves nothing."""

import pytest
from django.core.exceptions import ValidationError

from dkim.keys import load
from dkim.models import DkimKey
from dkim.services import dkim_key_import
from tests.dkim import pems


def test_it_imports_an_rsa_key_as_a_pending_key(domain):
    pem = pems.rsa_pkcs1_pem()
    key = dkim_key_import(domain=domain, selector="Mail2019", pem=pem)
    assert (key.selector, key.algorithm, key.bits) == ("mail2019", "rsa", 2048)
    assert key.state == DkimKey.State.PENDING
    assert key.imported
    # Stored as PKCS#8, the same key.
    assert key.private_pem().startswith("-----BEGIN PRIVATE KEY-----")
    assert load(key.private_pem()).public == load(pem).public


def test_it_imports_an_ed25519_key(domain):
    key = dkim_key_import(domain=domain, selector="ed", pem=pems.ed25519_pem())
    assert (key.algorithm, key.bits) == ("ed25519", 256)


def test_it_imports_a_1024_bit_rsa_key(domain):
    # Refused for new keys, accepted for a server moving here (RFC 8301's MUST).
    key = dkim_key_import(domain=domain, selector="old", pem=pems.rsa_pem(1024))
    assert key.bits == 1024


def test_it_accepts_the_key_as_bytes(domain):
    key = dkim_key_import(domain=domain, selector="b", pem=pems.ed25519_pem().encode())
    assert key.algorithm == "ed25519"


BAD_KEYS = {
    "not a key": (lambda: "hello world", "not a PEM private key"),
    "a public key": (pems.public_pem, "not a readable PEM private key"),
    "a damaged key": (pems.damaged_pem, "not a readable PEM private key"),
    "an encrypted PKCS#8 key": (pems.encrypted_pem, "encrypted with a passphrase"),
    "an encrypted PKCS#1 key": (
        pems.rsa_pkcs1_encrypted_pem,
        "encrypted with a passphrase",
    ),
    "a 512-bit RSA key": (lambda: pems.RSA_512, "has 512 bits"),
    "an EC key": (pems.ec_pem, "RSA or Ed25519 keys only"),
}


@pytest.mark.parametrize("case", BAD_KEYS)
def test_it_refuses_a_bad_key_and_saves_nothing(domain, case):
    make, message = BAD_KEYS[case]
    with pytest.raises(ValidationError) as raised:
        dkim_key_import(domain=domain, selector="mail", pem=make())
    assert list(raised.value.message_dict) == ["private_key"]
    assert message in raised.value.message_dict["private_key"][0]
    assert not DkimKey.objects.exists()


@pytest.mark.parametrize(
    "selector", ["-mail", "mail-", "two.labels", "under_score", "x" * 64, "é"]
)
def test_it_refuses_a_selector_that_is_not_a_dns_label(domain, selector):
    with pytest.raises(ValidationError) as raised:
        dkim_key_import(domain=domain, selector=selector, pem=pems.ed25519_pem())
    assert "one DNS label" in raised.value.message_dict["selector"][0]
    assert not DkimKey.objects.exists()


def test_it_asks_for_a_missing_selector(domain):
    with pytest.raises(ValidationError) as raised:
        dkim_key_import(domain=domain, selector=" ", pem=pems.ed25519_pem())
    assert "Give the selector" in raised.value.message_dict["selector"][0]
    assert not DkimKey.objects.exists()


def test_it_refuses_a_duplicate_selector(domain):
    dkim_key_import(domain=domain, selector="mail", pem=pems.ed25519_pem())
    with pytest.raises(ValidationError) as raised:
        dkim_key_import(domain=domain, selector="MAIL", pem=pems.ed25519_pem())
    assert "already has a key with the selector mail" in str(raised.value)
    assert DkimKey.objects.count() == 1


def test_it_allows_the_same_selector_in_another_domain(domain, other_domain):
    dkim_key_import(domain=domain, selector="mail", pem=pems.ed25519_pem())
    dkim_key_import(domain=other_domain, selector="mail", pem=pems.ed25519_pem())
    assert DkimKey.objects.count() == 2


def test_it_reports_selector_and_key_errors_together(domain):
    with pytest.raises(ValidationError) as raised:
        dkim_key_import(domain=domain, selector="a b", pem="nothing")
    assert set(raised.value.message_dict) == {"selector", "private_key"}


def test_it_never_puts_the_key_into_the_error(domain):
    pem = pems.RSA_512
    with pytest.raises(ValidationError) as raised:
        dkim_key_import(domain=domain, selector="mail", pem=pem)
    body = [line for line in pem.splitlines() if "-----" not in line]
    assert not any(line in str(raised.value) for line in body)
