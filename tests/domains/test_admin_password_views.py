"""Every admin page that takes a password keeps it out of error reports.

With DEBUG off, Django mails an error report (POST data included) to ADMINS
and logs it; ``sensitive_post_parameters`` replaces the marked fields with
stars there. The pages are found by walking the registered admins: each
one's add and change pages and its own extra pages, so a new password form
is covered too.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.forms import PasswordInput
from django.urls import reverse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from domains.models import Domain, Mailbox
from relays.models import RelayHost
from tests.domains.utils import PASSWORD, saved

pytestmark = pytest.mark.django_db

MARKER = "Typed-In-Secret-9317"
STANDARD_VIEWS = {"changelist", "add", "change", "delete", "history", "autocomplete"}


@pytest.fixture
def rows(db) -> None:
    domain = saved(Domain(name="example.org"))
    mailbox = Mailbox(domain=domain, local_part="alice")
    mailbox.set_password(PASSWORD)
    saved(mailbox)
    RelayHost.objects.create(
        name="isp", host="smtp.isp.example", username="me", password_encrypted="x"
    )


def admin_pages() -> list[str]:
    """Add, change and extra pages of every registered admin with a row."""
    urls = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        urls.append(reverse(f"{prefix}_add"))
        row = model._default_manager.order_by("pk").first()
        if row is None:
            continue
        urls.append(reverse(f"{prefix}_change", args=[row.pk]))
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            view = name.removeprefix(f"{opts.app_label}_{opts.model_name}_")
            if name and view not in STANDARD_VIEWS and pattern.pattern.converters:
                urls.append(reverse(f"admin:{name}", args=[row.pk]))
    return urls


def password_fields(response) -> list[str]:
    form = (response.context or {}).get("adminform")
    form = getattr(form, "form", None) or (response.context or {}).get("form")
    if form is None:
        return []
    return [
        name
        for name, field in form.fields.items()
        if isinstance(field.widget, PasswordInput)
    ]


def test_it_hides_typed_passwords_from_error_reports(admin_client, rows):
    checked = []
    for url in admin_pages():
        page = admin_client.get(url)
        assert page.status_code in (200, 302, 403), (url, page.status_code)
        fields = password_fields(page) if page.status_code == 200 else []
        if not fields:
            continue
        response = admin_client.post(url, dict.fromkeys(fields, MARKER))
        request = response.wsgi_request

        shown = SafeExceptionReporterFilter().get_post_parameters(request)
        report = ExceptionReporter(
            request, ValueError, ValueError("boom"), None
        ).get_traceback_text()

        for name in fields:
            assert shown[name] != MARKER, f"{url}: {name} is in the error report"
        assert MARKER not in report, url
        checked.append(url)
    mailbox = Mailbox.objects.get()
    relay = RelayHost.objects.get()
    root = User.objects.get(username="admin")
    assert set(checked) >= {
        reverse("admin:domains_mailbox_add"),
        reverse("admin:domains_mailbox_password", args=[mailbox.pk]),
        reverse("admin:relays_relayhost_add"),
        reverse("admin:relays_relayhost_change", args=[relay.pk]),
        reverse("admin:auth_user_add"),
        reverse("admin:auth_user_password_change", args=[root.pk]),
    }
