"""The relay admin: the password goes in, and never comes out again."""

import logging

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from mailserver.models import MailHost, OutboxMessage
from relays.models import RelayHost
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db

SECRET = "Never-Shown-Again-42"


def form(**fields) -> dict:
    return {
        "name": "isp",
        "host": "smtp.isp.example",
        "port": "587",
        "security": "starttls",
        "username": "me@isp.example",
        "password": SECRET,
        **fields,
    }


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_it_stores_the_password_encrypted_and_never_shows_it(
    admin_client, logs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:relays_relayhost_add"), form(), follow=True
        )
    assert response.status_code == 200
    relay = RelayHost.objects.get()
    assert relay.get_password() == SECRET
    assert len(callbacks) == 1  # the credentials rewrite, for the workers
    [queued] = OutboxMessage.objects.all()
    assert queued.task == "relays.tasks.relay_credentials_write_task"
    pages = [
        response,
        admin_client.get(reverse("admin:relays_relayhost_change", args=[relay.pk])),
        admin_client.get(reverse("admin:relays_relayhost_changelist")),
        admin_client.get(reverse("admin:relays_relayhost_history", args=[relay.pk])),
        admin_client.get(reverse("admin:index")),
    ]
    for page in pages:
        assert page.status_code == 200
        assert SECRET not in page.content.decode()
        assert relay.password_encrypted not in page.content.decode()
    change_page = pages[1].content.decode()
    assert 'name="password"' in change_page and "set on" in change_page
    assert all(SECRET not in entry.change_message for entry in LogEntry.objects.all())
    assert SECRET not in logs.text


def test_it_keeps_the_password_when_the_field_is_left_empty(admin_client):
    relay = make_relay(
        name="isp", host="smtp.isp.example", username="u", password=SECRET
    )
    token = relay.password_encrypted
    url = reverse("admin:relays_relayhost_change", args=[relay.pk])

    response = admin_client.post(url, form(password="", port="2525"))

    assert response.status_code == 302
    relay.refresh_from_db()
    assert relay.port == 2525 and relay.password_encrypted == token
    assert relay.get_password() == SECRET


def test_it_does_not_echo_the_password_on_a_form_error(admin_client, logs):
    response = admin_client.post(
        reverse("admin:relays_relayhost_add"), form(host="not a host")
    )
    assert response.status_code == 200
    assert "not a valid domain name" in response.content.decode()
    assert SECRET not in response.content.decode()
    assert SECRET not in logs.text
    assert not RelayHost.objects.exists()


def test_it_requires_a_password_for_a_new_relay(admin_client):
    response = admin_client.post(
        reverse("admin:relays_relayhost_add"), form(password="")
    )
    assert response.status_code == 200
    assert "Enter the relay" in response.content.decode()


def test_it_queues_a_test_of_the_selected_relays(
    admin_client, django_capture_on_commit_callbacks
):
    relay = make_relay(name="isp", host="smtp.isp.example", username="u")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:relays_relayhost_changelist"),
            {"action": "test_relays", "_selected_action": [relay.pk]},
            follow=True,
        )
    assert "1 relay test(s) queued" in response.content.decode()
    assert len(callbacks) == 1
    message = OutboxMessage.objects.get(task="relays.tasks.relay_test_task")
    assert message.args == [relay.pk]


def test_it_asks_every_mail_host_to_rewrite_the_credentials(
    admin_client, django_capture_on_commit_callbacks
):
    MailHost.objects.create(name="mx1")
    MailHost.objects.create(name="mx2")

    with django_capture_on_commit_callbacks():
        admin_client.post(reverse("admin:relays_relayhost_add"), form())

    queued = OutboxMessage.objects.filter(
        task="relays.tasks.relay_credentials_write_task"
    )
    assert sorted(queued.values_list("queue", flat=True)) == ["mx1", "mx2"]


def test_a_new_mail_host_writes_its_own_copy_of_the_credentials():
    from mailserver.hosts import mailhost_register

    mailhost_register(name="mx3")
    mailhost_register(name="mx3")  # a heartbeat: nothing more

    queued = OutboxMessage.objects.filter(
        task="relays.tasks.relay_credentials_write_task"
    )
    assert list(queued.values_list("queue", flat=True)) == ["mx3"]
