"""A real browser for the portal and the admin: Playwright driving Debian's
Chromium (scripts/browser-install.sh), never a browser Playwright downloads.

The site runs on pytest-django's ``live_server`` in this process, so every
test that uses it needs ``@pytest.mark.django_db(transaction=True)``: the
server thread reads the rows over its own connection.

Screenshots go to pytest's temporary directory, or to
``MAILPANEL_SCREENSHOT_DIR`` when set (``docs/screenshots`` refreshes the
README's pictures).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable

CHROMIUM = os.environ.get("MAILPANEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1024, "height": 720}
WIDE = {"width": 1440, "height": 900}  # the admin's change lists need room
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One Chromium per test module; a fresh context (cookies) per test."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} missing (scripts/browser-install.sh)")
    # Set before the import: nothing may ever fetch a browser build.
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing (requirements-dev.txt)")
    # Playwright's sync API keeps an asyncio loop running in this thread, which
    # Django's ORM takes for async code; the tests' own queries are plain sync
    # code between browser calls. Only while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def expect(chromium):
    """Playwright's ``expect`` (imported here, so that collection works without
    the package and the ``chromium`` fixture reports it instead)."""
    from playwright.sync_api import expect

    return expect


def _new_page(chromium, live_server, **options):
    context = chromium.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(10_000)
    return context, context.new_page()


@pytest.fixture
def page(chromium, live_server):
    context, page = _new_page(chromium, live_server, viewport=DESKTOP)
    yield page
    context.close()


@pytest.fixture
def wide_page(chromium, live_server):
    context, page = _new_page(chromium, live_server, viewport=WIDE)
    yield page
    context.close()


@pytest.fixture
def phone(chromium, live_server):
    context, page = _new_page(
        chromium,
        live_server,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("MAILPANEL_SCREENSHOT_DIR")
    if not configured:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(configured)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shoot(screenshot_dir) -> Callable[..., Path]:
    """Save a screenshot as NAME.png (the whole page unless ``full_page`` is
    false); the file must be a real PNG."""

    def save(page, name: str, *, full_page: bool = True) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return path

    return save


@pytest.fixture
def vmail_root(settings, tmp_path) -> Path:
    """Where the out-of-office page writes the Sieve script in these tests."""
    root = tmp_path / "vmail"
    root.mkdir()
    settings.MAILPANEL_VMAIL_ROOT = str(root)
    settings.MAILPANEL_VMAIL_UID = os.getuid()
    settings.MAILPANEL_VMAIL_GID = os.getgid()
    return root
