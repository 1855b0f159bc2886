"""What the mail hosts sign with: signing_keys() and the DNS record text."""

import base64

from cryptography.hazmat.primitives import serialization

from dkim.models import DkimKey
from dkim.services import (
    SigningKey,
    dkim_dns_record,
    dkim_key_generate,
    dkim_key_import,
    signing_keys,
)
from domains.models import Domain
from tests.dkim import pems


def _activate(*keys):
    DkimKey.objects.filter(pk__in=[k.pk for k in keys]).update(
        state=DkimKey.State.ACTIVE
    )


def test_it_lists_the_active_keys_of_enabled_domains(domain, other_domain):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    _activate(rsa_key, ed_key)
    pending = dkim_key_generate(domain=other_domain)
    idn = Domain(name="bücher.example")
    idn.full_clean()
    idn.save()
    (idn_key,) = dkim_key_generate(domain=idn, algorithms=["ed25519"])
    _activate(idn_key)
    disabled = Domain.objects.create(name="off.example", active=False)
    _activate(*dkim_key_generate(domain=disabled))

    result = signing_keys()

    assert [(k.domain, k.selector, k.algorithm) for k in result] == [
        ("example.org", ed_key.selector, "ed25519"),
        ("example.org", rsa_key.selector, "rsa"),
        ("xn--bcher-kva.example", idn_key.selector, "ed25519"),
    ]
    assert result[1].private_pem == rsa_key.private_pem()
    assert result[1].private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert pending and "example.net" not in {k.domain for k in result}


def test_it_keeps_the_private_key_out_of_the_repr(domain):
    (key,) = dkim_key_generate(domain=domain, algorithms=["ed25519"])
    _activate(key)
    (signing,) = signing_keys()
    assert "PRIVATE" not in repr(signing)


def test_it_writes_the_rsa_record_with_the_der_public_key(domain):
    pem = pems.rsa_pem()
    key = dkim_key_import(domain=domain, selector="mail", pem=pem)
    record = dkim_dns_record(key)
    assert record.startswith("v=DKIM1; k=rsa; p=MII")
    public = serialization.load_pem_private_key(pem.encode(), None).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert record.endswith(base64.b64encode(der).decode())


def test_it_writes_the_ed25519_record_with_the_raw_public_key(domain):
    (key,) = dkim_key_generate(domain=domain, algorithms=["ed25519"])
    record = dkim_dns_record(key)
    assert record.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(record.split("p=")[1])) == 32


def test_it_writes_the_same_record_for_a_signing_key(domain):
    (key,) = dkim_key_generate(domain=domain, algorithms=["rsa"])
    signing = SigningKey(
        domain="example.org",
        selector=key.selector,
        algorithm="rsa",
        private_pem=key.private_pem(),
    )
    assert dkim_dns_record(signing) == dkim_dns_record(key)
