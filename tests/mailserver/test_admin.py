"""The mail hosts in the admin: state per request, never on the shared admin."""

import pytest
from django.contrib import admin
from django.urls import reverse

from mailserver.models import MailHost, MailServerSettings

pytestmark = pytest.mark.django_db


def test_it_shows_each_host_against_the_current_version(admin_client):
    MailServerSettings.load()
    MailServerSettings.objects.filter(pk=1).update(version=3)
    MailHost.objects.create(name="mx1", applied_version=3)
    MailHost.objects.create(name="mx2", applied_version=2)

    page = admin_client.get(reverse("admin:mailserver_mailhost_changelist")).text

    assert page.count("(current version 3)") == 2
    assert "Applied (current version 3)" in page
    assert "Pending (current version 3)" in page


def test_it_keeps_no_request_state_on_any_shared_admin(admin_client):
    """A ModelAdmin is one object for every request: a list page must leave
    it as it found it."""
    MailHost.objects.create(name="mx1", applied_version=1)
    for model, model_admin in admin.site._registry.items():
        before = dict(vars(model_admin))
        meta = model._meta
        response = admin_client.get(
            reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        )
        assert response.status_code in (200, 302), meta.label
        assert vars(model_admin) == before, meta.label
