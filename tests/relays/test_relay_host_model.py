"""RelayHost: the password is encrypted at rest, and the row's rules."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection

from domains.crypto import SecretError
from relays.models import RelayHost
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db

SECRET = "Very-Secret-Relay-Pass"


def test_it_never_stores_the_password_in_plain_text():
    relay = make_relay(
        name="isp", host="smtp.isp.example", username="u", password=SECRET
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM relays_relayhost WHERE id = %s", [relay.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert SECRET not in row
    assert relay.password_encrypted.startswith("gAAAA")  # a Fernet token
    assert RelayHost.objects.get(pk=relay.pk).get_password() == SECRET


def test_it_decrypts_after_a_key_rotation(settings, encryption_key):
    relay = make_relay(
        name="isp", host="smtp.isp.example", username="u", password=SECRET
    )
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = (
        f"{Fernet.generate_key().decode()},{encryption_key}"
    )
    assert RelayHost.objects.get(pk=relay.pk).get_password() == SECRET


def test_it_says_when_the_key_is_wrong_or_missing(settings):
    relay = make_relay(
        name="isp", host="smtp.isp.example", username="u", password=SECRET
    )
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(SecretError, match="cannot be decrypted"):
        relay.get_password()
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="MAILPANEL_SECRET_ENCRYPTION_KEY"):
        relay.set_password(SECRET)


def test_it_builds_the_transport_postfix_gets():
    starttls = make_relay(name="a", host="SMTP.ISP.example.", port=587, username="u")
    implicit = make_relay(
        name="b", host="smtp.isp.example", port=465, username="u", security="tls"
    )
    assert starttls.transport == "relay-smtp:[smtp.isp.example]:587"
    assert implicit.transport == "relay-smtps:[smtp.isp.example]:465"


@pytest.mark.parametrize(
    ("field", "value"),
    [("host", "2001:db8::1"), ("host", "not a host"), ("username", "a:b")],
)
def test_it_refuses_values_postfix_cannot_use(field, value):
    relay = RelayHost(name="x", host="smtp.isp.example", username="u")
    relay.set_password(SECRET)
    setattr(relay, field, value)
    with pytest.raises(ValidationError) as error:
        relay.full_clean()
    assert field in error.value.message_dict


@pytest.mark.parametrize("password", ["", " padded ", "line\nbreak"])
def test_it_refuses_passwords_the_table_cannot_hold(password):
    with pytest.raises(ValidationError):
        RelayHost().set_password(password)


def test_it_requires_a_password():
    with pytest.raises(ValidationError) as error:
        RelayHost(name="x", host="smtp.isp.example", username="u").full_clean()
    assert "password" in error.value.message_dict


def test_it_allows_one_default_relay_only():
    make_relay(name="a", host="a.isp.example", username="u", is_default=True)
    with pytest.raises(ValidationError, match="already the default"):
        make_relay(name="b", host="b.isp.example", username="u", is_default=True)
    other = RelayHost(name="c", host="c.isp.example", username="u", is_default=True)
    other.set_password(SECRET)
    with pytest.raises(IntegrityError):
        other.save()


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("_spf.Provider.example", "_spf.provider.example"),
        ("include:spf.provider.example.", "spf.provider.example"),
        ("", ""),
    ],
)
def test_it_keeps_the_spf_include_as_a_dns_name(given, stored):
    relay = RelayHost(
        name="isp", host="smtp.isp.example", username="u", spf_include=given
    )
    relay.set_password(SECRET)
    relay.full_clean()
    assert relay.spf_include == stored


@pytest.mark.parametrize("given", ["not a name", "-x.example", "x", "a.b/c"])
def test_it_refuses_an_spf_include_that_is_not_a_dns_name(given):
    relay = RelayHost(
        name="isp", host="smtp.isp.example", username="u", spf_include=given
    )
    relay.set_password(SECRET)
    with pytest.raises(ValidationError) as raised:
        relay.full_clean()
    assert "after include:" in raised.value.message_dict["spf_include"][0]
