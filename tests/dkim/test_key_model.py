"""Rules on the DkimKey row: selector syntax, one active key per algorithm."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dkim.models import DkimKey
from dkim.services import dkim_key_generate


def test_it_forbids_two_active_keys_of_one_algorithm(domain):
    first, _ = dkim_key_generate(domain=domain)
    DkimKey.objects.filter(pk=first.pk).update(state=DkimKey.State.ACTIVE)
    second = DkimKey(
        domain=domain,
        selector="other",
        algorithm="rsa",
        bits=2048,
        state=DkimKey.State.ACTIVE,
        private_key_encrypted="x",
        public_key="y",
    )
    with pytest.raises(ValidationError, match="already has an active key"):
        second.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()


def test_it_lowercases_the_selector_when_cleaned(domain):
    key = DkimKey(domain=domain, selector=" Mail ", algorithm="ed25519", bits=256)
    key.clean()
    assert key.selector == "mail"


def test_it_forbids_an_rsa_key_under_1024_bits_in_the_database(domain):
    with pytest.raises(IntegrityError), transaction.atomic():
        DkimKey.objects.create(
            domain=domain, selector="weak", algorithm="rsa", bits=512
        )


def test_it_names_the_record(domain):
    (key,) = dkim_key_generate(domain=domain, algorithms=["ed25519"])
    assert key.record_name == f"{key.selector}._domainkey.example.org"
    assert str(key) == f"{key.record_name} (Ed25519, pending)"
