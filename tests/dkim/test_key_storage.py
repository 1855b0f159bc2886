"""Private keys are encrypted at rest: the database holds no PEM."""

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from dkim.keys import load
from dkim.models import DkimKey
from dkim.services import dkim_key_generate
from domains.crypto import SecretError


def test_it_stores_no_private_key_in_the_database(domain):
    keys = dkim_key_generate(domain=domain)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM dkim_dkimkey")
        rows = " ".join(str(value) for row in cursor.fetchall() for value in row)
    for key in keys:
        pem = key.private_pem()
        body = [line for line in pem.splitlines() if "-----" not in line]
        # A line may hold only the public modulus, which is stored in clear.
        private = [line for line in body if line not in key.public_key]
        assert private
        assert "PRIVATE KEY" not in rows
        assert all(line not in rows for line in private)
        # The public half is stored in clear and matches the private one.
        assert load(pem).public == key.public_key


def test_it_cannot_read_keys_under_another_encryption_key(domain, settings):
    (key,) = dkim_key_generate(domain=domain, algorithms=["ed25519"])
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(SecretError, match="stored DKIM key cannot be decrypted"):
        DkimKey.objects.get(pk=key.pk).private_pem()


def test_it_reads_keys_after_the_encryption_key_is_rotated(domain, settings):
    (key,) = dkim_key_generate(domain=domain, algorithms=["ed25519"])
    old = settings.MAILPANEL_SECRET_ENCRYPTION_KEY
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = f"{Fernet.generate_key().decode()},{old}"
    assert "PRIVATE KEY" in DkimKey.objects.get(pk=key.pk).private_pem()
