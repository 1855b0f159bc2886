"""The DKIM admin: import, generate, rotate, activate; the private key never shown."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dkim.models import DkimKey
from dkim.services import dkim_key_activate, dkim_key_generate, dkim_key_import
from tests.dkim import pems
from tests.dkim.conftest import publish

CHANGELIST = "admin:dkim_dkimkey_changelist"


def secrets_of(key: DkimKey, pem: str | None = None) -> list[str]:
    """Every piece of the key's private part a page must not contain.

    The PEM's lines, except those that happen to hold only the public modulus
    at the record's base64 alignment (the record shows them on purpose).
    """
    pem = pem or key.private_pem()
    lines = [line for line in pem.splitlines() if "-----" not in line]
    private = [line for line in lines if line not in key.public_key]
    assert len(private) > len(lines) / 2
    return ["PRIVATE KEY", key.private_key_encrypted, *private]


def assert_hidden(text: str, key: DkimKey, pem: str | None = None) -> None:
    for secret in secrets_of(key, pem):
        assert secret not in text


def import_form(**fields) -> dict:
    return {"domain": "", "selector": "mail", "pem_text": "", **fields}


def test_it_imports_a_pasted_key_and_never_shows_it(admin_client, domain, caplog):
    caplog.set_level(logging.DEBUG)
    pem = pems.rsa_pkcs1_pem()
    response = admin_client.post(
        reverse("admin:dkim_dkimkey_add"),
        import_form(domain=domain.pk, pem_text=pem),
        follow=True,
    )
    assert response.status_code == 200
    key = DkimKey.objects.get()
    assert (key.selector, key.imported, key.state) == ("mail", True, "pending")
    assert key.private_pem() != pem  # PKCS#8 now, the same key
    pages = [
        response,
        admin_client.get(reverse("admin:dkim_dkimkey_change", args=[key.pk])),
        admin_client.get(reverse(CHANGELIST)),
        admin_client.get(reverse("admin:dkim_dkimkey_history", args=[key.pk])),
        admin_client.get(reverse("admin:dkim_dkimkey_delete", args=[key.pk])),
        admin_client.get(reverse("admin:dkim_dkimkey_add")),
        admin_client.get(reverse("admin:dkim_dkimkey_generate")),
        admin_client.get(reverse("admin:app_list", args=["dkim"])),
        admin_client.get(reverse("admin:index")),
    ]
    for page in pages:
        assert page.status_code == 200
        assert_hidden(page.content.decode(), key, pem)
        assert_hidden(page.content.decode(), key)
    assert_hidden(caplog.text, key, pem)
    # The public record is what the change page is for.
    change = pages[1].content.decode()
    assert key.public_key[:200] in change


def test_it_imports_an_uploaded_file(admin_client, domain):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("key.pem", pems.ed25519_pem().encode())
    admin_client.post(
        reverse("admin:dkim_dkimkey_add"),
        {"domain": domain.pk, "selector": "ed", "pem_file": upload},
    )
    assert DkimKey.objects.get().algorithm == "ed25519"


IMPORT_ERRORS = {
    "not a key": ({"pem_text": "hello"}, "This is not a PEM private key"),
    "encrypted": ({"pem_text": pems.encrypted_pem()}, "encrypted with a passphrase"),
    "512 bits": ({"pem_text": pems.RSA_512}, "This RSA key has 512 bits"),
    "an EC key": ({"pem_text": pems.ec_pem()}, "RSA or Ed25519 keys only"),
    "bad selector": (
        {"selector": "mail_2024", "pem_text": pems.ed25519_pem()},
        "A selector is one DNS label",
    ),
    "no key": ({}, "Upload the private key file or paste it."),
}


@pytest.mark.parametrize("case", IMPORT_ERRORS)
def test_it_shows_import_errors_saves_nothing_and_drops_the_key(
    admin_client, domain, case
):
    fields, message = IMPORT_ERRORS[case]
    data = import_form(domain=domain.pk, **fields)
    response = admin_client.post(reverse("admin:dkim_dkimkey_add"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert not DkimKey.objects.exists()
    if data["pem_text"].startswith("-----"):
        body = [line for line in data["pem_text"].splitlines() if "-----" not in line]
        assert not any(line in page for line in body)


def test_it_refuses_a_duplicate_selector_once(admin_client, domain):
    dkim_key_import(domain=domain, selector="mail", pem=pems.ed25519_pem())
    response = admin_client.post(
        reverse("admin:dkim_dkimkey_add"),
        import_form(domain=domain.pk, selector="MAIL", pem_text=pems.ed25519_pem()),
    )
    page = response.content.decode()
    assert page.count("already has a key with the selector mail") == 1
    assert DkimKey.objects.count() == 1


def test_it_generates_both_keys_from_the_generate_page(admin_client, domain):
    response = admin_client.post(
        reverse("admin:dkim_dkimkey_generate"),
        {"domain": domain.pk, "algorithms": ["rsa", "ed25519"], "bits": "2048"},
        follow=True,
    )
    keys = list(DkimKey.objects.order_by("algorithm"))
    assert [k.algorithm for k in keys] == ["ed25519", "rsa"]
    page = response.content.decode()
    for key in keys:
        assert f"New {key.get_algorithm_display()} key {key.record_name}" in page
        assert_hidden(page, key)
    # Again: refused, with the reason on the form.
    response = admin_client.post(
        reverse("admin:dkim_dkimkey_generate"),
        {"domain": domain.pk, "algorithms": ["rsa"], "bits": "2048"},
    )
    assert "already has a pending RSA key" in response.content.decode()
    assert DkimKey.objects.count() == 2


def test_it_offers_no_1024_bit_generation(admin_client, domain):
    response = admin_client.post(
        reverse("admin:dkim_dkimkey_generate"),
        {"domain": domain.pk, "algorithms": ["rsa"], "bits": "1024"},
    )
    assert "Select a valid choice" in response.content.decode()
    assert not DkimKey.objects.exists()


def action(admin_client, name, keys):
    return admin_client.post(
        reverse(CHANGELIST),
        {"action": name, "_selected_action": [k.pk for k in keys]},
        follow=True,
    )


def test_it_force_activates_and_rotates_by_action(admin_client, domain):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    response = action(admin_client, "activate_forced", [rsa_key, ed_key])
    assert set(DkimKey.objects.values_list("state", flat=True)) == {"active"}
    assert f"Activated {rsa_key.record_name}" in response.content.decode()

    response = action(admin_client, "rotate", [rsa_key])

    pending = DkimKey.objects.get(state="pending")
    assert pending.algorithm == "rsa"
    page = response.content.decode()
    assert f"New RSA key {pending.record_name}, pending" in page
    assert_hidden(page, pending)


def test_it_activates_by_action_only_what_dns_serves(admin_client, domain, dns):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    publish(dns, ed_key)
    response = action(admin_client, "activate_published", [rsa_key, ed_key])
    page = response.content.decode()
    assert "DNS does not serve the record" in page
    assert dict(DkimKey.objects.values_list("algorithm", "state")) == {
        "rsa": "pending",
        "ed25519": "active",
    }


def test_it_filters_by_state_algorithm_and_domain(admin_client, domain, other_domain):
    rsa_key, _ = dkim_key_generate(domain=domain)
    dkim_key_generate(domain=other_domain)
    dkim_key_activate(key=rsa_key, force=True)
    response = admin_client.get(
        reverse(CHANGELIST),
        {"state": "active", "algorithm": "rsa", "domain__id__exact": domain.pk},
    )
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [rsa_key]


def test_it_shows_every_state_without_the_private_key(admin_client, domain):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True)
    secrets = {
        k.pk: secrets_of(DkimKey.objects.get(pk=k.pk)) for k in (rsa_key, ed_key)
    }
    DkimKey.objects.filter(pk=ed_key.pk).update(
        state="retiring", retire_after=timezone.now() + timedelta(days=1)
    )
    pages = [admin_client.get(reverse(CHANGELIST))] + [
        admin_client.get(reverse("admin:dkim_dkimkey_change", args=[k.pk]))
        for k in (rsa_key, ed_key)
    ]
    for page in pages:
        text = page.content.decode()
        for values in secrets.values():
            assert not any(v in text for v in values)


def test_it_deletes_a_signing_key_and_reloads_the_mail_hosts(admin_client, domain):
    from mailserver.hosts import RELOAD_TASK
    from mailserver.models import MailHost, OutboxMessage

    MailHost.objects.create(name="mx1")
    rsa_key, _ = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True)
    OutboxMessage.objects.all().delete()
    admin_client.post(
        reverse("admin:dkim_dkimkey_delete", args=[rsa_key.pk]), {"post": "yes"}
    )
    assert not DkimKey.objects.filter(pk=rsa_key.pk).exists()
    assert OutboxMessage.objects.filter(task=RELOAD_TASK).count() == 1
