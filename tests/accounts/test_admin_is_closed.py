"""A mailbox login opens the portal and nothing else: no admin, no other mailbox."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import AuditEvent, RecoveryAddress, Vacation
from domains.models import Forward
from tests.accounts.conftest import ADDRESS, post_form
from tests.domains.utils import PASSWORD, saved

pytestmark = pytest.mark.django_db


def admin_urls(pk: int) -> list[str]:
    """Every page of every registered model, plus the site's own pages."""
    urls = [
        reverse("admin:index"),
        reverse("admin:password_change"),
        reverse("admin:jsi18n"),
    ]
    app_labels = {model._meta.app_label for model in admin.site._registry}
    urls += [reverse("admin:app_list", args=[label]) for label in app_labels]
    for model in admin.site._registry:
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        urls.append(reverse(f"{prefix}_changelist"))
        urls.append(reverse(f"{prefix}_add"))
        for view in ("change", "delete", "history"):
            urls.append(reverse(f"{prefix}_{view}", args=[pk]))
    return urls


def assert_closed(response) -> None:
    assert response.status_code in (302, 403), response
    if response.status_code == 302:
        assert response.url.startswith("/admin/login/"), response.url


def test_it_closes_every_admin_page_to_an_owner(owner, mailbox):
    urls = admin_urls(mailbox.pk)
    assert len(urls) > 20

    for url in urls:
        assert_closed(owner.get(url))


def test_it_refuses_admin_writes_from_an_owner(owner, mailbox):
    token = owner.cookies["csrftoken"].value
    for url in admin_urls(mailbox.pk):
        assert_closed(owner.post(url, {"csrfmiddlewaretoken": token}))
    assert User.objects.count() == 0


def test_it_refuses_a_mailbox_password_at_the_admin_login(browser, mailbox):
    response = post_form(
        browser, "/admin/login/", {"username": ADDRESS, "password": PASSWORD}
    )

    assert response.status_code == 200
    assert "_auth_user_id" not in browser.session
    assert_closed(browser.get("/admin/"))


def test_it_has_no_ids_in_portal_urls():
    """Only the reset link names a mailbox, and its HMAC binds the id."""
    resolver = get_resolver()
    portal = next(
        p
        for p in resolver.url_patterns
        if isinstance(p, URLResolver) and p.namespace == "accounts"
    )
    with_arguments = [
        p.name
        for p in portal.url_patterns
        if isinstance(p, URLPattern) and p.pattern.converters
    ]

    assert with_arguments == ["password_reset_confirm"]


@pytest.mark.parametrize(
    "path",
    [
        "/account/?mailbox={pk}",
        "/account/forwarding/?id={pk}&mailbox={pk}",
        "/account/out-of-office/?mailbox={pk}",
        "/account/recovery/?mailbox={pk}",
    ],
)
def test_it_shows_only_the_owners_mailbox_whatever_the_query(
    owner, mailbox, other_mailbox, path
):
    saved(Forward(mailbox=other_mailbox, destinations="bobs.secret@example.net"))
    Vacation.objects.create(
        mailbox=other_mailbox,
        subject="Bob is away",
        message="Bob's secret plans",
        start="2031-01-01",
        end="2031-01-02",
    )
    RecoveryAddress.objects.create(mailbox=other_mailbox, address="bob@example.net")

    page = owner.get(path.format(pk=other_mailbox.pk)).text

    assert f'<span class="who">{ADDRESS}</span>' in page
    for secret in ("bob@", "bobs.secret", "Bob is away", "Bob&#x27;s secret"):
        assert secret not in page


def test_it_ignores_a_session_from_a_stale_mailbox(owner, mailbox):
    mailbox.delete()

    assert owner.get("/account/").status_code == 302


def test_it_keeps_admins_out_of_the_portal(admin_client):
    """An admin session is not a mailbox session either."""
    response = admin_client.get("/account/")

    assert response.status_code == 302
    assert response.url.startswith("/account/login/")


def test_it_counts_admin_login_failures_and_locks_out(browser, settings):
    User.objects.create_superuser("root", "root@example.org", "admin-pass-123")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_form(browser, "/admin/login/", {"username": "root", "password": "x"})

    response = browser.post(
        "/admin/login/",
        {
            "username": "root",
            "password": "admin-pass-123",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in browser.session


def test_it_still_lets_code_log_in_without_a_request(db):
    """Client.login() and management commands call authenticate() bare."""
    User.objects.create_superuser("root", "root@example.org", "admin-pass-123")

    assert Client().login(username="root", password="admin-pass-123")


def test_it_shows_the_audit_log_read_only(admin_client, mailbox):
    event = AuditEvent.objects.create(
        mailbox=mailbox, address=ADDRESS, actor=ADDRESS, action="login"
    )

    listing = admin_client.get("/admin/accounts/auditevent/")
    detail = admin_client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    add = admin_client.get("/admin/accounts/auditevent/add/")
    delete = admin_client.post(f"/admin/accounts/auditevent/{event.pk}/delete/")

    assert listing.status_code == 200
    assert ADDRESS in listing.text
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.text
    assert add.status_code == 403
    assert delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
