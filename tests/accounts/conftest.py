"""Fixtures for the portal tests: a mailbox, its owner's browser, a vmail root."""

import os
import re
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from domains.models import Domain, Mailbox
from tests.domains.utils import PASSWORD, saved

ADDRESS = "alice@example.org"


@pytest.fixture(autouse=True)
def _empty_cache():
    """The reset-mail throttle lives in the cache; tests must not share it."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def domain(db) -> Domain:
    return saved(Domain(name="example.org"))


@pytest.fixture
def make_mailbox(db):
    def make(domain: Domain, local_part: str, **fields) -> Mailbox:
        mailbox = Mailbox(domain=domain, local_part=local_part, **fields)
        mailbox.set_password(PASSWORD)
        return saved(mailbox)

    return make


@pytest.fixture
def mailbox(domain, make_mailbox) -> Mailbox:
    return make_mailbox(domain, "alice", name="Alice Liddell")


@pytest.fixture
def other_mailbox(domain, make_mailbox) -> Mailbox:
    return make_mailbox(domain, "bob")


def csrf_token(client: Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {url}"
    return match[1]


def post_form(client: Client, url: str, data: dict):
    """POST like a browser: fetch the page, send its CSRF token back."""
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token(client, url)})


def log_in(client: Client, address: str = ADDRESS, password: str = PASSWORD):
    return post_form(
        client, "/account/login/", {"username": address, "password": password}
    )


@pytest.fixture
def browser(db) -> Client:
    """A client that must send CSRF tokens, as a browser does."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def owner(browser, mailbox) -> Client:
    """The mailbox owner's browser, logged in to the portal."""
    response = log_in(browser)
    assert response.status_code == 302, response
    return browser


@pytest.fixture
def vmail_root(settings, tmp_path) -> Path:
    """A vmail tree of the test's own; uid/gid 5000 only where chown works."""
    root = tmp_path / "vmail"
    root.mkdir()
    settings.MAILPANEL_VMAIL_ROOT = str(root)
    if os.geteuid() != 0:
        settings.MAILPANEL_VMAIL_UID = os.getuid()
        settings.MAILPANEL_VMAIL_GID = os.getgid()
    return root


@pytest.fixture
def flushed(monkeypatch) -> list[str]:
    """Usernames passed to the Dovecot auth cache flush in this process.

    The portal leaves the flush to the mail hosts' workers, so it stays empty.
    """
    calls: list[str] = []

    def flush(username: str, *args, **kwargs) -> bool:
        calls.append(username)
        return True

    # Where it is used (the task imported it by name) and where it is defined,
    # for any caller that goes through the module.
    monkeypatch.setattr("mailserver.tasks.dovecot_flush_auth_cache", flush)
    monkeypatch.setattr("mailserver.services.dovecot_flush_auth_cache", flush)
    return calls
