"""Generating a domain's keys: RSA and Ed25519 side by side, pending."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.utils import timezone

from dkim.models import DkimKey
from dkim.services import DkimError, dkim_key_generate, dkim_key_rotate


def test_it_generates_an_rsa_2048_and_an_ed25519_key(domain):
    rsa_key, ed_key = dkim_key_generate(domain=domain)

    assert (rsa_key.algorithm, rsa_key.bits) == ("rsa", 2048)
    assert (ed_key.algorithm, ed_key.bits) == ("ed25519", 256)
    private = serialization.load_pem_private_key(
        rsa_key.private_pem().encode(), password=None
    )
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    private = serialization.load_pem_private_key(
        ed_key.private_pem().encode(), password=None
    )
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert {rsa_key.state, ed_key.state} == {DkimKey.State.PENDING}


def test_it_names_selectors_after_the_month_and_the_algorithm(domain):
    month = f"{timezone.now():%Y%m}"
    keys = dkim_key_generate(domain=domain)
    assert [k.selector for k in keys] == [f"mp{month}r", f"mp{month}e"]


def test_it_numbers_selectors_of_a_second_key_in_one_month(domain):
    month = f"{timezone.now():%Y%m}"
    first = dkim_key_generate(domain=domain, algorithms=["rsa"])[0]
    DkimKey.objects.filter(pk=first.pk).update(state=DkimKey.State.ACTIVE)
    second = dkim_key_rotate(domain=domain, algorithms=["rsa"])[0]
    DkimKey.objects.filter(pk=second.pk).update(state=DkimKey.State.RETIRED)
    third = dkim_key_rotate(domain=domain, algorithms=["rsa"])[0]
    assert [second.selector, third.selector] == [f"mp{month}r2", f"mp{month}r3"]


@pytest.mark.parametrize("bits", [3072, 4096])
def test_it_generates_larger_rsa_keys_on_request(domain, bits):
    (key,) = dkim_key_generate(domain=domain, algorithms=["rsa"], bits=bits)
    assert key.bits == bits


@pytest.mark.parametrize("bits", [512, 1024, 2047])
def test_it_refuses_to_generate_weak_rsa_keys(domain, bits):
    with pytest.raises(DkimError, match="1024-bit keys are too weak"):
        dkim_key_generate(domain=domain, bits=bits)
    assert not DkimKey.objects.exists()


def test_it_refuses_a_second_generation_and_creates_nothing(domain):
    dkim_key_generate(domain=domain, algorithms=["ed25519"])
    with pytest.raises(DkimError, match="already has a pending Ed25519 key"):
        dkim_key_generate(domain=domain)
    assert DkimKey.objects.count() == 1


def test_it_refuses_an_unknown_algorithm(domain):
    with pytest.raises(DkimError, match="Unknown algorithm ecdsa"):
        dkim_key_generate(domain=domain, algorithms=["ecdsa"])


def test_it_rotates_with_new_pending_keys_of_the_same_size(domain):
    (old,) = dkim_key_generate(domain=domain, algorithms=["rsa"], bits=3072)
    DkimKey.objects.filter(pk=old.pk).update(state=DkimKey.State.ACTIVE)

    (new,) = dkim_key_rotate(domain=domain, algorithms=["rsa"])

    assert new.state == DkimKey.State.PENDING
    assert new.bits == 3072
    assert new.selector != old.selector
    old.refresh_from_db()
    assert old.state == DkimKey.State.ACTIVE  # signs until the new one is active


def test_it_refuses_to_rotate_while_a_key_is_pending(domain):
    dkim_key_generate(domain=domain)
    with pytest.raises(DkimError, match="waiting for its DNS record"):
        dkim_key_rotate(domain=domain)
    assert DkimKey.objects.count() == 2
