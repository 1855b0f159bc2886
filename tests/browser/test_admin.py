"""The administrators' side in a real browser: the health panel on the admin
index and the mailbox list."""

import pytest
from django.contrib.auth import get_user_model

from domains.models import Domain, Mailbox
from tests.domains.utils import PASSWORD, saved

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN_PASSWORD = "Admin-Lantern-Orbit-42"


@pytest.fixture
def mailboxes() -> list[Mailbox]:
    domain = saved(Domain(name="example.org"))
    boxes = []
    for local_part, name in [("alice", "Alice Liddell"), ("bob", "Bob Builder")]:
        mailbox = Mailbox(domain=domain, local_part=local_part, name=name)
        mailbox.set_password(PASSWORD)
        boxes.append(saved(mailbox))
    return boxes


@pytest.fixture
def admin_page(wide_page, expect):
    page = wide_page
    get_user_model().objects.create_superuser(
        "admin", "admin@example.org", ADMIN_PASSWORD
    )
    page.goto("/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    return page


def test_it_shows_the_health_panel_on_the_admin_index(expect, admin_page, shoot):
    panel = admin_page.locator("#mailhealth")

    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading")).to_contain_text("Mail health")
    shoot(admin_page, "admin-health", full_page=False)


def test_it_lists_the_mailboxes(expect, admin_page, mailboxes, shoot):
    admin_page.goto("/admin/domains/mailbox/")

    for mailbox in mailboxes:
        expect(admin_page.get_by_role("link", name=mailbox.address)).to_be_visible()
    # The list has many columns: fold the app sidebar away, as a person would.
    admin_page.locator("#toggle-nav-sidebar").click()
    admin_page.evaluate("window.scrollTo(0, 0)")
    shoot(admin_page, "admin-mailboxes", full_page=False)


def test_it_filters_the_mailboxes_by_a_typed_domain(expect, admin_page, mailboxes):
    other = saved(Domain(name="other.net"))
    carol = Mailbox(domain=other, local_part="carol")
    carol.set_password(PASSWORD)
    saved(carol)
    admin_page.goto("/admin/domains/mailbox/?active__exact=1")

    admin_page.get_by_label("Domain name").fill("Other.NET")
    admin_page.get_by_role("button", name="Filter").click()

    expect(admin_page.get_by_role("link", name="carol@other.net")).to_be_visible()
    expect(admin_page.get_by_role("link", name="alice@example.org")).to_have_count(0)
    # The list's other filter stays on.
    assert "active__exact=1" in admin_page.url
